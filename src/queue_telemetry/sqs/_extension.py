"""The SQS extension: boto3 SQS calls translated into messaging spans and metrics.

One method per SQS operation. Each starts its span when the application calls, injects the
creation context into ``MessageAttributes`` (never beyond ten attributes, never over a user's
value), calls botocore with the lower layers suppressed, and records the outcome. Received
messages are handed back as :class:`~queue_telemetry._extension.TracedMessages` of
:class:`SqsMessage` (plain dicts to the application). The only record of a received message is
a weak reference by receipt handle, so settle spans can link to the creation context while the
application still holds the message; nothing outlives the messages.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv._incubating.attributes.messaging_attributes import MESSAGING_MESSAGE_ID
from opentelemetry.trace import SpanKind

from queue_telemetry._extension import Hooks, TracedMessages, call_sdk
from queue_telemetry._messaging_core import (
    RECEIVE,
    SEND,
    SETTLE,
    MessagingRecorder,
    Operation,
    batch_attributes,
    bounded_error_type,
    error_type_of_exception,
    single_message_attributes,
)
from queue_telemetry._safe_invoke import safe_invoke
from queue_telemetry.catalog import Attr
from queue_telemetry.propagation import inject_sqs_attributes, sqs_creation_context

__all__ = ["SqsExtension", "SqsMessage", "SYSTEM", "THROTTLING_ERROR_CODES", "queue_name_of"]

#: ``messaging.system`` of SQS (the catalog's provider value).
SYSTEM = "aws_sqs"

#: Error codes SQS and the AWS SDK use for throttling.
THROTTLING_ERROR_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
    "AWS.SimpleQueueService.RequestThrottled", "SlowDown",
})

#: The operations the extension instruments (botocore operation names).
OPERATIONS = frozenset({
    "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
    "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
})

_FIFO_DEDUPLICATION_WINDOW_NS = 5 * 60 * 1_000_000_000
_FIFO_DEDUPLICATION_MEMORY = 10_000


class SqsMessage(dict):  # type: ignore[type-arg]
    """A received SQS message: the SDK's dict, plus what the process span needs (not in the dict)."""

    __slots__ = ("__weakref__", "queue", "server", "creation")


def queue_name_of(queue_url: str | None) -> str | None:
    """The queue name at the end of an SQS queue URL."""
    if not queue_url or not isinstance(queue_url, str):
        return None
    return queue_url.rstrip("/").rsplit("/", 1)[-1] or None


def _server_of(queue_url: str | None, client: Any) -> dict[str, Any]:
    url = queue_url if isinstance(queue_url, str) and "://" in queue_url else None
    if url is None:
        url = getattr(getattr(client, "meta", None), "endpoint_url", None)
    if not url:
        return {}
    parsed = urlparse(url)
    if not parsed.hostname:
        return {}
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return {Attr.SERVER_ADDRESS: parsed.hostname, Attr.SERVER_PORT: port}


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = (response.get("Error") or {}).get("Code")
        if isinstance(code, str):
            return code
    return None


def sqs_error_type(error: BaseException) -> str:
    """``error.type`` of a failed SQS call: the AWS error code when bounded, else the class."""
    code = _error_code(error)
    if code is not None:
        return bounded_error_type(code)
    return error_type_of_exception(error)


