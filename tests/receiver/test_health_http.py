"""Health through the real admin HTTP server, with an injected clock."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from prometheus_client.parser import text_string_to_metric_families

from .conftest import make_metrics, make_spans


def get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status, body, content_type = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        status, body, content_type = error.code, error.read(), error.headers["Content-Type"]
    text = body.decode("utf-8")
    return status, (json.loads(text) if content_type == "application/json" else text)


def send_spans(app, service: str) -> None:
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{app.otlp_port}", insecure=True)
    try:
        exporter.export(make_spans(service=service, count=1))
    finally:
        exporter.shutdown()


def health_gauge(app, service: str) -> float | None:
    return app.registry.get_sample_value(
        "queue_health_status", {"service": service, "queue": "", "check": "telemetry_freshness"}
    )


def test_no_services_is_healthy(receiver):
    status, document = get(f"{receiver.admin_url}/health")
    assert status == 200
    assert document["status"] == "healthy"
    assert document["services"] == {}
    assert set(document["summary"]) == {
        "total_checks", "healthy_checks", "degraded_checks", "unhealthy_checks", "total_duration"
    }


def test_freshness_goes_stale_then_unhealthy_then_recovers(receiver, clock):
    send_spans(receiver, "orders-service")
    status, document = get(f"{receiver.admin_url}/health")
    assert status == 200 and document["status"] == "healthy"
    service = document["services"]["orders-service"]
    check = service["checks"]["telemetry_freshness"]
    assert check["status"] == "healthy" and check["message"] == "fresh"
    assert set(check) == {"status", "duration", "message", "details"}
    assert health_gauge(receiver, "orders-service") == 0

    clock.advance(61)
    status, document = get(f"{receiver.admin_url}/health/orders-service")
    assert status == 200
    assert document["status"] == "degraded"
    assert document["checks"]["telemetry_freshness"]["message"] == "stale"
    assert health_gauge(receiver, "orders-service") == 1

    clock.advance(240)
    status, document = get(f"{receiver.admin_url}/health")
    assert status == 503
    assert document["status"] == "unhealthy"
    assert document["summary"]["unhealthy_checks"] == 1
    assert "orders-service: stale" in document["checks"]["telemetry_freshness"]["message"]
    assert health_gauge(receiver, "orders-service") == 2

    metrics = OTLPMetricExporter(endpoint=f"127.0.0.1:{receiver.otlp_port}", insecure=True)
    metrics.export(make_metrics(service="orders-service"))
    metrics.shutdown()
    clock.advance(1.5)  # past the 1 s cache
    status, document = get(f"{receiver.admin_url}/health/orders-service")
    assert status == 200 and document["status"] == "healthy"
    assert "last_metrics" in document["checks"]["telemetry_freshness"]["details"]


def test_unknown_service_and_unknown_path_are_404_json(receiver):
    status, document = get(f"{receiver.admin_url}/health/nobody")
    assert status == 404 and document["error"] == "unknown service" and document["service"] == "nobody"
    status, document = get(f"{receiver.admin_url}/nothing-here")
    assert status == 404 and document["error"] == "not found"


def test_livez_readyz_and_metrics_exposition(receiver):
    assert get(f"{receiver.admin_url}/livez")[0] == 200
    status, document = get(f"{receiver.admin_url}/readyz")
    assert status == 200 and document["status"] == "ready"
    send_spans(receiver, "billing")
    status, text = get(f"{receiver.admin_url}/metrics")
    assert status == 200
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"queue_health_status", "queue_collector_received_requests",
            "queue_collector_exporter_queue_size"} <= names


def test_readyz_is_503_while_stopping(tmp_path, clock):
    from queue_collector.app import ReceiverApp, ReceiverState

    from .conftest import receiver_config

    app = ReceiverApp(receiver_config(tmp_path), clock=clock)
    assert app.admin_server.respond("/readyz", None)[0] == 503  # not started
    app.start()
    try:
        assert get(f"{app.admin_url}/readyz")[0] == 200
        app._set_state(ReceiverState.STOPPING)  # the first step of stop()
        status, document = get(f"{app.admin_url}/readyz")
        assert status == 503 and document["reason"] == "stopping"
        assert get(f"{app.admin_url}/livez")[0] == 200
    finally:
        app._set_state(ReceiverState.READY)
        app.stop(5.0)
