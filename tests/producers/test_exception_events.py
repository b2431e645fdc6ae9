"""Failed operations emit the messaging conventions' ``messaging.*.exception`` events."""

import pytest
from opentelemetry._logs import SeverityNumber

from queue_telemetry import InMemoryBroker, InstrumentedQueueClient, OutgoingMessage
from queue_telemetry.queue_client import QueueNotFoundError
from queue_telemetry.testing import TelemetryCapture


def exception_events(capture: TelemetryCapture) -> list:
    return [
        data.log_record
        for data in capture.log_exporter.get_finished_logs()
        if (data.log_record.event_name or "").endswith(".exception")
    ]


def test_a_failing_handler_emits_a_process_exception_event_inside_the_process_span():
    with TelemetryCapture() as capture:
        client = InstrumentedQueueClient(InMemoryBroker().client(), **capture.providers())
        client.send("orders", OutgoingMessage(b"x"))
        [message] = client.receive("orders")
        with pytest.raises(ZeroDivisionError):
            with client.process(message):
                1 / 0
        capture.logger_provider.force_flush()
        [event] = exception_events(capture)
        assert event.event_name == "messaging.process.exception"
        assert event.severity_number is SeverityNumber.ERROR
        assert event.attributes["exception.type"] == "ZeroDivisionError"
        assert event.attributes["exception.message"] == "division by zero"
        assert "1 / 0" in event.attributes["exception.stacktrace"]
        [process] = [span for span in capture.span_exporter.get_finished_spans()
                     if span.name == "process orders"]
        assert event.trace_id == process.context.trace_id
        assert event.span_id == process.context.span_id


def test_a_failing_send_emits_a_send_exception_event_at_warn():
    broker = InMemoryBroker(auto_create_queues=False)
    with TelemetryCapture() as capture:
        client = InstrumentedQueueClient(broker.client(), **capture.providers())
        with pytest.raises(QueueNotFoundError):
            client.send("missing", OutgoingMessage(b"x"))
        capture.logger_provider.force_flush()
        [event] = exception_events(capture)
        assert event.event_name == "messaging.send.exception"
        assert event.severity_number is SeverityNumber.WARN
        assert event.attributes["exception.type"].endswith("QueueNotFoundError")


def test_successful_operations_emit_no_exception_event():
    with TelemetryCapture() as capture:
        client = InstrumentedQueueClient(InMemoryBroker().client(), **capture.providers())
        client.send("orders", OutgoingMessage(b"x"))
        [message] = client.receive("orders")
        with client.process(message):
            pass
        client.acknowledge(message)
        capture.logger_provider.force_flush()
        assert exception_events(capture) == []
