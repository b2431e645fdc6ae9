"""Forwarding settings that would break every request, or leak a secret, are refused up front."""

from __future__ import annotations

import logging

import grpc
import pytest

from queue_collector.config import resolve_config
from queue_collector.config_loading import ConfigError
from queue_collector.endpoints import parse_forwarding_target
from queue_collector.exporters import OtlpForwarder, SignalExportConfig
from queue_collector.otlp_signals import TRACES
from queue_collector.pipeline import ExporterBackpressure
from tests.support.timing import wait_until

from .test_forwarder import Sink, forwarder_for, request_with



@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("x-a", "line\nbreak", "value must be printable ASCII without line breaks"),
        ("x-a", "carriage\rreturn", "value must be printable ASCII without line breaks"),
        ("x-a", "tab\there", "value must be printable ASCII without line breaks"),
        ("x-a", "caf\u00e9", "value must be printable ASCII without line breaks"),
        ("X-Bin-bin", "abc", "binary (-bin) headers are not supported"),
        ("grpc-timeout", "1S", "is reserved"),
        ("Content-Type", "application/json", "is reserved"),
        (":authority", "elsewhere", "header names may contain only"),
        ("x a", "secret-value", "header names may contain only"),
    ],
)
def test_headers_that_would_break_forwarding_are_config_errors(tmp_path, name, value, problem):
    path = tmp_path / "config.yaml"
    path.write_text(f"exporters:\n  traces:\n    headers: {{{name!r}: {value!r}}}\n".replace("'", '"'))
    with pytest.raises(ConfigError) as caught:
        resolve_config({"exporters.traces.endpoint": "127.0.0.1:4317"}, {}, str(path))
    assert f"exporters.traces.headers.{name}: {problem}" in str(caught.value)
    if value.isprintable():
        assert value not in str(caught.value)  # header values are often secrets
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        OtlpForwarder(TRACES, SignalExportConfig(endpoint="127.0.0.1:4317", headers={name: value}))


def test_header_names_differing_only_in_case_are_refused():
    config = SignalExportConfig(endpoint="127.0.0.1:4317", headers={"X-Team": "a", "x-team": "b"})
    assert ("headers.x-team", "appears twice (header names are not case-sensitive)") in list(
        config.validation_problems()
    )


@pytest.mark.parametrize(
    "endpoint",
    ["http://admin:S3CRET@127.0.0.1:4317", "https://S3CRET@collector:443", "admin:S3CRET@127.0.0.1:4317",
     "http://admin:S3CRET@127.0.0.1:notaport"],
)
def test_credentials_in_the_endpoint_are_refused_without_repeating_them(endpoint):
    with pytest.raises(ValueError) as caught:
        parse_forwarding_target(endpoint)
    assert "S3CRET" not in str(caught.value)
    assert "headers" in str(caught.value)
    problems = list(SignalExportConfig(endpoint=endpoint).validation_problems())
    assert [key for key, _ in problems] == ["endpoint"]
    assert "S3CRET" not in problems[0][1]


def test_backpressure_answers_do_not_name_the_endpoint(sink):
    sink.gate.clear()
    forwarder = forwarder_for(sink, max_queue_requests=1)
    try:
        forwarder.export_traces(request_with("held"))
        wait_until(lambda: sink.arrivals == 1, message="the request held at the sink")
        with pytest.raises(ExporterBackpressure) as caught:
            forwarder.ensure_capacity()
        message = str(caught.value)
        assert "export queue is full" in message
        assert "127.0.0.1" not in message and str(sink.port) not in message
    finally:
        forwarder.shutdown(5)


def test_logs_name_the_endpoint_as_scheme_host_and_port(sink, caplog):
    caplog.set_level(logging.INFO)
    sink.failures = [(grpc.StatusCode.UNAVAILABLE, None)]
    forwarder = forwarder_for(sink)
    try:
        assert forwarder.describe_destination() == f"OTLP gRPC http://127.0.0.1:{sink.port}"
        forwarder.export_traces(request_with("retried"))
        wait_until(lambda: sink.span_names() == ["retried"], message="the retried span")
        assert f"http://127.0.0.1:{sink.port} answered UNAVAILABLE" in caplog.text
    finally:
        forwarder.shutdown(5)
