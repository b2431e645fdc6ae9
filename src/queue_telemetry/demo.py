"""A realistic queue workload over instrumented in-memory queues, with its own ground truth.

Three queues, each exercising a different path:

* ``orders`` -- single sends; consumers fail on some messages: a *flaky* order fails on its
  first delivery only (rejected, redelivered, then acknowledged), a *poison* order fails every
  time, so the broker dead-letters it when it is rejected on its last allowed delivery.
* ``payments`` -- sessions (one per account): consumers accept a session, receive its messages
  in order (the demo checks the order) and release it.
* ``notifications`` -- batch sends and batch receives; a few are dead-lettered explicitly by
  the consumer (reason ``processing_failed``).

Producers send at the requested rate for the requested time; then they stop, and consumers
drain until every sent message is acknowledged or dead-lettered (bounded wait). The workload
counts, per queue, what it sent, received (deliveries, redeliveries included), acknowledged,
rejected and dead-lettered, from the return values of the queue calls it makes -- independently
of telemetry, but counting exactly the events the instrumented client records, so the numbers
equal the receiver's ``queue_messages_*_total`` series for this service.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from opentelemetry.sdk.environment_variables import OTEL_METRIC_EXPORT_INTERVAL
from opentelemetry.sdk.resources import SERVICE_NAME

from queue_telemetry.configuration import configure, shutdown
from queue_telemetry.in_memory import InMemoryBroker, QueueSettings
from queue_telemetry.instrumented_client import InstrumentedQueueClient
from queue_telemetry.queue_client import OutgoingMessage, ReceivedMessage, RejectOutcome

__all__ = ["DemoSettings", "QueueLedger", "run_demo", "DEFAULT_SERVICE_NAME"]

_logger = logging.getLogger(__name__)

#: ``service.name`` of the demo unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) says otherwise.
DEFAULT_SERVICE_NAME = "queue-demo"

ORDERS = "orders"
PAYMENTS = "payments"
NOTIFICATIONS = "notifications"
QUEUES = (ORDERS, PAYMENTS, NOTIFICATIONS)

#: Share of the total rate each queue gets.
_RATE_SHARE = {ORDERS: 0.4, PAYMENTS: 0.3, NOTIFICATIONS: 0.3}
#: Deliveries of an order before the broker dead-letters it.
_ORDER_MAX_DELIVERIES = 3
_FLAKY_EVERY = 100
_POISON_EVERY = 200
_UNDELIVERABLE_NOTIFICATION_EVERY = 100
_NOTIFICATION_BATCH = 5
_PAYMENT_ACCOUNTS = 5
_BEHAVIOUR = "demo.behaviour"
_SEQUENCE = "demo.sequence"
#: Metric export period of the demo unless OTEL_METRIC_EXPORT_INTERVAL is set.
_DEMO_METRIC_EXPORT_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class DemoSettings:
    """How the demo runs."""

    #: Seconds producers keep sending.
    duration_seconds: float = 30.0
    #: Messages per second, all queues together.
    rate: float = 50.0
    #: Where to write the summary JSON as well as stdout; None: stdout only.
    summary_file: Path | None = None
    #: Upper bound, in seconds, on the wait for consumers to settle everything after producers stop.
    drain_timeout_seconds: float = 15.0
    #: Call configure()/shutdown() around the run (False when the caller manages telemetry).
    manage_telemetry: bool = True

    def __post_init__(self) -> None:
        if self.duration_seconds < 0:
            raise ValueError(f"duration must not be negative, got {self.duration_seconds}")
        if self.rate <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")


class QueueLedger:
    """The workload's own count of what happened on each queue. Thread-safe."""

    FIELDS = ("sent", "received", "acknowledged", "rejected", "dead_lettered")

    def __init__(self, queues: tuple[str, ...]) -> None:
        self._counts = {queue: dict.fromkeys(self.FIELDS, 0) for queue in queues}
        self._changed = threading.Condition()

    def add(self, queue: str, field: str, count: int = 1) -> None:
        with self._changed:
            self._counts[queue][field] += count
            self._changed.notify_all()

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._changed:
            return {queue: dict(counts) for queue, counts in self._counts.items()}

    def all_settled(self) -> bool:
        with self._changed:
            return self._settled_locked()

    def wait_until_settled(self, timeout: float) -> bool:
        """Block until every sent message is acknowledged or dead-lettered, or ``timeout``."""
        with self._changed:
            return self._changed.wait_for(self._settled_locked, timeout)

    def _settled_locked(self) -> bool:
        return all(c["acknowledged"] + c["dead_lettered"] == c["sent"] for c in self._counts.values())


