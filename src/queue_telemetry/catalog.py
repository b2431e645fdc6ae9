"""The metric catalog: the single source of truth for every queue metric.

Two lists live here:

* :data:`INSTRUMENTS` -- what the producers (``queue_telemetry``) record through the
  OpenTelemetry metrics API. The four ``messaging.*`` instruments follow the OpenTelemetry
  messaging semantic conventions; everything the conventions lack uses the ``queue.`` namespace.
* :data:`UNIFIED_METRICS` -- what the receiver (``queue-collector``) exposes on ``/metrics``:
  the Prometheus names of the original queue-runtime specification, every series labelled at
  least ``service``, ``provider`` and ``queue``. Each entry names the producer instrument it is
  computed from (and the attribute filter that selects the right points), so the receiver's
  mapping, the dashboards, the alert rules and the documentation are all derived from, or
  checked against, this module.

Nothing here has side effects; the module only declares data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping

__all__ = [
    "Attr",
    "InstrumentKind",
    "Instrument",
    "UnifiedKind",
    "GaugeAggregation",
    "SourceFilter",
    "UnifiedMetric",
    "INSTRUMENTS",
    "UNIFIED_METRICS",
    "BASE_LABELS",
    "LABEL_SOURCES",
    "instrument",
    "unified_metric",
]


class Attr:
    """Attribute keys used on producer metrics (semantic-convention names where they exist)."""

    MESSAGING_SYSTEM = "messaging.system"
    OPERATION_NAME = "messaging.operation.name"
    OPERATION_TYPE = "messaging.operation.type"
    DESTINATION_NAME = "messaging.destination.name"
    SUBSCRIPTION_NAME = "messaging.destination.subscription.name"
    ERROR_TYPE = "error.type"
    SERVER_ADDRESS = "server.address"
    SERVER_PORT = "server.port"
    #: Which operation failed, on ``queue.errors``: ``send``, ``receive``, ``process`` or ``settle``.
    ERROR_OPERATION = "queue.error.operation"
    #: Why a message was dead-lettered; a bounded set (see ``DEAD_LETTER_REASONS``).
    DEAD_LETTER_REASON = "queue.dead_letter.reason"
    #: Name of a producer-reported health check, on ``queue.health.status``.
    HEALTH_CHECK = "queue.health.check"
    #: Resource attribute that names the service.
    SERVICE_NAME = "service.name"


#: The bounded values of ``queue.dead_letter.reason``; anything else is recorded as ``_OTHER``.
DEAD_LETTER_REASONS = (
    "max_delivery_count_exceeded",
    "processing_failed",
    "rejected_by_application",
    "ttl_expired",
    "_OTHER",
)

#: The values of ``queue.error.operation``.
ERROR_OPERATIONS = ("send", "receive", "process", "settle")


class InstrumentKind(str, enum.Enum):
    """OpenTelemetry instrument kinds the producers use."""

    COUNTER = "counter"
    UP_DOWN_COUNTER = "up_down_counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"


@dataclass(frozen=True)
class Instrument:
    """One OpenTelemetry instrument recorded by the producers."""

    name: str
    kind: InstrumentKind
    unit: str
    description: str
    #: Attributes recorded on every point (beyond these, optional ones may appear).
    attributes: tuple[str, ...]
    #: Attributes that are present only on some points (for example ``error.type`` on failures).
    optional_attributes: tuple[str, ...] = ()
    #: Explicit histogram bucket boundaries (histograms only), in ``unit``.
    buckets: tuple[float, ...] | None = None
    #: The ``messaging.system`` value this instrument is specific to, or None for all providers.
    provider: str | None = None


class UnifiedKind(str, enum.Enum):
    """Prometheus metric types the receiver exposes."""

    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"


class GaugeAggregation(str, enum.Enum):
    """How a unified gauge combines the streams of several producer instances.

    ``SUM`` suits per-process quantities (in-flight messages, active sessions): each process
    reports its own share. ``LAST`` suits properties of the queue itself (depth), which every
    instance observes: the most recent report wins.
    """

    SUM = "sum"
    LAST = "last"


@dataclass(frozen=True)
class SourceFilter:
    """Selects the producer points that feed a unified metric.

    ``equals`` maps attribute keys to the value they must have; ``absent`` lists keys that must
    not be present on the point.
    """

    equals: Mapping[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()

    def matches(self, attributes: Mapping[str, object]) -> bool:
        """True when a point with these attributes is selected."""
        for key in self.absent:
            if key in attributes:
                return False
        for key, value in self.equals.items():
            if attributes.get(key) != value:
                return False
        return True


@dataclass(frozen=True)
class UnifiedMetric:
    """One Prometheus metric exposed by the receiver, and where it comes from."""

    #: Full Prometheus name, including ``_total`` / ``_seconds`` suffixes.
    name: str
    kind: UnifiedKind
    #: UCUM unit of the exposed values (``s`` for seconds, ``{message}`` for counts, ``1`` for states).
    unit: str
    description: str
    #: Prometheus label names, always starting with ``service``, ``provider``, ``queue`` (except health).
    labels: tuple[str, ...]
    #: Name of the producer instrument this metric is computed from, or None when the receiver
    #: computes it itself (``queue_health_status``).
    source: str | None
    #: Which points of ``source`` count towards this metric.
    source_filter: SourceFilter = field(default_factory=SourceFilter)
    #: Histogram bucket upper bounds in seconds (histograms only; +Inf is implied).
    buckets: tuple[float, ...] | None = None
    #: How streams from several producer instances combine (gauges only).
    gauge_aggregation: GaugeAggregation | None = None
    #: The ``messaging.system`` value this metric is specific to, or None for all providers.
    provider: str | None = None


#: The labels every queue series carries, in this order.
BASE_LABELS = ("service", "provider", "queue")

#: Where each Prometheus label's value comes from: a point attribute, or (``service``) the
#: resource attribute ``service.name``.
LABEL_SOURCES: Mapping[str, str] = {
    "service": Attr.SERVICE_NAME,
    "provider": Attr.MESSAGING_SYSTEM,
    "queue": Attr.DESTINATION_NAME,
    "error_type": Attr.ERROR_TYPE,
    "reason": Attr.DEAD_LETTER_REASON,
    "check": Attr.HEALTH_CHECK,
}

# Bucket boundaries, in seconds. They cover the specification's ranges: processing up to 300 s,
# long-poll receives up to 20 s, sessions up to one hour.
_OPERATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
)
_PROCESS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
)
_SESSION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

_MESSAGING = (Attr.MESSAGING_SYSTEM, Attr.DESTINATION_NAME)
_OPERATION = (Attr.MESSAGING_SYSTEM, Attr.OPERATION_NAME, Attr.DESTINATION_NAME)
_OPTIONAL = (Attr.ERROR_TYPE, Attr.SERVER_ADDRESS, Attr.SERVER_PORT, Attr.SUBSCRIPTION_NAME)

INSTRUMENTS: tuple[Instrument, ...] = (
    # --- OpenTelemetry messaging semantic conventions -------------------------------------
    Instrument(
        "messaging.client.sent.messages", InstrumentKind.COUNTER, "{message}",
        "Number of messages the producer attempted to send to the broker.",
        _OPERATION, _OPTIONAL,
    ),
    Instrument(
        "messaging.client.consumed.messages", InstrumentKind.COUNTER, "{message}",
        "Number of messages delivered to the consumer.",
        _OPERATION, _OPTIONAL,
    ),
    Instrument(
        "messaging.client.operation.duration", InstrumentKind.HISTOGRAM, "s",
        "Duration of a messaging operation initiated by a producer or consumer client.",
        _OPERATION + (Attr.OPERATION_TYPE,), _OPTIONAL, buckets=_OPERATION_BUCKETS,
    ),
    Instrument(
        "messaging.process.duration", InstrumentKind.HISTOGRAM, "s",
        "Duration of processing operation.",
        _OPERATION, _OPTIONAL, buckets=_PROCESS_BUCKETS,
    ),
    # --- queue.* : what the conventions lack ------------------------------------------------
    Instrument(
        "queue.messages.acknowledged", InstrumentKind.COUNTER, "{message}",
        "Messages settled successfully (completed, deleted).", _MESSAGING,
    ),
    Instrument(
        "queue.messages.rejected", InstrumentKind.COUNTER, "{message}",
        "Messages rejected by the application and returned to the queue for redelivery.",
        _MESSAGING,
    ),
    Instrument(
        "queue.messages.dead_lettered", InstrumentKind.COUNTER, "{message}",
        "Messages moved to the dead-letter queue.", _MESSAGING + (Attr.DEAD_LETTER_REASON,),
    ),
    Instrument(
        "queue.errors", InstrumentKind.COUNTER, "{error}",
        "Failed queue operations, by the operation that failed and the error type.",
        _MESSAGING + (Attr.ERROR_OPERATION, Attr.ERROR_TYPE),
    ),
    Instrument(
        "queue.depth", InstrumentKind.GAUGE, "{message}",
        "Messages currently waiting in the queue.", _MESSAGING,
    ),
    Instrument(
        "queue.dlq.depth", InstrumentKind.GAUGE, "{message}",
        "Messages currently in the queue's dead-letter queue.", _MESSAGING,
    ),
    Instrument(
        "queue.messages.in_flight", InstrumentKind.UP_DOWN_COUNTER, "{message}",
        "Messages received and not yet settled by this process.", _MESSAGING,
    ),
    Instrument(
        "queue.sessions.created", InstrumentKind.COUNTER, "{session}",
        "Sessions opened.", _MESSAGING,
    ),
    Instrument(
        "queue.sessions.closed", InstrumentKind.COUNTER, "{session}",
        "Sessions closed.", _MESSAGING,
    ),
    Instrument(
        "queue.sessions.active", InstrumentKind.UP_DOWN_COUNTER, "{session}",
        "Sessions currently open in this process.", _MESSAGING,
    ),
    Instrument(
        "queue.session.duration", InstrumentKind.HISTOGRAM, "s",
        "How long sessions stayed open.", _MESSAGING, buckets=_SESSION_BUCKETS,
    ),
    Instrument(
        "queue.dlq.recovery.attempts", InstrumentKind.COUNTER, "{message}",
        "Attempts to move a message from the dead-letter queue back to its queue.", _MESSAGING,
    ),
    Instrument(
        "queue.dlq.recovery.successes", InstrumentKind.COUNTER, "{message}",
        "Messages moved back successfully from the dead-letter queue.", _MESSAGING,
    ),
    Instrument(
        "queue.health.status", InstrumentKind.GAUGE, "1",
        "Producer-reported health check state: 0 healthy, 1 degraded, 2 unhealthy.",
        (Attr.HEALTH_CHECK,), (Attr.MESSAGING_SYSTEM, Attr.DESTINATION_NAME),
    ),
    # --- provider-specific ------------------------------------------------------------------
    Instrument(
        "queue.servicebus.lock_renewals", InstrumentKind.COUNTER, "{renewal}",
        "Azure Service Bus message or session lock renewals.", _MESSAGING, provider="servicebus",
    ),
    Instrument(
        "queue.servicebus.session_timeouts", InstrumentKind.COUNTER, "{timeout}",
        "Azure Service Bus sessions that timed out waiting for a message or lock.", _MESSAGING,
        provider="servicebus",
    ),
    Instrument(
        "queue.servicebus.quota_exceeded", InstrumentKind.COUNTER, "{error}",
        "Azure Service Bus operations refused because a quota was exceeded.", _MESSAGING,
        provider="servicebus",
    ),
    Instrument(
        "queue.sqs.visibility_timeout_extensions", InstrumentKind.COUNTER, "{extension}",
        "AWS SQS ChangeMessageVisibility calls that extended a message's visibility timeout.",
        _MESSAGING, provider="aws_sqs",
    ),
    Instrument(
        "queue.sqs.throttling_errors", InstrumentKind.COUNTER, "{error}",
        "AWS SQS requests refused by throttling.", _MESSAGING, provider="aws_sqs",
    ),
    Instrument(
        "queue.sqs.fifo_deduplications", InstrumentKind.COUNTER, "{message}",
        "AWS SQS FIFO sends that the queue deduplicated.", _MESSAGING, provider="aws_sqs",
    ),
)

_QUEUE = BASE_LABELS
_NO_ERROR = SourceFilter(absent=(Attr.ERROR_TYPE,))


def _errors_of(operation: str) -> SourceFilter:
    return SourceFilter(equals={Attr.ERROR_OPERATION: operation})


def _operation_type(operation_type: str) -> SourceFilter:
    return SourceFilter(equals={Attr.OPERATION_TYPE: operation_type})


UNIFIED_METRICS: tuple[UnifiedMetric, ...] = (
    # --- counters ---------------------------------------------------------------------------
    UnifiedMetric(
        "queue_messages_sent_total", UnifiedKind.COUNTER, "{message}",
        "Total number of messages sent to queues.", _QUEUE,
        "messaging.client.sent.messages", _NO_ERROR,
    ),
    UnifiedMetric(
        "queue_messages_received_total", UnifiedKind.COUNTER, "{message}",
        "Total number of messages received from queues (redeliveries included).", _QUEUE,
        "messaging.client.consumed.messages", _NO_ERROR,
    ),
    UnifiedMetric(
        "queue_messages_acknowledged_total", UnifiedKind.COUNTER, "{message}",
        "Total number of messages acknowledged.", _QUEUE, "queue.messages.acknowledged",
    ),
    UnifiedMetric(
        "queue_messages_rejected_total", UnifiedKind.COUNTER, "{message}",
        "Total number of messages rejected.", _QUEUE, "queue.messages.rejected",
    ),
    UnifiedMetric(
        "queue_messages_dead_lettered_total", UnifiedKind.COUNTER, "{message}",
        "Total number of messages sent to dead-letter queues.", _QUEUE + ("reason",),
        "queue.messages.dead_lettered",
    ),
    UnifiedMetric(
        "queue_send_errors_total", UnifiedKind.COUNTER, "{error}",
        "Total number of send operation errors.", _QUEUE + ("error_type",),
        "queue.errors", _errors_of("send"),
    ),
    UnifiedMetric(
        "queue_receive_errors_total", UnifiedKind.COUNTER, "{error}",
        "Total number of receive operation errors.", _QUEUE + ("error_type",),
        "queue.errors", _errors_of("receive"),
    ),
    UnifiedMetric(
        "queue_processing_errors_total", UnifiedKind.COUNTER, "{error}",
        "Total number of message processing errors.", _QUEUE + ("error_type",),
        "queue.errors", _errors_of("process"),
    ),
    UnifiedMetric(
        "queue_sessions_created_total", UnifiedKind.COUNTER, "{session}",
        "Total number of sessions created.", _QUEUE, "queue.sessions.created",
    ),
    UnifiedMetric(
        "queue_sessions_closed_total", UnifiedKind.COUNTER, "{session}",
        "Total number of sessions closed.", _QUEUE, "queue.sessions.closed",
    ),
    UnifiedMetric(
        "queue_dlq_messages_total", UnifiedKind.COUNTER, "{message}",
        "Total number of messages that entered dead-letter queues (see queue_dlq_depth for "
        "how many are there now).", _QUEUE + ("reason",), "queue.messages.dead_lettered",
    ),
    UnifiedMetric(
        "queue_dlq_recovery_attempts_total", UnifiedKind.COUNTER, "{message}",
        "Total number of DLQ recovery attempts.", _QUEUE, "queue.dlq.recovery.attempts",
    ),
    UnifiedMetric(
        "queue_dlq_recovery_successes_total", UnifiedKind.COUNTER, "{message}",
        "Total number of successful DLQ recoveries.", _QUEUE, "queue.dlq.recovery.successes",
    ),
    # --- histograms -------------------------------------------------------------------------
    UnifiedMetric(
        "queue_message_processing_duration_seconds", UnifiedKind.HISTOGRAM, "s",
        "Time spent processing messages.", _QUEUE, "messaging.process.duration",
        buckets=_PROCESS_BUCKETS,
    ),
    UnifiedMetric(
        "queue_send_duration_seconds", UnifiedKind.HISTOGRAM, "s",
        "Time spent sending messages to queues.", _QUEUE,
        "messaging.client.operation.duration", _operation_type("send"),
        buckets=_OPERATION_BUCKETS,
    ),
    UnifiedMetric(
        "queue_receive_duration_seconds", UnifiedKind.HISTOGRAM, "s",
        "Time spent receiving messages from queues.", _QUEUE,
        "messaging.client.operation.duration", _operation_type("receive"),
        buckets=_OPERATION_BUCKETS,
    ),
    UnifiedMetric(
        "queue_session_duration_seconds", UnifiedKind.HISTOGRAM, "s",
        "Duration of queue sessions.", _QUEUE, "queue.session.duration",
        buckets=_SESSION_BUCKETS,
    ),
    # --- gauges -----------------------------------------------------------------------------
    UnifiedMetric(
        "queue_depth", UnifiedKind.GAUGE, "{message}",
        "Current number of messages in the queue.", _QUEUE, "queue.depth",
        gauge_aggregation=GaugeAggregation.LAST,
    ),
    UnifiedMetric(
        "queue_dlq_depth", UnifiedKind.GAUGE, "{message}",
        "Current number of messages in the queue's dead-letter queue.", _QUEUE,
        "queue.dlq.depth", gauge_aggregation=GaugeAggregation.LAST,
    ),
    UnifiedMetric(
        "queue_active_sessions", UnifiedKind.GAUGE, "{session}",
        "Current number of active sessions.", _QUEUE, "queue.sessions.active",
        gauge_aggregation=GaugeAggregation.SUM,
    ),
    UnifiedMetric(
        "queue_processing_messages", UnifiedKind.GAUGE, "{message}",
        "Current number of messages being processed.", _QUEUE, "queue.messages.in_flight",
        gauge_aggregation=GaugeAggregation.SUM,
    ),
    # --- provider-specific counters ---------------------------------------------------------
    UnifiedMetric(
        "azure_servicebus_lock_renewals_total", UnifiedKind.COUNTER, "{renewal}",
        "Total number of Azure Service Bus message lock renewals.", _QUEUE,
        "queue.servicebus.lock_renewals", provider="servicebus",
    ),
    UnifiedMetric(
        "azure_servicebus_session_timeouts_total", UnifiedKind.COUNTER, "{timeout}",
        "Total number of Azure Service Bus session timeouts.", _QUEUE,
        "queue.servicebus.session_timeouts", provider="servicebus",
    ),
    UnifiedMetric(
        "azure_servicebus_quota_exceeded_total", UnifiedKind.COUNTER, "{error}",
        "Total number of Azure Service Bus quota exceeded errors.", _QUEUE,
        "queue.servicebus.quota_exceeded", provider="servicebus",
    ),
    UnifiedMetric(
        "aws_sqs_visibility_timeout_extensions_total", UnifiedKind.COUNTER, "{extension}",
        "Total number of AWS SQS visibility timeout extensions.", _QUEUE,
        "queue.sqs.visibility_timeout_extensions", provider="aws_sqs",
    ),
    UnifiedMetric(
        "aws_sqs_throttling_errors_total", UnifiedKind.COUNTER, "{error}",
        "Total number of AWS SQS throttling errors.", _QUEUE,
        "queue.sqs.throttling_errors", provider="aws_sqs",
    ),
    UnifiedMetric(
        "aws_sqs_fifo_deduplication_total", UnifiedKind.COUNTER, "{message}",
        "Total number of AWS SQS FIFO message deduplication events.", _QUEUE,
        "queue.sqs.fifo_deduplications", provider="aws_sqs",
    ),
    # --- health (computed by the receiver) ----------------------------------------------------
    UnifiedMetric(
        "queue_health_status", UnifiedKind.GAUGE, "1",
        "Health state per service, queue and check: 0 healthy, 1 degraded, 2 unhealthy.",
        ("service", "queue", "check"), None, gauge_aggregation=GaugeAggregation.LAST,
    ),
)

_INSTRUMENTS_BY_NAME = {item.name: item for item in INSTRUMENTS}
_UNIFIED_BY_NAME = {item.name: item for item in UNIFIED_METRICS}


def instrument(name: str) -> Instrument:
    """The producer instrument called ``name``; raises KeyError naming it when unknown."""
    try:
        return _INSTRUMENTS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"no producer instrument named {name!r} in the catalog") from None


def unified_metric(name: str) -> UnifiedMetric:
    """The unified Prometheus metric called ``name``; raises KeyError naming it when unknown."""
    try:
        return _UNIFIED_BY_NAME[name]
    except KeyError:
        raise KeyError(f"no unified metric named {name!r} in the catalog") from None
