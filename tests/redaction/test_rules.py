"""Rule semantics on hand-built requests: what is replaced, what is kept, what is counted."""

from __future__ import annotations

from dataclasses import replace

import pytest

from queue_collector.redaction import RedactionConfig, RedactionStage, default_config
from queue_collector.redaction.detectors import card_number_valid, luhn_valid

from .redaction_testkit import (
    attributes_dict,
    audit_counts,
    first_record,
    first_span,
    log_request,
    python_value,
    trace_request,
)

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z.]+"


def walked(stage: RedactionStage, request):
    """Runs a request the way the pipeline does: screen first, then process."""
    assert stage.screen(request.SerializeToString())
    method = {
        "ExportTraceServiceRequest": stage.process_traces,
        "ExportLogsServiceRequest": stage.process_logs,
        "ExportMetricsServiceRequest": stage.process_metrics,
    }[type(request).__name__]
    assert method(request) is None
    return request


def test_array_element_and_nested_map_value_only_matching_parts_change() -> None:
    stage = RedactionStage(RedactionConfig(blocked_values=(EMAIL,)))
    request = trace_request(
        {
            "payment.cards": ["visa", "4111 1111 1111 1111", "order-77"],
            "customer": {"name": "Ann", "contact": {"email": "ann@example.com", "tier": 2}},
        }
    )
    walked(stage, request)
    attributes = attributes_dict(first_span(request).attributes)
    assert attributes["payment.cards"] == ["visa", "****", "order-77"]
    assert attributes["customer"] == {"name": "Ann", "contact": {"email": "****", "tier": 2}}
    assert audit_counts(stage) == {
        ("traces", "card_number", "mask"): 1,
        ("traces", "blocked_values[0]", "mask"): 1,
    }


def test_ignored_dotted_path_protects_a_log_body_field() -> None:
    stage = RedactionStage(RedactionConfig(blocked_values=(EMAIL,), ignored_keys=("body.user.id",)))
    request = log_request({"user": {"id": "ann@example.com", "email": "ann@example.com"}})
    walked(stage, request)
    assert python_value(first_record(request).body) == {
        "user": {"id": "ann@example.com", "email": "****"}
    }


def test_ignored_key_is_never_touched_even_by_key_rules() -> None:
    stage = RedactionStage(RedactionConfig(ignored_keys=("db.password",)))
    request = trace_request({"db.password": "hunter2", "app.password": "hunter2"})
    walked(stage, request)
    assert attributes_dict(first_span(request).attributes) == {
        "db.password": "hunter2",
        "app.password": "****",
    }


def test_allowed_value_wins_over_blocked_value() -> None:
    stage = RedactionStage(
        RedactionConfig(
            allowed_values=("(?i)allow_value.*",), blocked_values=("(?i).*@block_value",)
        )
    )
    request = trace_request({"kept": "allow_value@block_value", "masked": "other@block_value"})
    walked(stage, request)
    assert attributes_dict(first_span(request).attributes) == {
        "kept": "allow_value@block_value",
        "masked": "****",
    }


def test_luhn_valid_card_is_masked_and_order_id_failing_luhn_is_kept() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    stage = RedactionStage(default_config())
    request = trace_request({"card": "4111111111111111", "order.id": "4111111111111112"})
    walked(stage, request)
    assert attributes_dict(first_span(request).attributes) == {
        "card": "****",
        "order.id": "4111111111111112",
    }


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),  # Visa
        ("5555555555554444", True),  # Mastercard
        ("2223003122003222", True),  # Mastercard 2-series
        ("378282246310005", True),  # American Express
        ("6011111111111117", True),  # Discover
        ("3530111333300000", True),  # JCB
        ("30569309025904", True),  # Diners
        ("7992739871300000", False),  # passes Luhn, no issuer starts with 7
        ("4111111111111", False),  # Visa prefix, fails Luhn
    ],
)
def test_card_number_issuer_ranges(digits: str, valid: bool) -> None:
    assert card_number_valid(digits) is valid


def test_key_pattern_masks_every_leaf_below_the_key_and_keeps_the_shape() -> None:
    stage = RedactionStage(RedactionConfig(blocked_key_patterns=("^credentials$",)))
    request = trace_request({"credentials": {"user": "ann", "pins": [1234, 5678], "ok": True}})
    walked(stage, request)
    assert attributes_dict(first_span(request).attributes) == {
        "credentials": {"user": "****", "pins": ["****", "****"], "ok": "****"}
    }
    assert audit_counts(stage) == {("traces", "blocked_key_patterns[0]", "mask"): 4}