class _ProcessingFailed(Exception):
    """The demo's stand-in for an application failing to handle a message."""


class _Workload:
    def __init__(self, settings: DemoSettings, client: InstrumentedQueueClient) -> None:
        self.settings = settings
        self.client = client
        self.ledger = QueueLedger(QUEUES)
        self.stop_producing = threading.Event()
        self.stop_consuming = threading.Event()
        self.order_violations = 0
        # Last payment sequence seen per session; sessions are exclusive, so no lock is needed.
        self.last_payment: dict[str, int] = {}

    # --- producers ------------------------------------------------------------------------

    def paced(self, rate: float, per_tick: int, send: Callable[[int], None]) -> None:
        """Call ``send(tick)`` ``rate / per_tick`` times a second until told to stop."""
        interval = per_tick / rate
        started = time.monotonic()
        deadline = started + self.settings.duration_seconds
        tick = 0
        while not self.stop_producing.is_set():
            due = started + tick * interval
            if due >= deadline:
                return
            delay = due - time.monotonic()
            if delay > 0 and self.stop_producing.wait(delay):
                return
            send(tick)
            tick += 1

    def produce_orders(self) -> None:
        def send(tick: int) -> None:
            # A fixed pattern rather than chance, so short runs see every path and the
            # failure ratios stay below the receiver's default health thresholds: 1 order in
            # 100 is flaky (the first is the 4th), 1 in 200 is poison (the first is the 31st).
            behaviour = "ok"
            if tick % _POISON_EVERY == 30:
                behaviour = "poison"
            elif tick % _FLAKY_EVERY == 3:
                behaviour = "flaky"
            body = json.dumps({"order": tick, "amount": 10 + tick % 90}).encode()
            self.client.send(ORDERS, OutgoingMessage(body, {_BEHAVIOUR: behaviour}))
            self.ledger.add(ORDERS, "sent")

        self.paced(self.settings.rate * _RATE_SHARE[ORDERS], 1, send)

    def produce_payments(self) -> None:
        sequences = [0] * _PAYMENT_ACCOUNTS

        def send(tick: int) -> None:
            account = tick % _PAYMENT_ACCOUNTS
            sequences[account] += 1
            body = json.dumps({"account": account, "payment": sequences[account]}).encode()
            self.client.send(
                PAYMENTS, OutgoingMessage(body, {_SEQUENCE: str(sequences[account])}),
                session_id=f"account-{account}",
            )
            self.ledger.add(PAYMENTS, "sent")

        self.paced(self.settings.rate * _RATE_SHARE[PAYMENTS], 1, send)

    def produce_notifications(self) -> None:
        def send(tick: int) -> None:
            batch = [
                OutgoingMessage(json.dumps({"notification": tick * _NOTIFICATION_BATCH + i}).encode())
                for i in range(_NOTIFICATION_BATCH)
            ]
            ids = self.client.send_batch(NOTIFICATIONS, batch)
            self.ledger.add(NOTIFICATIONS, "sent", len(ids))

        self.paced(self.settings.rate * _RATE_SHARE[NOTIFICATIONS], _NOTIFICATION_BATCH, send)

    # --- consumers ------------------------------------------------------------------------

    def receive(self, queue: str, max_messages: int, session_id: str | None = None) -> list[ReceivedMessage]:
        messages = self.client.receive(queue, max_messages, 0.1, session_id)
        if messages:
            self.ledger.add(queue, "received", len(messages))
        return messages

    def acknowledge(self, message: ReceivedMessage) -> None:
        self.client.acknowledge(message)
        self.ledger.add(message.queue, "acknowledged")

    def reject(self, message: ReceivedMessage) -> None:
        outcome = self.client.reject(message)
        self.ledger.add(message.queue, "rejected")
        if outcome == RejectOutcome.DEAD_LETTERED:
            self.ledger.add(message.queue, "dead_lettered")

    def consume_orders(self) -> None:
        while not self.stop_consuming.is_set():
            for message in self.receive(ORDERS, 5):
                try:
                    with self.client.process(message):
                        behaviour = message.properties.get(_BEHAVIOUR, "ok")
                        failing = behaviour == "poison" or (behaviour == "flaky" and message.delivery_count == 1)
                        if failing:
                            self.reject(message)
                            raise _ProcessingFailed(f"order {message.message_id} could not be handled")
                        self.acknowledge(message)
                except _ProcessingFailed:
                    pass

    def consume_payments(self) -> None:
        last_seen = self.last_payment
        while not self.stop_consuming.is_set():
            session_id = self.client.accept_session(PAYMENTS, wait_seconds=0.1)
            if session_id is None:
                continue
            try:
                while not self.stop_consuming.is_set():
                    messages = self.receive(PAYMENTS, 10, session_id)
                    if not messages:
                        break
                    for message in messages:
                        with self.client.process(message):
                            sequence = int(message.properties.get(_SEQUENCE, "0"))
                            if sequence <= last_seen.get(session_id, 0):
                                self.order_violations += 1
                                _logger.warning("Payment out of order in %s: %d", session_id, sequence)
                            last_seen[session_id] = sequence
                            self.acknowledge(message)
            finally:
                self.client.release_session(PAYMENTS, session_id)

    def consume_notifications(self) -> None:
        while not self.stop_consuming.is_set():
            for message in self.receive(NOTIFICATIONS, 10):
                with self.client.process(message):
                    number = json.loads(message.body).get("notification", 0)
                    if number % _UNDELIVERABLE_NOTIFICATION_EVERY == _UNDELIVERABLE_NOTIFICATION_EVERY // 2:
                        self.client.dead_letter(message, "processing_failed")
                        self.ledger.add(NOTIFICATIONS, "dead_lettered")
                    else:
                        self.acknowledge(message)

    # --- orchestration --------------------------------------------------------------------

    def run(self) -> dict[str, dict[str, int]]:
        producers = [
            threading.Thread(target=self.produce_orders, name="produce-orders"),
            threading.Thread(target=self.produce_payments, name="produce-payments"),
            threading.Thread(target=self.produce_notifications, name="produce-notifications"),
        ]
        consumers = [
            threading.Thread(target=self.consume_orders, name=f"consume-orders-{i}") for i in range(2)
        ] + [
            threading.Thread(target=self.consume_payments, name=f"consume-payments-{i}") for i in range(2)
        ] + [threading.Thread(target=self.consume_notifications, name="consume-notifications")]
        for thread in consumers + producers:
            thread.daemon = True
            thread.start()
        try:
            for thread in producers:
                thread.join()
            if not self.ledger.wait_until_settled(self.settings.drain_timeout_seconds):
                _logger.warning("Not every message was settled within %.1f s.", self.settings.drain_timeout_seconds)
        finally:
            self.stop_producing.set()
            self.stop_consuming.set()
            for thread in producers + consumers:
                thread.join(timeout=5.0)
        return self.ledger.snapshot()


