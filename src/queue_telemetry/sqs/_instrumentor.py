"""``SqsInstrumentor``: zero-code instrumentation of boto3/botocore SQS clients.

Usage::

    from queue_telemetry.sqs import SqsInstrumentor
    SqsInstrumentor().instrument(tracer_provider=..., meter_provider=...)

or, with no code change, ``opentelemetry-instrument python app.py`` (the instrumentor is
registered under the ``opentelemetry_instrumentor`` entry point as ``queue_telemetry_sqs``).

Keyword options of :meth:`~SqsInstrumentor.instrument`:

``tracer_provider``, ``meter_provider``
    default the global providers.
``request_hook(span, operation, params)``, ``response_hook(span, operation, result)``,
``process_hook(span, message)``
    optional callables, each run through a safe-invoke wrapper.
``create_spans``
    one ``create`` span per message of ``send_message_batch`` (default
    ``OTEL_PYTHON_QUEUE_CREATE_SPANS``, true).
``parent_process_from_message``
    ``process`` spans become children of the creation context (default
    ``OTEL_PYTHON_QUEUE_PROCESS_PARENT``, false; they are always linked).
``clock``
    nanoseconds since the epoch, for tests.

How it hooks in: botocore builds each client class's API methods (``send_message`` ...) when the
client is created; the instrumentor wraps the SQS ones as they are built, so its span is the
outermost one, and it suppresses instrumentation below it (botocore's own instrumentation,
HTTP clients) around the call. Clients created before :meth:`instrument` are not instrumented.
``instrument`` and ``uninstrument`` are idempotent; after ``uninstrument`` wrapped methods pass
straight through.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from queue_telemetry._extension import recorder_and_hooks
from queue_telemetry.sqs._extension import OPERATIONS, SYSTEM, SqsExtension

__all__ = ["SqsInstrumentor", "active_extension"]

_INSTRUMENTS = ("botocore >= 1.30",)

_active: SqsExtension | None = None
_active_lock = threading.Lock()


def active_extension() -> SqsExtension | None:
    """The SQS extension in force, or None when SQS is not instrumented."""
    return _active


def _wrap_api_method(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
    api_call = wrapped(*args, **kwargs)
    try:
        operation_name = kwargs.get("operation_name") or args[1]
        service_model = kwargs.get("service_model") or args[2]
        if service_model.service_name != "sqs" or operation_name not in OPERATIONS:
            return api_call
    except Exception:  # noqa: BLE001 - an unexpected botocore signature: leave the method alone
        return api_call

    @functools.wraps(api_call)
    def traced(client: Any, *call_args: Any, **params: Any) -> Any:
        extension = _active
        if extension is None or call_args:
            return api_call(client, *call_args, **params)
        return extension.call(operation_name, client, api_call, params)

    traced.__wrapped_by_queue_telemetry__ = True  # type: ignore[attr-defined]
    return traced


class SqsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for AWS SQS through boto3/botocore (see module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        global _active
        recorder, hooks = recorder_and_hooks(SYSTEM, kwargs)
        with _active_lock:
            _active = SqsExtension(recorder, hooks)
        wrap_function_wrapper("botocore.client", "ClientCreator._create_api_method", _wrap_api_method)

    def _uninstrument(self, **kwargs: Any) -> None:
        global _active
        with _active_lock:
            _active = None
        import botocore.client

        unwrap(botocore.client.ClientCreator, "_create_api_method")
