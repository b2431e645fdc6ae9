"""The :class:`~queue_telemetry.QueueClient` contract over a boto3 SQS client.

Queues are addressed by name (URLs are looked up once and cached). Session ids are FIFO
message groups. SQS has no explicit dead-letter operation: :meth:`SqsQueueClient.dead_letter`
sends the message to the queue's redrive target and deletes the original.

Every boto3 call runs with instrumentation suppressed, so wrapping this client in
:class:`~queue_telemetry.InstrumentedQueueClient` while :class:`SqsInstrumentor` is active does
not double the spans. Thread-safe as far as boto3 clients are (they are).
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from queue_telemetry._extension import call_sdk
from queue_telemetry.queue_client import (
    MessageLockLostError,
    MessageTooLargeError,
    OutgoingMessage,
    QueueError,
    QueueNotFoundError,
    QueueUnavailableError,
    ReceivedMessage,
    ThrottledError,
    UnsupportedOperationError,
)
from queue_telemetry.sqs._extension import SYSTEM, THROTTLING_ERROR_CODES, _server_of, queue_name_of

__all__ = ["SqsQueueClient", "instrumented_sqs_client"]

_NOT_FOUND = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_LOCK_LOST = {"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight"}
_TOO_LARGE = {"InvalidParameterValue.MessageTooLong", "BatchRequestTooLong", "MessageTooLong"}
#: Message attribute carrying the dead-letter reason given to :meth:`SqsQueueClient.dead_letter`.
DEAD_LETTER_REASON_ATTRIBUTE = "DeadLetterReason"


def _translate(error: Exception) -> Exception:
    response = getattr(error, "response", None)
    code = ((response or {}).get("Error") or {}).get("Code") if isinstance(response, Mapping) else None
    if code is None:
        if type(error).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
            return QueueUnavailableError(str(error))
        return error
    if code in _NOT_FOUND:
        return QueueNotFoundError(str(error))
    if code in THROTTLING_ERROR_CODES:
        return ThrottledError(str(error))
    if code in _TOO_LARGE:
        return MessageTooLargeError(str(error))
    if code in _LOCK_LOST:
        return MessageLockLostError(str(error))
    return error


class SqsQueueClient:
    """A :class:`~queue_telemetry.QueueClient` (with depth) over a boto3 SQS ``client``."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def boto3_client(self) -> Any:
        return self._client

    def _call(self, method: str, **params: Any) -> Any:
        try:
            return call_sdk(getattr(self._client, method), **params)
        except QueueError:
            raise
        except Exception as error:  # noqa: BLE001 - translated when known, else re-raised as is
            translated = _translate(error)
            if translated is error:
                raise
            raise translated from error

    def queue_url(self, queue: str) -> str:
        """The URL of ``queue`` (looked up once)."""
        with self._lock:
            url = self._urls.get(queue)
        if url is None:
            url = self._call("get_queue_url", QueueName=queue)["QueueUrl"]
            with self._lock:
                self._urls[queue] = url
        return url

    def server(self) -> dict[str, Any]:
        """``server.address``/``server.port`` of the endpoint."""
        return _server_of(None, self._client)

    # --- producer ------------------------------------------------------------------------------

    def _entry(self, queue: str, message: OutgoingMessage, session_id: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"MessageBody": message.body.decode("utf-8")}
        if message.properties:
            entry["MessageAttributes"] = {
                key: {"DataType": "String", "StringValue": value} for key, value in message.properties.items()
            }
        if session_id is not None:
            entry["MessageGroupId"] = session_id
        if queue.endswith(".fifo"):
            entry["MessageDeduplicationId"] = message.message_id or uuid.uuid4().hex
        return entry

    def send(self, queue: str, message: OutgoingMessage, session_id: str | None = None) -> str:
        result = self._call("send_message", QueueUrl=self.queue_url(queue), **self._entry(queue, message, session_id))
        return str(result["MessageId"])

    def send_batch(
        self, queue: str, messages: Sequence[OutgoingMessage], session_id: str | None = None
    ) -> list[str]:
        if not messages:
            return []
        entries = [{"Id": str(index), **self._entry(queue, m, session_id)} for index, m in enumerate(messages)]
        result = self._call("send_message_batch", QueueUrl=self.queue_url(queue), Entries=entries)
        if result.get("Failed"):
            failure = result["Failed"][0]
            raise QueueError(f"{len(result['Failed'])} of {len(entries)} messages failed: {failure.get('Code')}")
        by_id = {item["Id"]: item["MessageId"] for item in result.get("Successful", [])}
        return [str(by_id[str(index)]) for index in range(len(entries))]

    # --- consumer ------------------------------------------------------------------------------

    def receive(
        self, queue: str, max_messages: int = 1, wait_seconds: float = 0.0, session_id: str | None = None
    ) -> list[ReceivedMessage]:
        if session_id is not None:
            raise UnsupportedOperationError("SQS delivers FIFO groups in order but cannot receive one group")
        result = self._call(
            "receive_message", QueueUrl=self.queue_url(queue),
            MaxNumberOfMessages=max(1, min(10, max_messages)), WaitTimeSeconds=int(min(20, wait_seconds)),
            MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
        )
        return [self._delivery(queue, item) for item in result.get("Messages") or []]

    @staticmethod
    def _delivery(queue: str, item: Mapping[str, Any]) -> ReceivedMessage:
        attributes = item.get("Attributes") or {}
        properties = {
            key: value["StringValue"]
            for key, value in (item.get("MessageAttributes") or {}).items()
            if isinstance(value, Mapping) and "StringValue" in value
        }
        sent = int(attributes.get("SentTimestamp", "0"))
        return ReceivedMessage(
            queue=queue, message_id=item["MessageId"], body=str(item.get("Body", "")).encode("utf-8"),
            properties=properties, receipt=item["ReceiptHandle"],
            delivery_count=int(attributes.get("ApproximateReceiveCount", "1")),
            enqueued_time=datetime.fromtimestamp(sent / 1000, tz=timezone.utc),
            session_id=attributes.get("MessageGroupId"),
        )

    def acknowledge(self, message: ReceivedMessage) -> None:
        self._call("delete_message", QueueUrl=self.queue_url(message.queue), ReceiptHandle=message.receipt)

    def reject(self, message: ReceivedMessage) -> None:
        """Make the message visible again now (SQS does not say whether it will be dead-lettered)."""
        self._call(
            "change_message_visibility", QueueUrl=self.queue_url(message.queue),
            ReceiptHandle=message.receipt, VisibilityTimeout=0,
        )
        return None

    def extend_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        """Keep the message invisible for ``seconds`` more."""
        self._call(
            "change_message_visibility", QueueUrl=self.queue_url(message.queue),
            ReceiptHandle=message.receipt, VisibilityTimeout=int(seconds),
        )

    def _dead_letter_queue(self, queue: str) -> str:
        attributes = self._call(
            "get_queue_attributes", QueueUrl=self.queue_url(queue), AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        policy = attributes.get("RedrivePolicy")
        if not policy:
            raise UnsupportedOperationError(f"queue {queue!r} has no redrive policy (no dead-letter queue)")
        return str(json.loads(policy)["deadLetterTargetArn"]).rsplit(":", 1)[-1]

    def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        target = self._dead_letter_queue(message.queue)
        properties = {**message.properties, DEAD_LETTER_REASON_ATTRIBUTE: reason}
        if len(properties) > 10:
            properties = dict(message.properties)
        session = message.session_id
        self.send(target, OutgoingMessage(message.body, properties, message.message_id), session)
        self.acknowledge(message)

    # --- depth ----------------------------------------------------------------------------------

    def depth(self, queue: str) -> int:
        attributes = self._call(
            "get_queue_attributes", QueueUrl=self.queue_url(queue), AttributeNames=["ApproximateNumberOfMessages"]
        ).get("Attributes", {})
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def dead_letter_depth(self, queue: str) -> int:
        try:
            target = self._dead_letter_queue(queue)
        except UnsupportedOperationError:
            return 0
        return self.depth(target)


def instrumented_sqs_client(client: Any, **options: Any) -> Any:
    """An :class:`~queue_telemetry.InstrumentedQueueClient` over :class:`SqsQueueClient` (``client``).

    ``options`` go to :class:`~queue_telemetry.InstrumentedQueueClient`; ``server.address`` and
    ``server.port`` default to the client's endpoint.
    """
    from queue_telemetry.catalog import Attr
    from queue_telemetry.instrumented_client import InstrumentedQueueClient

    adapter = SqsQueueClient(client)
    server = adapter.server()
    options.setdefault("server_address", server.get(Attr.SERVER_ADDRESS))
    options.setdefault("server_port", server.get(Attr.SERVER_PORT))
    return InstrumentedQueueClient(adapter, system=SYSTEM, **options)