class SqsExtension:
    """Instruments one process's boto3 SQS calls; shared by all clients. Thread-safe."""

    def __init__(self, recorder: MessagingRecorder, hooks: Hooks) -> None:
        self.recorder = recorder
        self.hooks = hooks
        self._receipts: "weakref.WeakValueDictionary[str, SqsMessage]" = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._recent_deduplication_ids: OrderedDict[bytes, int] = OrderedDict()

    # --- entry point -----------------------------------------------------------------------------

    def call(self, operation: str, client: Any, original: Callable[..., Any], params: dict) -> Any:
        """Run ``original(client, **params)`` (SQS ``operation``) with telemetry around it."""
        if operation not in OPERATIONS or not is_instrumentation_enabled():
            return original(client, **params)
        handler = getattr(self, "_" + operation)
        return handler(operation, client, original, params)

    def tracked_messages(self) -> int:
        """How many received messages are still reachable by receipt handle (held by the app)."""
        return len(self._receipts)

    # --- helpers ---------------------------------------------------------------------------------

    def _start(
        self, queue: str | None, name: str, type_: str | None, kind: SpanKind, server: dict,
        **kwargs: Any,
    ) -> Operation | None:
        return safe_invoke(
            "SqsExtension.start", None, lambda: self.recorder.start(queue, name, type_, kind, server=server, **kwargs)
        )

    def _fail(self, finish: Callable[..., None], op: Operation | None, queue: str | None, error: BaseException, *args: Any) -> None:
        error_type = sqs_error_type(error)
        if op is not None:
            safe_invoke("SqsExtension.finish", None, lambda: finish(op, *args, error=error, error_type=error_type))
        if _error_code(error) in THROTTLING_ERROR_CODES:
            safe_invoke(
                "SqsExtension.throttled", None, self.recorder.count,
                self.recorder.instruments.sqs_throttling_errors, queue,
            )

    # --- send ----------------------------------------------------------------------------------------

    def _SendMessage(self, operation: str, client: Any, original: Callable[..., Any], params: dict) -> Any:
        url = params.get("QueueUrl")
        queue, server = queue_name_of(url), _server_of(url, client)
        op = self._start(queue, SEND, SEND, SpanKind.PRODUCER, server)
        if op is not None:
            self.hooks.request(op, operation, params)
            params = self._with_context(params, op.span)
        try:
            result = call_sdk(original, client, **params)
        except BaseException as error:
            self._fail(self._finish_send, op, queue, error, 1, server)
            raise
        if op is not None:
            safe_invoke("SqsExtension.sent", None, self._sent_one, op, operation, queue, params, result, server)
        return result

    def _sent_one(self, op: Operation, operation: str, queue: str | None, params: dict, result: Any, server: dict) -> None:
        message_id = result.get("MessageId") if isinstance(result, Mapping) else None
        if message_id and op.span.is_recording():
            op.span.set_attribute(MESSAGING_MESSAGE_ID, message_id)
        self.hooks.response(op, operation, result)
        self._count_deduplication(queue, [params])
        self._finish_send(op, 1, server=server)

    def _finish_send(self, op: Operation, count: int, server: dict, **kwargs: Any) -> None:
        self.recorder.finish_send(op, count, server=server, **kwargs)

    def _with_context(self, params: dict, span: trace.Span, key: str = "MessageAttributes") -> dict:
        original = params.get(key)
        injected = inject_sqs_attributes(original, trace.set_span_in_context(span))
        updated = dict(params)
        if injected or original is not None:
            updated[key] = injected
        else:
            updated.pop(key, None)
        return updated

    def _SendMessageBatch(self, operation: str, client: Any, original: Callable[..., Any], params: dict) -> Any:
        url = params.get("QueueUrl")
        entries = params.get("Entries")
        if not isinstance(entries, list) or not entries:
            return original(client, **params)
        queue, server = queue_name_of(url), _server_of(url, client)
        recorder = self.recorder
        kind = SpanKind.CLIENT if recorder.create_spans else SpanKind.PRODUCER
        op = self._start(queue, SEND, SEND, kind, server, attributes=batch_attributes(len(entries)))
        creates: list[Operation] = []
        if op is not None and recorder.create_spans:  # children of the send span, linked from it
            creates = safe_invoke(
                "SqsExtension.create", [], lambda: [recorder.create(queue, server) for _ in entries]
            )
            for create in creates[:128]:
                op.span.add_link(create.span.get_span_context())
        if op is not None:
            self.hooks.request(op, operation, params)
            contexts = [c.span for c in creates] if len(creates) == len(entries) else [op.span] * len(entries)
            params = safe_invoke("SqsExtension.inject", params, lambda: {
                **params,
                "Entries": [
                    self._with_context(entry, span) if isinstance(entry, dict) else entry
                    for entry, span in zip(entries, contexts)
                ],
            })
        try:
            result = call_sdk(original, client, **params)
        except BaseException as error:
            self._fail(self._finish_send, op, queue, error, len(entries), server)
            raise
        if op is not None:
            safe_invoke("SqsExtension.sent_batch", None, self._sent_batch, op, operation, queue, params, result, server)
        return result

    def _sent_batch(self, op: Operation, operation: str, queue: str | None, params: dict, result: Any, server: dict) -> None:
        self.hooks.response(op, operation, result)
        failed = list(result.get("Failed") or []) if isinstance(result, Mapping) else []
        succeeded = {item.get("Id") for item in (result.get("Successful") or [])} if isinstance(result, Mapping) else set()
        self._count_deduplication(queue, [e for e in params.get("Entries", []) if e.get("Id") in succeeded])
        self._finish_send(op, len(params.get("Entries", [])) - len(failed), server)
        recorder = self.recorder
        for item in failed:
            error_type = bounded_error_type(item.get("Code"))
            recorder.instruments.sent.add(1, recorder.metric_attributes(queue, SEND, error_type=error_type, server=server))
            recorder.count_error(queue, "send", error_type)

    def _count_deduplication(self, queue: str | None, entries: list[Mapping[str, Any]]) -> None:
        """Count FIFO sends the queue will deduplicate (same id within five minutes)."""
        if not queue or not queue.endswith(".fifo"):
            return
        now = time.monotonic_ns()
        duplicates = 0
        with self._lock:
            recent = self._recent_deduplication_ids
            while recent:
                oldest_key, seen = next(iter(recent.items()))
                if now - seen < _FIFO_DEDUPLICATION_WINDOW_NS and len(recent) <= _FIFO_DEDUPLICATION_MEMORY:
                    break
                recent.popitem(last=False)
            for entry in entries:
                identity = entry.get("MessageDeduplicationId") or entry.get("MessageBody") or ""
                key = hashlib.blake2b(f"{queue}\0{identity}".encode(), digest_size=16).digest()
                if key in recent:
                    duplicates += 1
                    continue
                recent[key] = now
        if duplicates:
            self.recorder.count(self.recorder.instruments.sqs_fifo_deduplications, queue, duplicates)

    # --- receive ---------------------------------------------------------------------------------------

    def _ReceiveMessage(self, operation: str, client: Any, original: Callable[..., Any], params: dict) -> Any:
        url = params.get("QueueUrl")
        queue, server = queue_name_of(url), _server_of(url, client)
        asked = params.get("MaxNumberOfMessages") or 1
        op = self._start(queue, RECEIVE, RECEIVE, SpanKind.CLIENT, server)
        if op is not None:
            self.hooks.request(op, operation, params)
            params = safe_invoke("SqsExtension.attribute_names", params, _asking_for_context, params)
        try:
            result = call_sdk(original, client, **params)
        except BaseException as error:
            self._fail(self.recorder.finish_receive, op, queue, error, 0)
            raise
        if op is None:
            return result
        return safe_invoke(
            "SqsExtension.received", result, self._received, op, operation, queue, server, asked, result
        )

    def _received(
        self, op: Operation, operation: str, queue: str | None, server: dict, asked: int, result: Any
    ) -> Any:
        raw = result.get("Messages") if isinstance(result, dict) else None
        messages: list[SqsMessage] = []
        for item in raw or []:
            message = SqsMessage(item)
            message.queue, message.server = queue, server
            message.creation = sqs_creation_context(item.get("MessageAttributes"))
            messages.append(message)
            handle = item.get("ReceiptHandle")
            if isinstance(handle, str):
                self._receipts[handle] = message
        span = op.span
        if span.is_recording():
            for message in messages[:128]:
                if message.creation.is_valid:
                    span.add_link(message.creation)
            if asked > 1:
                span.set_attributes(batch_attributes(len(messages)))
            elif len(messages) == 1 and messages[0].get("MessageId"):
                span.set_attribute(MESSAGING_MESSAGE_ID, messages[0]["MessageId"])
        if raw is not None:
            result["Messages"] = TracedMessages(messages, self.recorder, self._start_process)
        self.hooks.response(op, operation, result)
        self.recorder.finish_receive(op, len(messages), server=server)
        return result

    def _start_process(self, message: Any) -> Operation:
        queue = getattr(message, "queue", None)
        creation = getattr(message, "creation", None) or trace.INVALID_SPAN_CONTEXT
        op = self.recorder.start_process(
            queue, creation, server=getattr(message, "server", None),
            attributes=single_message_attributes(message.get("MessageId"), None),
        )
        self.hooks.process(op, message)
        return op

    def process(self, message: Mapping[str, Any]) -> "_ProcessScope":
        return _ProcessScope(self, message)

    # --- settle ----------------------------------------------------------------------------------------

    def _known(self, handles: list[Any]) -> list[SqsMessage]:
        found = []
        for handle in handles:
            message = self._receipts.get(handle) if isinstance(handle, str) else None
            if message is not None:
                found.append(message)
        return found

    def _settle(
        self, operation: str, client: Any, original: Callable[..., Any], params: dict, *,
        name: str, outcome: str, handles: list[Any], batch: bool,
    ) -> Any:
        url = params.get("QueueUrl")
        queue, server = queue_name_of(url), _server_of(url, client)
        known = safe_invoke("SqsExtension.known", [], self._known, handles)
        links = self.recorder.links_to(m.creation for m in known)
        attributes = batch_attributes(len(handles)) if batch else (
            single_message_attributes(known[0].get("MessageId"), None) if known else {}
        )
        op = self._start(queue, name, SETTLE if outcome != "extended" else None, SpanKind.CLIENT, server,
                         links=links, attributes=attributes)
        if op is not None:
            self.hooks.request(op, operation, params)
        try:
            result = call_sdk(original, client, **params)
        except BaseException as error:
            self._fail(self._finish_settle, op, queue, error, len(handles), outcome, server)
            raise
        if op is not None:
            safe_invoke("SqsExtension.settled", None, self._settled, op, operation, queue, result, len(handles), outcome, server, batch)
        return result

    def _finish_settle(self, op: Operation, count: int, outcome: str, server: dict, **kwargs: Any) -> None:
        self.recorder.finish_settle(op, count, outcome, server=server, **kwargs)

    def _settled(
        self, op: Operation, operation: str, queue: str | None, result: Any, count: int, outcome: str,
        server: dict, batch: bool,
    ) -> None:
        self.hooks.response(op, operation, result)
        failed = list(result.get("Failed") or []) if batch and isinstance(result, Mapping) else []
        done = count - len(failed)
        if outcome == "extended":
            self.recorder.end(op)
            self.recorder.count(self.recorder.instruments.sqs_visibility_extensions, queue, done)
        else:
            self._finish_settle(op, done, outcome, server)
        for item in failed:
            self.recorder.count_error(queue, "settle", bounded_error_type(item.get("Code")))

    def _DeleteMessage(self, operation: str, client: Any, original: Callable[..., Any], params: dict) -> Any:
        return self._settle(operation, client, original, params, name="delete", outcome="acknowledged",
                            handles=[params.get("ReceiptHandle")], batch=False)

    def _DeleteMessageBatch(self, operation: str, client: Any, original: Callable[..., Any], params: dict) -> Any:
        entries = params.get("Entries")
        if not isinstance(entries, list) or not entries:
            return original(client, **params)
        return self._settle(operation, client, original, params, name="delete", outcome="acknowledged",
                            handles=[e.get("ReceiptHandle") for e in entries if isinstance(e, Mapping)], batch=True)

    def _ChangeMessageVisibility(self, operation: str, client: Any, original: Callable[..., Any], params: dict) -> Any:
        returned = params.get("VisibilityTimeout") == 0
        return self._settle(
            operation, client, original, params, name="nack" if returned else "change_visibility",
            outcome="rejected" if returned else "extended", handles=[params.get("ReceiptHandle")], batch=False,
        )

    def _ChangeMessageVisibilityBatch(self, operation: str, client: Any, original: Callable[..., Any], params: dict) -> Any:
        entries = params.get("Entries")
        if not isinstance(entries, list) or not entries:
            return original(client, **params)
        returned = all(isinstance(e, Mapping) and e.get("VisibilityTimeout") == 0 for e in entries)
        return self._settle(
            operation, client, original, params, name="nack" if returned else "change_visibility",
            outcome="rejected" if returned else "extended",
            handles=[e.get("ReceiptHandle") for e in entries if isinstance(e, Mapping)], batch=True,
        )


