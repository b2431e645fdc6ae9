"""The stage's audit: counts of what it replaced or dropped, and the names that expose them.

Counts are receiver self-metrics (``queue_collector_redaction_*``), never attributes on metric
data points: an attribute there would split every Prometheus series it touches. Spans and log
records may carry a per-item summary (:data:`MASKED_COUNT_ATTRIBUTE`,
:data:`DROPPED_COUNT_ATTRIBUTE`) when ``summary_attribute`` is on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Mapping

__all__ = [
    "VALUES",
    "REQUESTS_WALKED",
    "REQUESTS_SKIPPED",
    "HELP",
    "MASKED_COUNT_ATTRIBUTE",
    "DROPPED_COUNT_ATTRIBUTE",
    "ACTION_DROP",
    "RULE_ALLOWED_KEYS",
    "RULE_MAX_DEPTH",
    "AuditCounts",
    "AuditSnapshot",
]

#: Values replaced or attributes dropped, by ``signal`` (traces, metrics, logs), ``rule`` (a
#: detector name, ``blocked_key_patterns[i]``, ``blocked_values[i]``, ``allowed_keys``,
#: ``max_depth``) and ``action`` (mask, hash, drop).
VALUES = "queue_collector_redaction_values_total"
#: Requests the stage walked, by ``signal``.
REQUESTS_WALKED = "queue_collector_redaction_requests_walked_total"
#: Requests the raw-bytes screen found nothing in, so the stage was skipped.
REQUESTS_SKIPPED = "queue_collector_redaction_requests_skipped_total"

HELP = {
    VALUES: "Values the redaction stage masked or hashed and attributes it dropped, by signal, rule and action.",
    REQUESTS_WALKED: "Requests the redaction stage walked, by signal.",
    REQUESTS_SKIPPED: "Requests the redaction stage's raw-bytes screen let through untouched.",
}

#: Span / log record attribute: how many of its values were masked or hashed.
MASKED_COUNT_ATTRIBUTE = "redaction.masked.count"
#: Span / log record attribute: how many of its attributes the allow-list dropped.
DROPPED_COUNT_ATTRIBUTE = "redaction.dropped.count"

#: The ``action`` label of attributes removed by the allow-list.
ACTION_DROP = "drop"
#: The ``rule`` label of attributes removed by the allow-list.
RULE_ALLOWED_KEYS = "allowed_keys"
#: The ``rule`` label of values nested deeper than ``max_depth``, replaced whole.
RULE_MAX_DEPTH = "max_depth"


@dataclass(frozen=True)
class AuditSnapshot:
    #: (signal, rule, action) -> count
    values: Mapping[tuple[str, str, str], int]
    walked: Mapping[str, int]
    skipped: int


class AuditCounts:
    """Thread-safe totals; each request's counts are added under one lock acquisition."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str, str], int] = {}
        self._walked: dict[str, int] = {}
        self._skipped = 0

    def add_request(self, signal: str, counts: Mapping[tuple[str, str], int]) -> None:
        """Adds one walked request of ``signal`` and its ``(rule, action) -> count``."""
        with self._lock:
            self._walked[signal] = self._walked.get(signal, 0) + 1
            for (rule, action), count in counts.items():
                key = (signal, rule, action)
                self._values[key] = self._values.get(key, 0) + count

    def add_skipped(self) -> None:
        with self._lock:
            self._skipped += 1

    def snapshot(self) -> AuditSnapshot:
        with self._lock:
            return AuditSnapshot(dict(self._values), dict(self._walked), self._skipped)
