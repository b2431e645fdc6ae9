"""AWS SQS: zero-code instrumentation of boto3 and a :class:`~queue_telemetry.QueueClient` adapter.

* :class:`SqsInstrumentor` -- instruments every boto3 SQS client created after
  ``instrument()`` (also through ``opentelemetry-instrument``).
* :func:`process` -- ``with process(message):`` marks the application's handling of one
  received message explicitly (iterating ``response["Messages"]`` does it implicitly).
* :class:`SqsQueueClient` -- the :class:`~queue_telemetry.QueueClient` contract over a boto3
  SQS client, to wrap in :class:`~queue_telemetry.InstrumentedQueueClient`
  (:func:`instrumented_sqs_client` does both).
"""

from __future__ import annotations

from typing import Any, Mapping

from opentelemetry import trace

from queue_telemetry.sqs._client import SqsQueueClient, instrumented_sqs_client
from queue_telemetry.sqs._extension import SYSTEM, THROTTLING_ERROR_CODES, SqsMessage, queue_name_of
from queue_telemetry.sqs._instrumentor import SqsInstrumentor, active_extension

__all__ = [
    "SqsInstrumentor",
    "SqsQueueClient",
    "SqsMessage",
    "instrumented_sqs_client",
    "process",
    "queue_name_of",
    "SYSTEM",
    "THROTTLING_ERROR_CODES",
]


class _NoProcess:
    def __enter__(self) -> trace.Span:
        return trace.INVALID_SPAN

    def __exit__(self, *exc: Any) -> bool:
        return False


def process(message: Mapping[str, Any]) -> Any:
    """Context manager: a ``process`` span for the handling of one received SQS message.

    Exceptions escaping the block are recorded on the span and propagate. When SQS is not
    instrumented it does nothing.
    """
    extension = active_extension()
    if extension is None:
        return _NoProcess()
    return extension.process(message)
