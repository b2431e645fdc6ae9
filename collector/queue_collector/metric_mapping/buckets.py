"""Re-bucketing: how a source histogram's buckets land in a unified metric's buckets.

When the source's bounds (after the rule's scale) equal the unified bounds, counts are added
bucket by bucket. Otherwise each source bucket's count goes, whole, into the smallest unified
bucket whose upper bound is >= the source bucket's upper bound; the source's +Inf bucket goes to
+Inf. This is conservative: an observation is never reported in a bucket below the one it fell
in (``le`` counts may be too low, never too high), so latency quantiles can only be
overestimated. Bounds are compared with a relative tolerance of 1e-9 so that scaling (ms -> s)
does not push a count into the next bucket through rounding.

:func:`bucket_difference` is the other re-bucketing: what a cumulative histogram point adds
when its bounds changed since the stream's previous point (same start time).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Sequence

__all__ = ["bucket_mapping", "bucket_difference", "BucketMappingCache"]

_RELATIVE_TOLERANCE = 1e-9
#: Distinct (source bounds, scale, target) combinations remembered; the cache is cleared when
#: either limit is reached.
_CACHE_LIMIT = 4096
#: Source bounds plus mapping indexes held by the cache in all (its memory grows with these).
_CACHE_ELEMENT_LIMIT = 1 << 18


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= _RELATIVE_TOLERANCE * max(abs(a), abs(b))


def bucket_mapping(
    source_bounds: Sequence[float], scale: float, target_bounds: Sequence[float]
) -> tuple[int, ...] | None:
    """For each source bucket, the index of the unified bucket it is added to (the last index,
    ``len(target_bounds)``, is +Inf); None when the scaled source bounds equal the target's."""
    scaled = [bound * scale for bound in source_bounds]
    if len(scaled) == len(target_bounds) and all(map(_same, scaled, target_bounds)):
        return None
    mapping = []
    for upper in scaled:
        index = bisect_left(target_bounds, upper - _RELATIVE_TOLERANCE * abs(upper))
        mapping.append(index)
    mapping.append(len(target_bounds))
    return tuple(mapping)


def bucket_difference(
    last_bounds: Sequence[float],
    last_counts: Sequence[int],
    bounds: Sequence[float],
    counts: Sequence[int],
) -> tuple[int, ...] | None:
    """Per bucket of ``bounds``, the observations of ``counts`` that are not in ``last_counts``
    (a previous point of the same cumulative stream, with other bounds); None when the previous
    observations do not fit into the new buckets (then the stream was reset).

    Each previous bucket ``(lower, upper]`` takes its count from the new buckets it overlaps,
    lowest first. Exact when one set of bounds refines the other (bounds added or removed);
    otherwise a best effort that never adds more than the new count minus the previous one.
    """
    left = list(counts)
    lower = -float("inf")
    last_index = len(last_counts) - 1
    for index, count in enumerate(last_counts):
        upper = last_bounds[index] if index < last_index else float("inf")
        first = bisect_right(bounds, lower)
        end = bisect_left(bounds, upper) if index < last_index else len(bounds)
        for position in range(first, end + 1):
            if not count:
                break
            taken = min(count, left[position])
            left[position] -= taken
            count -= taken
        if count:
            return None
        lower = upper
    return tuple(left)


class BucketMappingCache:
    """Remembers :func:`bucket_mapping` results; not thread-safe (used under the stage's lock).

    Bounded by entries and by the bounds and indexes they hold in all: producers control the
    source bounds, up to :data:`~.points.MAX_HISTOGRAM_BOUNDS` per point.
    """

    def __init__(self) -> None:
        self._cache: dict[
            tuple[tuple[float, ...], float, tuple[float, ...]], tuple[int, ...] | None
        ] = {}
        self._elements = 0

    def get(
        self, source_bounds: tuple[float, ...], scale: float, target_bounds: tuple[float, ...]
    ) -> tuple[int, ...] | None:
        key = (source_bounds, scale, target_bounds)
        try:
            return self._cache[key]
        except KeyError:
            pass
        mapping = bucket_mapping(source_bounds, scale, target_bounds)
        size = len(source_bounds) + (len(mapping) if mapping is not None else 0)
        if len(self._cache) >= _CACHE_LIMIT or self._elements + size > _CACHE_ELEMENT_LIMIT:
            self._cache.clear()
            self._elements = 0
        self._cache[key] = mapping
        self._elements += size
        return mapping