def run_demo(settings: DemoSettings | None = None, *, client_factory: Callable[[InMemoryBroker], InstrumentedQueueClient] | None = None) -> dict[str, Any]:
    """Run the workload and return (and write) the summary.

    Returns ``{"service": name, "queues": {queue: {"sent", "received", "acknowledged",
    "rejected", "dead_lettered"}}}``. With ``settings.manage_telemetry`` it calls
    :func:`configure` first and :func:`shutdown` last, so the final metric export carries every
    recorded event. ``client_factory`` builds the instrumented client (default: one over a
    new broker's client, using the global providers). Blocks for about the duration plus the
    drain; raises only for invalid settings or an unwritable summary file.
    """
    settings = settings or DemoSettings()
    service = DEFAULT_SERVICE_NAME
    if settings.manage_telemetry:
        interval = None if os.environ.get(OTEL_METRIC_EXPORT_INTERVAL) else _DEMO_METRIC_EXPORT_INTERVAL_SECONDS
        handle = configure(
            default_service_name=DEFAULT_SERVICE_NAME, metric_export_interval_seconds=interval
        )
        if handle.resource is not None:
            service = str(handle.resource.attributes.get(SERVICE_NAME, DEFAULT_SERVICE_NAME))
        else:
            service = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    broker = InMemoryBroker(settings=QueueSettings(visibility_timeout=60.0, session_lock_timeout=60.0))
    broker.create_queue(ORDERS, QueueSettings(visibility_timeout=60.0, max_delivery_count=_ORDER_MAX_DELIVERIES))
    inner = broker.client()
    # The demo's batches share the send span as their creation context (no per-message create
    # spans), so every process span in its traces links to a ``send`` span.
    client = client_factory(broker) if client_factory else InstrumentedQueueClient(
        inner, system="in_memory"
    )
    for queue in QUEUES:
        client.observe_queue(queue)
    workload = _Workload(settings, client)
    try:
        counts = workload.run()
    finally:
        if settings.manage_telemetry:
            stats = shutdown()
            _logger.info("Telemetry delivery: %s", stats)
    if workload.order_violations:
        _logger.warning("%d payments were delivered out of order.", workload.order_violations)
    summary = {"service": service, "queues": counts}
    text = json.dumps(summary, indent=2, sort_keys=True)
    if settings.summary_file is not None:
        settings.summary_file.parent.mkdir(parents=True, exist_ok=True)
        settings.summary_file.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return summary
