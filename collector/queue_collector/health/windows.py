"""Sliding windows as rings of time buckets.

A window of ``buckets`` buckets, each ``bucket_seconds`` long, covers the bucket the clock is in
and the ``buckets - 1`` before it. Adding to a bucket that the ring last used for an older
period first clears it, so nothing is ever subtracted and old telemetry simply falls out: this
is what lets health recover after a bad spell.

Not thread-safe: the traffic state holds its lock around every call.
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["WindowedSum", "WindowedHistogram", "HistogramWindowTotals", "bucket_index"]


def bucket_index(now: float, bucket_seconds: float) -> int:
    """The number of the time bucket ``now`` falls in."""
    return math.floor(now / bucket_seconds)


class WindowedSum:
    """The sum of amounts added during the window."""

    __slots__ = ("_periods", "_values")

    def __init__(self, buckets: int) -> None:
        #: The bucket number each slot currently holds (-1: none yet).
        self._periods = [-1] * buckets
        self._values = [0.0] * buckets

    def add(self, period: int, amount: float) -> None:
        slot = period % len(self._periods)
        if self._periods[slot] != period:
            self._periods[slot] = period
            self._values[slot] = 0.0
        self._values[slot] += amount

    def total(self, period: int) -> float:
        """The sum over the window ending with bucket ``period``."""
        oldest = period - len(self._periods)
        return sum(
            value
            for held, value in zip(self._periods, self._values)
            if oldest < held <= period
        )


class HistogramWindowTotals:
    """A histogram's observations during the window: per-bucket counts, sum and count."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: Sequence[float], counts: list[int], value_sum: float, count: int) -> None:
        #: Upper bounds of every bucket but the last (+Inf).
        self.bounds = tuple(bounds)
        self.counts = counts
        self.sum = value_sum
        self.count = count

    @property
    def average(self) -> float | None:
        """Mean observation, or None when nothing was observed (never divides by zero)."""
        return self.sum / self.count if self.count else None

    def quantile_upper_bound(self, quantile: float) -> float | None:
        """Upper bound of the bucket holding the ``quantile`` observation (``inf`` for the
        last bucket), or None when nothing was observed."""
        if self.count <= 0:
            return None
        rank = quantile * self.count
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return self.bounds[index] if index < len(self.bounds) else math.inf
        return math.inf


class WindowedHistogram:
    """Histogram observations (already in fixed ``bounds``) added during the window."""

    __slots__ = ("bounds", "_periods", "_counts", "_sums", "_totals")

    def __init__(self, buckets: int, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._periods = [-1] * buckets
        self._counts = [[0] * (len(self.bounds) + 1) for _ in range(buckets)]
        self._sums = [0.0] * buckets
        self._totals = [0] * buckets

    def add(self, period: int, counts: Sequence[int], value_sum: float) -> None:
        """Adds observations: one count per bucket of ``bounds`` (+Inf last) and their sum."""
        slot = period % len(self._periods)
        if self._periods[slot] != period:
            self._periods[slot] = period
            self._counts[slot] = [0] * (len(self.bounds) + 1)
            self._sums[slot] = 0.0
            self._totals[slot] = 0
        held = self._counts[slot]
        for index, count in enumerate(counts):
            held[index] += count
        self._sums[slot] += value_sum
        self._totals[slot] += sum(counts)

    def totals(self, period: int) -> HistogramWindowTotals:
        oldest = period - len(self._periods)
        counts = [0] * (len(self.bounds) + 1)
        value_sum = 0.0
        total = 0
        for slot, held in enumerate(self._periods):
            if oldest < held <= period:
                for index, count in enumerate(self._counts[slot]):
                    counts[index] += count
                value_sum += self._sums[slot]
                total += self._totals[slot]
        return HistogramWindowTotals(self.bounds, counts, value_sum, total)
