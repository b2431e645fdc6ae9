"""Delivery of notifications: one worker thread per channel, retries with backoff.

:meth:`NotificationDelivery.submit` only puts the notification in each channel's bounded
queue, so evaluation never waits on the network. Each channel's worker sends in order (so a
``resolve`` never overtakes its ``trigger``), retrying failures that may pass (network errors,
HTTP 408/429/5xx, SMTP 4xx) with exponential backoff. A channel that is down delays only its
own queue. Outcomes are counted per channel (see :class:`DeliveryStatistics`) and failures
logged with the channel's safe description and secret values removed.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Mapping

from queue_collector.alerting.channels import Channel, DeliveryError
from queue_collector.alerting.config import DeliveryConfig
from queue_collector.alerting.notification import AlertNotification

__all__ = ["NotificationDelivery", "DeliveryStatistics", "Outcome"]

_logger = logging.getLogger(__name__)


class Outcome:
    """Values of the ``outcome`` label."""

    DELIVERED = "delivered"
    FAILED = "failed"
    DROPPED = "dropped"
    #: attempts only
    ERROR = "error"
    SUCCESS = "success"


@dataclass(frozen=True)
class DeliveryStatistics:
    """Counts so far: ``(channel, outcome) -> n`` for notifications and for attempts."""

    notifications: Mapping[tuple[str, str], int]
    attempts: Mapping[tuple[str, str], int]
    queued: Mapping[str, int]


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.notifications: collections.Counter = collections.Counter()
        self.attempts: collections.Counter = collections.Counter()

    def count(self, table: collections.Counter, channel: str, outcome: str) -> None:
        with self.lock:
            table[(channel, outcome)] += 1


class _ChannelWorker:
    def __init__(self, channel: Channel, config: DeliveryConfig, counters: _Counters) -> None:
        self.channel = channel
        self._config = config
        self._counters = counters
        self._queue: collections.deque[AlertNotification] = collections.deque()
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._busy = False
        self._thread = threading.Thread(
            target=self._run, name=f"queue-collector-alert-{channel.name}", daemon=True
        )
        self._thread.start()

    def submit(self, notification: AlertNotification) -> None:
        with self._condition:
            if self._stopping.is_set() or len(self._queue) >= self._config.queue_size:
                self._counters.count(self._counters.notifications, self.channel.name, Outcome.DROPPED)
                _logger.warning("alert notification to channel %s dropped: queue full or stopping", self.channel.name)
                return
            self._queue.append(notification)
            self._condition.notify()

    @property
    def queued(self) -> int:
        return len(self._queue) + (1 if self._busy else 0)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopping.is_set():
                    self._condition.wait()
                if not self._queue:
                    return
                notification = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(notification)
            finally:
                self._busy = False

    def _deliver(self, notification: AlertNotification) -> None:
        config = self._config
        channel = self.channel
        delay = config.initial_backoff_seconds
        for attempt in range(1, config.max_attempts + 1):
            if time.monotonic() > self._deadline:
                break
            try:
                channel.send(notification)
            except DeliveryError as error:
                failure, retryable = str(error), error.retryable
            except Exception as error:  # a bug in a channel must not stop the worker
                failure, retryable = f"{type(error).__name__}: {error}", False
            else:
                self._counters.count(self._counters.attempts, channel.name, Outcome.SUCCESS)
                self._counters.count(self._counters.notifications, channel.name, Outcome.DELIVERED)
                return
            self._counters.count(self._counters.attempts, channel.name, Outcome.ERROR)
            last = attempt == config.max_attempts or not retryable
            _logger.warning(
                "alert %s (%s) to channel %s [%s] failed, attempt %d of %d: %s%s",
                notification.rule, notification.status, channel.name, channel.describe(), attempt,
                config.max_attempts, channel.redact(failure), "" if last else f"; retrying in {delay:.2f} s",
            )
            if last:
                break
            if not self._backoff(delay):
                break
            delay = min(delay * config.backoff_multiplier, config.max_backoff_seconds)
        self._counters.count(self._counters.notifications, channel.name, Outcome.FAILED)

    def _backoff(self, delay: float) -> bool:
        """Waits ``delay`` seconds; False when that would pass the shutdown deadline."""
        end = time.monotonic() + delay
        with self._condition:
            while True:
                if end > self._deadline:
                    return False
                left = end - time.monotonic()
                if left <= 0:
                    return True
                self._condition.wait(left)  # stop() wakes us to look at the deadline

    def stop(self, deadline: float) -> None:
        with self._condition:
            self._deadline = deadline
            self._stopping.set()
            self._condition.notify_all()

    def join(self, deadline: float) -> None:
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._condition:
            left = len(self._queue)
            self._queue.clear()
        for _ in range(left):
            self._counters.count(self._counters.notifications, self.channel.name, Outcome.DROPPED)


class NotificationDelivery:
    """Delivers notifications to named channels, each on its own worker thread.

    Thread-safe. :meth:`submit` never blocks on I/O. :meth:`shutdown` lets the workers finish
    what is queued until the timeout, then counts the rest as dropped.
    """

    def __init__(self, channels: Iterable[Channel], config: DeliveryConfig) -> None:
        self._counters = _Counters()
        self._config = config
        self._workers = {channel.name: _ChannelWorker(channel, config, self._counters) for channel in channels}

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(self._workers)

    def describe(self) -> dict[str, str]:
        """Channel name -> safe description of where it delivers."""
        return {name: worker.channel.describe() for name, worker in self._workers.items()}

    def submit(self, notification: AlertNotification, channels: Iterable[str]) -> None:
        for name in channels:
            worker = self._workers.get(name)
            if worker is None:
                _logger.error("alert %s names unknown channel %s", notification.rule, name)
                continue
            worker.submit(notification)

    def statistics(self) -> DeliveryStatistics:
        with self._counters.lock:
            notifications = dict(self._counters.notifications)
            attempts = dict(self._counters.attempts)
        return DeliveryStatistics(notifications, attempts, {name: w.queued for name, w in self._workers.items()})

    def shutdown(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        for worker in self._workers.values():
            worker.stop(deadline)
        for worker in self._workers.values():
            worker.join(deadline)
