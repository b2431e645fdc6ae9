"""What every provider extension shares: user hooks, the safe-invoke guard, traced batches.

The hook interface is deliberately tiny. An instrumentor accepts three optional callables:

``request_hook(span, operation, params)``
    before the SDK call, with the span of the operation and the call's keyword arguments;
``response_hook(span, operation, result)``
    after a successful SDK call, with its result;
``process_hook(span, message)``
    when a ``process`` span starts for a received message.

Each runs through :func:`queue_telemetry._safe_invoke.safe_invoke`: an exception in a hook is
counted and logged and never reaches the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator

from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation

from queue_telemetry._messaging_core import MessagingRecorder, Operation
from queue_telemetry._safe_invoke import safe_invoke

__all__ = ["Hooks", "TracedMessages", "call_sdk", "call_sdk_async", "recorder_and_hooks"]

RequestHook = Callable[[trace.Span, str, dict], None]
ResponseHook = Callable[[trace.Span, str, Any], None]
ProcessHook = Callable[[trace.Span, Any], None]


@dataclass(frozen=True)
class Hooks:
    """The user's hooks (each optional), always invoked through the safe-invoke wrapper."""

    request_hook: RequestHook | None = None
    response_hook: ResponseHook | None = None
    process_hook: ProcessHook | None = None

    def request(self, op: Operation | None, operation: str, params: dict) -> None:
        if self.request_hook is not None and op is not None:
            safe_invoke("request_hook", None, self.request_hook, op.span, operation, params)

    def response(self, op: Operation | None, operation: str, result: Any) -> None:
        if self.response_hook is not None and op is not None:
            safe_invoke("response_hook", None, self.response_hook, op.span, operation, result)

    def process(self, op: Operation | None, message: Any) -> None:
        if self.process_hook is not None and op is not None:
            safe_invoke("process_hook", None, self.process_hook, op.span, message)


def recorder_and_hooks(system: str, options: dict[str, Any]) -> tuple[MessagingRecorder, Hooks]:
    """Build a provider's recorder and hooks from the keyword options of ``instrument()``.

    ``system`` is the provider's ``messaging.system`` value; ``options`` are the instrumentor's
    keyword arguments (see each instrumentor's module docstring). Absent options are ``None``.
    """
    recorder = MessagingRecorder(
        system,
        tracer_provider=options.get("tracer_provider"),
        meter_provider=options.get("meter_provider"),
        logger_provider=options.get("logger_provider"),
        create_spans=options.get("create_spans"),
        parent_process_from_message=options.get("parent_process_from_message"),
        clock=options.get("clock"),
    )
    hooks = Hooks(options.get("request_hook"), options.get("response_hook"), options.get("process_hook"))
    return recorder, hooks


def call_sdk(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the provider SDK with lower-layer instrumentations (botocore, HTTP) suppressed."""
    with suppress_instrumentation(), suppress_http_instrumentation():
        return function(*args, **kwargs)


async def call_sdk_async(function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """:func:`call_sdk` for a coroutine function of an async SDK: awaited with lower layers suppressed."""
    with suppress_instrumentation(), suppress_http_instrumentation():
        return await function(*args, **kwargs)


class TracedMessages(list):  # type: ignore[type-arg]
    """A list of received messages whose iteration is the application handling them.

    It is a plain list for every other purpose (indexing, ``len``, equality, JSON). Iterating
    it in a ``for`` loop makes each message's ``process`` span current for the loop body,
    starting when the loop reaches the message and ending when the loop moves on (or leaves);
    the previous context is restored afterwards. Each message gets one process span, on the
    first iteration that reaches it; later iterations (building delete entries, say) yield it
    plainly. An exception raised in the loop body does not reach the iterator, so it cannot be
    recorded on the span: use the explicit ``process`` context managers for that.
    """

    __slots__ = ("_start", "_recorder", "_handled")

    def __init__(
        self, messages: list[Any], recorder: MessagingRecorder,
        start: Callable[[Any], Operation | None],
    ) -> None:
        super().__init__(messages)
        self._recorder = recorder
        self._start = start
        self._handled: set[int] = set()

    def __iter__(self) -> Iterator[Any]:
        index = 0
        while index < len(self):
            message = list.__getitem__(self, index)
            op = None
            if index not in self._handled:
                self._handled.add(index)
                op = safe_invoke("TracedMessages.start_process", None, self._start, message)
            try:
                yield message
            finally:
                if op is not None:
                    safe_invoke("TracedMessages.finish_process", None, self._recorder.finish_process, op)
            index += 1

    def __reduce__(self) -> Any:  # pickles as a plain list
        return (list, (list(list.__iter__(self)),))
