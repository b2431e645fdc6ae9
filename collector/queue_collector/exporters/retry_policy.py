"""Which gRPC answers are worth retrying, how long to wait, and reading RetryInfo hints.

Follows the OTLP specification: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
UNAVAILABLE and DATA_LOSS are retryable; RESOURCE_EXHAUSTED only when the server sent a
RetryInfo delay (it can recover); everything else is permanent. Pure functions.
"""

from __future__ import annotations

import math
import random

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from queue_collector.exporters.config import RetryConfig

__all__ = ["RETRY_INFO_TRAILER", "is_retryable", "retry_delay_from", "backoff_delay", "retry_delay"]

#: The trailer OTLP servers put a serialized google.rpc.RetryInfo in.
RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"

_ALWAYS_RETRYABLE = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def is_retryable(code: grpc.StatusCode | None, has_retry_delay: bool) -> bool:
    """True when a request answered ``code`` may succeed if sent again."""
    if code in _ALWAYS_RETRYABLE:
        return True
    return code is grpc.StatusCode.RESOURCE_EXHAUSTED and has_retry_delay


def _seconds(retry_info: error_details_pb2.RetryInfo) -> float:
    return retry_info.retry_delay.seconds + retry_info.retry_delay.nanos / 1e9


def retry_delay_from(error: grpc.RpcError) -> float | None:
    """The server's RetryInfo delay in seconds, from the trailer or the status details.

    Returns None when there is none or it cannot be parsed; never raises.
    """
    try:
        trailers = error.trailing_metadata() or ()  # type: ignore[attr-defined]
    except Exception:
        return None
    for key, value in trailers:
        if key == RETRY_INFO_TRAILER:
            try:
                return _seconds(error_details_pb2.RetryInfo.FromString(value))
            except Exception:
                break
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except Exception:
        return None
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry_info = error_details_pb2.RetryInfo()
            detail.Unpack(retry_info)
            return _seconds(retry_info)
    return None


def backoff_delay(attempt: int, config: RetryConfig, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (0 for the first): exponential with jitter."""
    base = min(
        config.max_interval_seconds,
        config.initial_interval_seconds * config.multiplier ** attempt,
    )
    spread = base * config.randomization_factor
    return max(0.0, rng.uniform(base - spread, base + spread))


def retry_delay(hint: float | None, attempt: int, config: RetryConfig, rng: random.Random) -> float:
    """Delay before retry number ``attempt``: the server's RetryInfo ``hint`` kept within
    ``[initial_interval_seconds, max_interval_seconds]``, or :func:`backoff_delay` when there is
    no hint or it is unusable (negative, NaN or infinite), so a server can neither make the
    forwarder spin nor park a request for longer than the configured maximum."""
    if hint is None or not math.isfinite(hint) or hint < 0:
        return backoff_delay(attempt, config, rng)
    return min(max(hint, config.initial_interval_seconds), config.max_interval_seconds)
