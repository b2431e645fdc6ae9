"""pytest plugin (entry point ``pytest11``: ``queue_telemetry``): telemetry capture fixtures.

Fixtures:

``queue_telemetry_capture``
    a :class:`queue_telemetry.testing.TelemetryCapture` (spans, metrics, library logs in
    memory), shut down after the test.
``queue_telemetry_sqs``
    :class:`~queue_telemetry.sqs.SqsInstrumentor` instrumented into the capture for the test
    (yields the capture); boto3 clients must be created inside the test.
``queue_telemetry_servicebus``
    the same for :class:`~queue_telemetry.servicebus.ServiceBusInstrumentor`.
``fake_health_check``
    the :class:`~queue_telemetry.testing.FakeHealthCheck` class, to build fake checks.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from queue_telemetry.testing import FakeHealthCheck, TelemetryCapture


@pytest.fixture
def queue_telemetry_capture() -> Iterator[TelemetryCapture]:
    capture = TelemetryCapture()
    capture.capture_logs()
    try:
        yield capture
    finally:
        capture.close()


def _instrumented(capture: TelemetryCapture, instrumentor: Any) -> Iterator[TelemetryCapture]:
    """Applies ``instrumentor`` to the capture's providers for one test, then removes it."""
    instrumentor.instrument(**capture.providers())
    try:
        yield capture
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def queue_telemetry_sqs(queue_telemetry_capture: TelemetryCapture) -> Iterator[TelemetryCapture]:
    from queue_telemetry.sqs import SqsInstrumentor

    yield from _instrumented(queue_telemetry_capture, SqsInstrumentor())


@pytest.fixture
def queue_telemetry_servicebus(queue_telemetry_capture: TelemetryCapture) -> Iterator[TelemetryCapture]:
    from queue_telemetry.servicebus import ServiceBusInstrumentor

    yield from _instrumented(queue_telemetry_capture, ServiceBusInstrumentor())


@pytest.fixture
def fake_health_check() -> Any:
    return FakeHealthCheck
