"""Re-bucketing: how a source histogram's buckets land in a unified metric's buckets.

When the source's bounds (after the rule's scale) equal the unified bounds, counts are added
bucket by bucket. Otherwise each source bucket's count goes, whole, into the smallest unified
bucket whose upper bound is >= the source bucket's upper bound; the source's +Inf bucket goes to
+Inf. This is conservative: an observation is never reported in a bucket below the one it fell
in (``le`` counts may be too low, never too high), so latency quantiles can only be
overestimated. Bounds are compared with a relative tolerance of 1e-9 so that scaling (ms -> s)
does not push a count into the next bucket through rounding.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Sequence

__all__ = ["bucket_mapping", "BucketMappingCache"]

_RELATIVE_TOLERANCE = 1e-9
#: Distinct (source bounds, scale, target) combinations remembered; the cache is cleared when full.
_CACHE_LIMIT = 4096


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


class BucketMappingCache:
    """Remembers :func:`bucket_mapping` results; not thread-safe (used under the stage's lock)."""

    def __init__(self) -> None:
        self._cache: dict[
            tuple[tuple[float, ...], float, tuple[float, ...]], tuple[int, ...] | None
        ] = {}

    def get(
        self, source_bounds: tuple[float, ...], scale: float, target_bounds: tuple[float, ...]
    ) -> tuple[int, ...] | None:
        key = (source_bounds, scale, target_bounds)
        try:
            return self._cache[key]
        except KeyError:
            pass
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        mapping = self._cache[key] = bucket_mapping(source_bounds, scale, target_bounds)
        return mapping
