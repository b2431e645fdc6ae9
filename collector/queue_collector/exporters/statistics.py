"""Counters every exporter keeps, read by the self-metrics collector."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExporterStatistics"]


@dataclass(frozen=True)
class ExporterStatistics:
    """A snapshot of one exporter's counters (requests are client requests, before merging)."""

    #: Requests delivered (written to the file, or acknowledged by the endpoint).
    exported_requests: int = 0
    #: Requests given up on: non-retryable answer, retries exhausted, or a write error.
    failed_requests: int = 0
    #: Requests still queued (or being retried) when the shutdown deadline passed.
    lost_requests: int = 0
    #: Items the endpoint reported as rejected through ``partial_success``.
    rejected_items: int = 0
    #: Retry attempts made.
    retries: int = 0
    #: Times ``ensure_capacity`` refused a request because the queue was full.
    backpressure_refusals: int = 0
    #: Requests waiting in the queue now (including those being sent).
    queue_size: int = 0
    #: The queue's limit (0 for exporters without a queue).
    queue_capacity: int = 0
