"""queue_telemetry: OpenTelemetry instrumentation for message-queue workloads.

The public surface:

* :func:`configure`, :func:`shutdown`, :func:`telemetry_stats` -- set up traces, metrics and
  logs from the standard ``OTEL_*`` variables, export OTLP/gRPC, and account for delivery.
* :class:`InstrumentedQueueClient` -- spans, metrics and logs around any :class:`QueueClient`.
* :class:`QueueClient` and its messages and errors -- the contract provider clients implement.
* :class:`InMemoryBroker` / :class:`InMemoryQueueClient` -- a faithful in-memory broker.
* :func:`inject_context` / :func:`extract_context` -- trace context in message properties.
* :mod:`queue_telemetry.catalog` -- every metric's name, unit and attributes.

Provider instrumentation and the other features live in their own modules:

* :mod:`queue_telemetry.sqs` -- ``SqsInstrumentor`` (boto3, zero-code) and ``SqsQueueClient``.
* :mod:`queue_telemetry.servicebus` -- ``ServiceBusInstrumentor`` (azure-servicebus, zero-code)
  and ``ServiceBusQueueClient``.
* :mod:`queue_telemetry.health` -- ``QueueHealthMonitor`` and the built-in checks.
* :mod:`queue_telemetry.logging_setup` -- ``configure_logging``: OTLP, JSON console and files,
  redaction.
* :mod:`queue_telemetry.testing` and the pytest plugin :mod:`queue_telemetry.pytest_plugin`.
"""

# First, before any module imports the SDK: a standard variable the SDK rejects while loading
# (OTEL_PROPAGATORS=b3 without the B3 package ...) must not make this import fail.
from queue_telemetry import _import_guard

_import_guard.import_sdk_modules()

from queue_telemetry.configuration import (  # noqa: E402 - after the guard above
    SignalDelivery,
    Telemetry,
    TelemetryStats,
    configure,
    shutdown,
    telemetry_stats,
)
from queue_telemetry.in_memory import (
    DeadLetteredMessage,
    InMemoryBroker,
    InMemoryQueueClient,
    ManualClock,
    QueueSettings,
)
from queue_telemetry.instrumented_client import InstrumentedQueueClient, ProcessScope
from queue_telemetry.propagation import (
    MessagePropertiesGetter,
    MessagePropertiesSetter,
    extract_context,
    inject_context,
)
from queue_telemetry.queue_client import (
    MessageLockLostError,
    MessageTooLargeError,
    OutgoingMessage,
    QueueClient,
    QueueClosedError,
    QueueError,
    QueueNotFoundError,
    QueueUnavailableError,
    ReceivedMessage,
    RejectOutcome,
    SessionLockedError,
    SessionLockLostError,
    SupportsDepth,
    SupportsSessions,
    ThrottledError,
    UnsupportedOperationError,
    error_type_of,
)

__all__ = [
    # configuration
    "configure",
    "shutdown",
    "telemetry_stats",
    "Telemetry",
    "TelemetryStats",
    "SignalDelivery",
    # instrumentation
    "InstrumentedQueueClient",
    "ProcessScope",
    # propagation
    "inject_context",
    "extract_context",
    "MessagePropertiesGetter",
    "MessagePropertiesSetter",
    # the client contract
    "QueueClient",
    "SupportsDepth",
    "SupportsSessions",
    "OutgoingMessage",
    "ReceivedMessage",
    "RejectOutcome",
    "QueueError",
    "QueueNotFoundError",
    "MessageLockLostError",
    "SessionLockedError",
    "SessionLockLostError",
    "QueueUnavailableError",
    "ThrottledError",
    "MessageTooLargeError",
    "QueueClosedError",
    "UnsupportedOperationError",
    "error_type_of",
    # in-memory broker
    "InMemoryBroker",
    "InMemoryQueueClient",
    "QueueSettings",
    "DeadLetteredMessage",
    "ManualClock",
]
