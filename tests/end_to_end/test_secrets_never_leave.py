"""Secrets sent by an application are masked before the receiver writes or exposes anything."""

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support.processes import Collector, http_get, wait_until

CONNECTION_STRING = (
    "Endpoint=sb://orders.servicebus.windows.net/;SharedAccessKeyName=send;"
    "SharedAccessKey=c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="
)
CARD = "4111 1111 1111 1111"
AMEX = "3782 822463 10005"


def test_secrets_are_masked_in_traces_and_logs(tmp_path):
    collector = Collector(tmp_path)
    resource = Resource.create({"service.name": "leaky-service"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=collector.otlp_endpoint, insecure=True)))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(
        OTLPLogExporter(endpoint=collector.otlp_endpoint, insecure=True)))
    try:
        with tracer_provider.get_tracer("test").start_as_current_span(
            "send orders",
            attributes={"servicebus.connection": CONNECTION_STRING,
                        "payment.cards": ["order-1234567890", CARD],
                        "payment.amex": f"paid with {AMEX} today",
                        "messaging.destination.name": "orders"},
        ):
            pass
        logger_provider.get_logger("test").emit(body={"card": CARD, "note": "fine"})
        tracer_provider.shutdown()
        logger_provider.shutdown()

        def written():
            traces = collector.traces_file.read_text() if collector.traces_file.exists() else ""
            logs = collector.logs_file.read_text() if collector.logs_file.exists() else ""
            return (traces, logs) if "send orders" in traces and "fine" in logs else None

        traces, logs = wait_until(written, 15, "the span and the log record on disk")
        for text in (traces, logs):
            assert "SharedAccessKey=c2Vj" not in text
            assert CARD not in text and AMEX not in text
        assert "order-1234567890" in traces, "values that only look like numbers are kept"
        metrics = http_get(collector.url("/metrics"))[1]
        assert "queue_collector_redaction_values_total" in metrics
    finally:
        assert collector.stop() == 0