def _asking_for_context(params: dict) -> dict:
    """``params`` with the propagator's fields added to ``MessageAttributeNames``."""
    fields = [field for field in propagate.get_global_textmap().fields]
    names = params.get("MessageAttributeNames")
    if names is None:
        return {**params, "MessageAttributeNames": fields}
    if not isinstance(names, list) or "All" in names or ".*" in names:
        return params
    missing = [field for field in fields if field not in names]
    return {**params, "MessageAttributeNames": names + missing} if missing else params


class _ProcessScope:
    """``with process(message):`` -- the application's handling of one received SQS message."""

    def __init__(self, extension: SqsExtension, message: Mapping[str, Any]) -> None:
        self._extension = extension
        self._message = message
        self._op: Operation | None = None

    def __enter__(self) -> trace.Span:
        message = self._message
        if not isinstance(message, SqsMessage):
            wrapped = SqsMessage(message)
            wrapped.queue, wrapped.server = None, {}
            wrapped.creation = sqs_creation_context(message.get("MessageAttributes"))
            message = wrapped
        self._op = safe_invoke("SqsExtension.process", None, self._extension._start_process, message)
        return self._op.span if self._op is not None else trace.INVALID_SPAN

    def __exit__(self, exc_type: Any, error: BaseException | None, traceback: Any) -> bool:
        if self._op is not None:
            safe_invoke("SqsExtension.processed", None, self._extension.recorder.finish_process, self._op, error)
            self._op = None
        return False
