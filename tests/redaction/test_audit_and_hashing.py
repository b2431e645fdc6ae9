"""Audit counters (on the collector, never on points) and keyed hashing (key never logged)."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from queue_collector.redaction import HashConfig, RedactionConfig, RedactionConfigError, RedactionStage

from .redaction_testkit import (
    attributes_dict,
    audit_counts,
    first_record,
    first_span,
    gauge_request,
    log_request,
    trace_request,
)

KEY = "test-hmac-key-not-a-real-secret-42"


def test_audit_counts_are_collector_metrics() -> None:
    stage = RedactionStage(RedactionConfig())
    registry = CollectorRegistry()
    registry.register(stage.prometheus_collector())
    request = trace_request({"card": "4111111111111111", "auth": "Bearer abcdef"})
    assert stage.screen(request.SerializeToString())
    stage.process_traces(request)
    assert not stage.screen(trace_request({"ok": "fine"}).SerializeToString())

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    assert value("queue_collector_redaction_values_total", signal="traces", rule="card_number", action="mask") == 1
    assert value("queue_collector_redaction_values_total", signal="traces", rule="bearer_token", action="mask") == 1
    assert value("queue_collector_redaction_requests_walked_total", signal="traces") == 1
    assert value("queue_collector_redaction_requests_skipped_total") == 1
    text = generate_latest(registry).decode()
    assert "# TYPE queue_collector_redaction_values_total counter" in text


def test_metric_point_and_exemplar_are_masked_without_extra_attributes() -> None:
    stage = RedactionStage(RedactionConfig(summary_attribute=True))
    request = gauge_request(
        {"messaging.destination.name": "orders", "db.password": "hunter2"},
        {"trace.note": "Bearer abcdef"},
    )
    assert stage.screen(request.SerializeToString())
    stage.process_metrics(request)
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]
    assert attributes_dict(point.attributes) == {"messaging.destination.name": "orders", "db.password": "****"}
    assert attributes_dict(point.exemplars[0].filtered_attributes) == {"trace.note": "Bearer ****"}
    assert audit_counts(stage) == {
        ("metrics", "sensitive_key_names", "mask"): 1,
        ("metrics", "bearer_token", "mask"): 1,
    }


def _expected_hash(secret: str, length: int = 16) -> str:
    return "hmac:" + hmac.new(KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()[:length]


def test_hmac_key_from_environment_variable(caplog) -> None:
    config = RedactionConfig(action="hash", hash=HashConfig(key_env="QC_TEST_HMAC"))
    with caplog.at_level(logging.DEBUG):
        stage = RedactionStage(config, environ={"QC_TEST_HMAC": KEY})
        request = trace_request({"card": "4111111111111111", "other": "4111111111111111"})
        stage.process_traces(request)
    attributes = attributes_dict(first_span(request).attributes)
    assert attributes == {"card": _expected_hash("4111111111111111"), "other": _expected_hash("4111111111111111")}
    assert audit_counts(stage) == {("traces", "card_number", "hash"): 2}
    assert KEY not in caplog.text and "redaction stage" in caplog.text
    assert KEY not in repr(stage.__dict__)


def test_hmac_key_from_file(tmp_path, caplog) -> None:
    key_file = tmp_path / "hmac.key"
    key_file.write_text(KEY + "\n")
    config = RedactionConfig(action="hash", hash=HashConfig(key_file=str(key_file), length=8))
    with caplog.at_level(logging.DEBUG):
        stage = RedactionStage(config)
        request = log_request("paid with 4111 1111 1111 1111")
        stage.process_logs(request)
    assert first_record(request).body.string_value == "paid with " + _expected_hash("4111 1111 1111 1111", 8)
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    ("hash_config", "environ", "message"),
    [
        (HashConfig(key_env="MISSING"), {}, "'MISSING' holding the HMAC key is not set"),
        (HashConfig(key_env="SHORT"), {"SHORT": "tiny"}, "is 4 bytes long; at least 16"),
        (HashConfig(key_file="/nonexistent/key"), {}, "cannot read the HMAC key file '/nonexistent/key'"),
    ],
)
def test_bad_hmac_key_sources_are_named_never_the_key(hash_config, environ, message, caplog) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(RedactionConfigError) as error:
        RedactionStage(RedactionConfig(action="hash", hash=hash_config), environ=environ)
    assert message in str(error.value)
    assert "tiny" not in str(error.value) and "tiny" not in caplog.text


def test_concurrent_requests_count_exactly() -> None:
    from concurrent.futures import ThreadPoolExecutor

    stage = RedactionStage(RedactionConfig())

    def one(_: int) -> None:
        request = trace_request({"card": "4111111111111111"})
        if stage.screen(request.SerializeToString()):
            stage.process_traces(request)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(400)))
    assert audit_counts(stage) == {("traces", "card_number", "mask"): 400}