def test_non_string_values_match_through_their_text_only_when_switched_on() -> None:
    request = trace_request({"card.number": 4111111111111111, "count": 3})
    RedactionStage(default_config()).process_traces(request)
    assert attributes_dict(first_span(request).attributes)["card.number"] == 4111111111111111
    stage = RedactionStage(RedactionConfig(match_non_string_values=True))
    assert stage.screen(b"")  # numbers are invisible to the screen: every request is walked
    stage.process_traces(request)
    assert attributes_dict(first_span(request).attributes) == {"card.number": "****", "count": 3}


def test_span_event_and_link_attributes_and_names() -> None:
    stage = RedactionStage(RedactionConfig(blocked_values=(EMAIL,)))
    request = trace_request(
        {},
        name="mail ann@example.com",
        events={"sent to bob@example.com": {"to": "bob@example.com"}},
        links=[{"from": "carol@example.com"}],
    )
    walked(stage, request)
    span = first_span(request)
    assert span.name == "mail ****"
    assert span.events[0].name == "sent to ****"
    assert attributes_dict(span.events[0].attributes) == {"to": "****"}
    assert attributes_dict(span.links[0].attributes) == {"from": "****"}


def test_allow_list_keeps_listed_keys_and_empty_list_drops_everything() -> None:
    keep = RedactionStage(RedactionConfig(allow_all_keys=False, allowed_keys=("messaging.system",)))
    request = trace_request({"messaging.system": "servicebus", "user": "ann"}, resource={"host": "a"})
    assert keep.screen(b"anything")  # allow-list mode must walk every request
    keep.process_traces(request)
    assert attributes_dict(first_span(request).attributes) == {"messaging.system": "servicebus"}
    assert attributes_dict(request.resource_spans[0].resource.attributes) == {}

    closed = RedactionStage(RedactionConfig(allow_all_keys=False))
    request = trace_request({"messaging.system": "servicebus", "user": "ann"})
    closed.process_traces(request)
    assert attributes_dict(first_span(request).attributes) == {}
    assert audit_counts(closed) == {("traces", "allowed_keys", "drop"): 3}


def test_summary_attribute_on_spans_and_logs_only_when_switched_on() -> None:
    request = trace_request({"card": "4111111111111111"})
    RedactionStage(default_config()).process_traces(request)
    assert "redaction.masked.count" not in attributes_dict(first_span(request).attributes)

    stage = RedactionStage(RedactionConfig(summary_attribute=True))
    request = trace_request({"card": "4111111111111111", "db.password": "x"})
    stage.process_traces(request)
    assert attributes_dict(first_span(request).attributes)["redaction.masked.count"] == 2
    logs = log_request("token Bearer abcdef", {"redaction.masked.count": 1})
    stage.process_logs(logs)
    assert attributes_dict(first_record(logs).attributes)["redaction.masked.count"] == 2


def test_overlapping_matches_are_replaced_once() -> None:
    stage = RedactionStage(RedactionConfig(blocked_values=("Bearer [a-z]+",)))
    request = trace_request({"auth": "x Bearer abcdef y"})
    walked(stage, request)
    assert attributes_dict(first_span(request).attributes) == {"auth": "x **** y"}
    assert audit_counts(stage) == {("traces", "blocked_values[0]", "mask"): 1}


def test_odd_values_do_not_break_the_walk() -> None:
    stage = RedactionStage(RedactionConfig(blocked_values=(EMAIL,)))
    huge = "lorem ipsum " * 100_000 + "ann@example.com"
    request = trace_request({"empty": "", "huge": huge, "bytes": b"\x00\xff", "none": None})
    walked(stage, request)
    attributes = attributes_dict(first_span(request).attributes)
    assert attributes["empty"] == "" and attributes["huge"].endswith(" ****")
    assert attributes["bytes"] == b"\x00\xff"


def _nested(depth: int, leaf):
    value = leaf
    for _ in range(depth):
        value = {"level": value}
    return value


def test_values_below_max_depth_are_replaced_only_if_they_could_hold_a_match() -> None:
    stage = RedactionStage(replace(default_config(), max_depth=4))
    request = trace_request({"deep": _nested(10, "4111111111111111"), "clean": _nested(10, "ok")})
    walked(stage, request)
    attributes = attributes_dict(first_span(request).attributes)
    # The attribute value is depth 1; the value at depth 5 is replaced whole.
    assert attributes["deep"] == _nested(4, "****")
    assert attributes["clean"] == _nested(10, "ok")
    assert audit_counts(stage) == {("traces", "max_depth", "mask"): 1}


def test_disabled_stage_does_nothing() -> None:
    stage = RedactionStage(RedactionConfig(enabled=False))
    request = trace_request({"card": "4111111111111111"})
    assert not stage.screen(request.SerializeToString())
    stage.process_traces(request)
    assert attributes_dict(first_span(request).attributes) == {"card": "4111111111111111"}
