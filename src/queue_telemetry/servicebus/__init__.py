"""Azure Service Bus: zero-code instrumentation of azure-servicebus and a QueueClient adapter.

* :class:`ServiceBusInstrumentor` -- instruments senders and receivers of the sync and async
  APIs (also through ``opentelemetry-instrument``).
* :func:`process` -- ``with process(receiver, message):`` marks the handling of one received
  message explicitly (iterating the received list or the receiver does it implicitly).
* :class:`ServiceBusQueueClient` -- the :class:`~queue_telemetry.QueueClient` contract over a
  ``ServiceBusClient``, to wrap in :class:`~queue_telemetry.InstrumentedQueueClient`.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from queue_telemetry._safe_invoke import safe_invoke
from queue_telemetry.servicebus._client import ServiceBusQueueClient, instrumented_servicebus_client
from queue_telemetry.servicebus._extension import SYSTEM, _destination
from queue_telemetry.servicebus._instrumentor import ServiceBusInstrumentor, active_extension

__all__ = ["ServiceBusInstrumentor", "ServiceBusQueueClient", "instrumented_servicebus_client", "process", "SYSTEM"]


class _Process:
    def __init__(self, receiver: Any, message: Any) -> None:
        self._receiver, self._message, self._op = receiver, message, None

    def __enter__(self) -> trace.Span:
        extension = active_extension()
        if extension is None:
            return trace.INVALID_SPAN
        queue, server, _extra = _destination(self._receiver)
        self._op = safe_invoke("servicebus.process", None, extension.start_process, queue, server, self._message)
        self._extension = extension
        return self._op.span if self._op is not None else trace.INVALID_SPAN

    def __exit__(self, exc_type: Any, error: BaseException | None, traceback: Any) -> bool:
        if self._op is not None:
            safe_invoke("servicebus.processed", None, self._extension.recorder.finish_process, self._op, error)
            self._op = None
        return False


def process(receiver: Any, message: Any) -> Any:
    """Context manager: a ``process`` span for handling ``message`` received by ``receiver``.

    Exceptions escaping the block are recorded and propagate. Does nothing when Service Bus is
    not instrumented.
    """
    return _Process(receiver, message)
