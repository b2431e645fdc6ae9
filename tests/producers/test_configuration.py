"""configure()/shutdown() in fresh interpreters, exporting OTLP/gRPC to a local sink."""

from __future__ import annotations

import json

from .conftest import clean_environment, run_python

WORKLOAD = """
    import json, logging
    import queue_telemetry as qt

    first = qt.configure({service_name})
    second = qt.configure("ignored")
    assert first is second, "configure() twice must return the same handle"
    client = qt.InstrumentedQueueClient(qt.InMemoryBroker().client())
    client.send("orders", qt.OutgoingMessage(b"1"))
    [message] = client.receive("orders")
    with client.process(message):
        client.acknowledge(message)
    stats = qt.shutdown()
    print(json.dumps({{
        "resource": dict(first.resource.attributes),
        "spans": [stats.spans.submitted, stats.spans.exported, stats.spans.failed],
        "logs": [stats.logs.submitted, stats.logs.exported],
        "metric_exports": [stats.metric_exports.submitted, stats.metric_exports.exported],
        "complete": stats.complete,
        "queue_size": stats.span_queue_size,
    }}))
"""


def test_configure_exports_all_three_signals(sink) -> None:
    result = run_python(
        WORKLOAD.format(service_name=""),
        env=clean_environment(
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
            OTEL_SERVICE_NAME="checkout",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
        ),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["complete"], report
    assert report["queue_size"] == 65536
    assert report["spans"] == [4, 4, 0]
    assert report["logs"][0] == report["logs"][1] >= 3
    instance_id = report["resource"]["service.instance.id"]
    assert len(instance_id) == 36

    assert sink.span_count == 4
    assert {span["name"] for span in sink.spans} == {"send orders", "receive orders", "process orders", "ack orders"}
    assert "messaging.client.sent.messages" in sink.metric_names()
    assert sink.latest_sums()[(
        "messaging.client.sent.messages",
        frozenset({
            "messaging.system": "in_memory", "messaging.operation.name": "send",
            "messaging.destination.name": "orders",
        }.items()),
    )] == 1
    assert len(sink.log_records) >= 3
    span_ids = {span["span_id"] for span in sink.spans}
    assert all(record["span_id"] in span_ids for record in sink.log_records)
    for resource in sink.resources:
        assert resource["service.name"] == "checkout"
        assert resource["service.instance.id"] == instance_id
        assert resource["deployment.environment.name"] == "test"


def test_explicit_arguments_beat_the_environment(sink) -> None:
    result = run_python(
        WORKLOAD.format(service_name='"explicit-name"'),
        env=clean_environment(
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
            OTEL_SERVICE_NAME="from-env",
            OTEL_RESOURCE_ATTRIBUTES="service.instance.id=pod-7",
            OTEL_BSP_MAX_QUEUE_SIZE="4096",
        ),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["resource"]["service.name"] == "explicit-name"
    assert report["resource"]["service.instance.id"] == "pod-7"
    assert report["queue_size"] == 4096  # the variable beats our default


def test_default_service_name_applies_only_when_nothing_names_the_service(sink) -> None:
    code = """
        import queue_telemetry as qt
        print(qt.configure(default_service_name="fallback").resource.attributes["service.name"])
        qt.shutdown()
    """
    env = clean_environment(OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint)
    assert run_python(code, env=env).stdout.strip() == "fallback"
    env["OTEL_SERVICE_NAME"] = "named"
    assert run_python(code, env=env).stdout.strip() == "named"


def test_sdk_disabled_sets_nothing_up(sink) -> None:
    code = """
        import queue_telemetry as qt
        from opentelemetry import trace
        handle = qt.configure()
        client = qt.InstrumentedQueueClient(qt.InMemoryBroker().client())
        client.send("q", qt.OutgoingMessage(b"1"))
        print(handle.enabled, type(trace.get_tracer_provider()).__name__, qt.shutdown().complete)
    """
    result = run_python(
        code, env=clean_environment(OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint, OTEL_SDK_DISABLED="true")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "ProxyTracerProvider", "True"]
    assert sink.span_count == 0


def test_invalid_boolean_warns_and_uses_the_default(sink) -> None:
    code = """
        import logging
        logging.basicConfig(level=logging.WARNING)
        import queue_telemetry as qt
        handle = qt.configure(span_exporter=None)
        print(handle.logger_provider is not None)
        qt.shutdown()
    """
    result = run_python(
        code, env=clean_environment(OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint, OTEL_PYTHON_QUEUE_LOGS_ENABLED="yes")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert "OTEL_PYTHON_QUEUE_LOGS_ENABLED" in result.stderr and "'yes'" in result.stderr


def test_export_failures_are_counted_and_reported() -> None:
    code = """
        import json
        import queue_telemetry as qt
        qt.configure("nowhere")
        client = qt.InstrumentedQueueClient(qt.InMemoryBroker().client())
        for _ in range(10):
            client.send("q", qt.OutgoingMessage(b"1"))
        stats = qt.shutdown()
        print(json.dumps([stats.spans.submitted, stats.spans.exported, stats.spans.failed, stats.complete]))
    """
    result = run_python(
        code,
        env=clean_environment(
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",  # discard port: nothing listens
            OTEL_EXPORTER_OTLP_TIMEOUT="1",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [10, 0, 10, False]
    assert "Telemetry was not fully delivered: spans 10 of 10 undelivered" in result.stderr
