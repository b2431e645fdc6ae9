"""The metric instruments of instrumented queue clients, created from the catalog.

Instruments are created once per meter provider and shared by every instrumented client that
uses it (creating them twice would only earn registration warnings, and the depth gauges'
callbacks would report each queue twice). The depth gauges observe the queues the clients
registered in :class:`DepthSources`, calling each client's ``depth``/``dead_letter_depth``
on the metric reader's thread.
"""

from __future__ import annotations

import logging
import threading
import weakref
from importlib import metadata
from typing import Any, Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from queue_telemetry import catalog
from queue_telemetry._safe_invoke import report_failure
from queue_telemetry.catalog import InstrumentKind

_logger = logging.getLogger(__name__)

#: Instrumentation scope name of the spans, metrics and logs this library records.
SCOPE_NAME = "queue_telemetry"

try:
    SCOPE_VERSION: str | None = metadata.version("queue-telemetry")
except metadata.PackageNotFoundError:  # running from a source tree without installation
    SCOPE_VERSION = None


def _create(meter: Meter, name: str, callbacks: list[Callable[[CallbackOptions], Iterable[Observation]]] | None = None) -> Any:
    spec = catalog.instrument(name)
    common = {"name": spec.name, "unit": spec.unit, "description": spec.description}
    if spec.kind is InstrumentKind.COUNTER:
        return meter.create_counter(**common)
    if spec.kind is InstrumentKind.UP_DOWN_COUNTER:
        return meter.create_up_down_counter(**common)
    if spec.kind is InstrumentKind.HISTOGRAM:
        return meter.create_histogram(
            **common, explicit_bucket_boundaries_advisory=list(spec.buckets or ())
        )
    if spec.kind is InstrumentKind.GAUGE:
        return meter.create_observable_gauge(callbacks=callbacks or [], **common)
    raise ValueError(f"no way to create instrument kind {spec.kind!r} for {name!r}")


class DepthSources:
    """The queues whose depth the gauges report, and the client asked for each.

    Thread-safe. Clients are held weakly where possible, so a discarded client stops being
    observed. A failing ``depth`` call is counted and logged, and only that queue is skipped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[tuple[str, str], tuple[Callable[[], Any], dict[str, str]]] = {}

    def add(self, system: str, queue: str, client: Any, attributes: dict[str, str]) -> None:
        """Observe ``queue`` through ``client`` (first registration of a queue wins)."""
        key = (system, queue)
        with self._lock:
            current = self._sources.get(key)
            if current is not None and current[0]() is not None:
                return
            try:
                reference: Callable[[], Any] = weakref.ref(client)
            except TypeError:
                reference = lambda client=client: client  # noqa: E731 - strong reference
            self._sources[key] = (reference, attributes)

    def observe_depth(self, _options: CallbackOptions) -> list[Observation]:
        return self._observe("depth")

    def observe_dead_letter_depth(self, _options: CallbackOptions) -> list[Observation]:
        return self._observe("dead_letter_depth")

    def _observe(self, method: str) -> list[Observation]:
        with self._lock:
            sources = list(self._sources.items())
        observations = []
        for key, (reference, attributes) in sources:
            client = reference()
            if client is None:
                with self._lock:
                    if self._sources.get(key, (None,))[0] is reference:
                        del self._sources[key]
                continue
            try:
                observations.append(Observation(int(getattr(client, method)(key[1])), attributes))
            except Exception:  # noqa: BLE001 - one broken queue must not hide the others
                report_failure(f"DepthSources.{method}")
        return observations


class HealthSources:
    """The latest health check states reported by health monitors, for the health gauge.

    Thread-safe. Each monitor publishes a full snapshot (check name -> state and attributes);
    the gauge reports the union of the snapshots of the monitors still alive.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: "weakref.WeakKeyDictionary[Any, list[tuple[int, dict[str, Any]]]]" = (
            weakref.WeakKeyDictionary()
        )

    def publish(self, owner: Any, observations: list[tuple[int, dict[str, Any]]]) -> None:
        with self._lock:
            self._snapshots[owner] = list(observations)

    def observe(self, _options: CallbackOptions) -> list[Observation]:
        with self._lock:
            snapshots = [list(items) for items in self._snapshots.values()]
        return [Observation(value, attributes) for items in snapshots for value, attributes in items]


class QueueInstruments:
    """Every instrument an instrumented queue client records to, for one meter."""

    def __init__(self, meter: Meter) -> None:
        self.sent = _create(meter, "messaging.client.sent.messages")
        self.consumed = _create(meter, "messaging.client.consumed.messages")
        self.operation_duration = _create(meter, "messaging.client.operation.duration")
        self.process_duration = _create(meter, "messaging.process.duration")
        self.acknowledged = _create(meter, "queue.messages.acknowledged")
        self.rejected = _create(meter, "queue.messages.rejected")
        self.dead_lettered = _create(meter, "queue.messages.dead_lettered")
        self.errors = _create(meter, "queue.errors")
        self.in_flight = _create(meter, "queue.messages.in_flight")
        self.sessions_created = _create(meter, "queue.sessions.created")
        self.sessions_closed = _create(meter, "queue.sessions.closed")
        self.sessions_active = _create(meter, "queue.sessions.active")
        self.session_duration = _create(meter, "queue.session.duration")
        self.dlq_recovery_attempts = _create(meter, "queue.dlq.recovery.attempts")
        self.dlq_recovery_successes = _create(meter, "queue.dlq.recovery.successes")
        self.servicebus_lock_renewals = _create(meter, "queue.servicebus.lock_renewals")
        self.servicebus_session_timeouts = _create(meter, "queue.servicebus.session_timeouts")
        self.servicebus_quota_exceeded = _create(meter, "queue.servicebus.quota_exceeded")
        self.sqs_visibility_extensions = _create(meter, "queue.sqs.visibility_timeout_extensions")
        self.sqs_throttling_errors = _create(meter, "queue.sqs.throttling_errors")
        self.sqs_fifo_deduplications = _create(meter, "queue.sqs.fifo_deduplications")
        self.health_sources = HealthSources()
        self.health_status = _create(meter, "queue.health.status", [self.health_sources.observe])
        self.depth_sources = DepthSources()
        self.depth = _create(meter, "queue.depth", [self.depth_sources.observe_depth])
        self.dead_letter_depth = _create(
            meter, "queue.dlq.depth", [self.depth_sources.observe_dead_letter_depth]
        )


_BY_PROVIDER: "weakref.WeakKeyDictionary[Any, QueueInstruments]" = weakref.WeakKeyDictionary()
_BY_PROVIDER_LOCK = threading.Lock()


def instruments_for(meter_provider: MeterProvider) -> QueueInstruments:
    """The shared instruments of ``meter_provider``, created on first use. May raise."""
    with _BY_PROVIDER_LOCK:
        try:
            cached = _BY_PROVIDER.get(meter_provider)
        except TypeError:  # provider cannot be weakly referenced: no sharing
            cached = None
        if cached is not None:
            return cached
        created = QueueInstruments(meter_provider.get_meter(SCOPE_NAME, SCOPE_VERSION))
        try:
            _BY_PROVIDER[meter_provider] = created
        except TypeError:
            pass
        return created
