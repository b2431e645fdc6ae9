"""An offline Service Bus namespace faked at the transport level of real SDK handlers.

The SDK's own ``ServiceBusClient``, ``ServiceBusSender``, ``ServiceBusReceiver`` and message
classes are used unchanged; only the AMQP link operations of each handler (``_open``,
``_send``, ``_receive``, ``_iter_next``, ``_settle_message``, ``_renew_locks``) are replaced
by this in-process broker. Sent messages become real pyamqp ``Message`` objects (bytes keys
and values in application properties on the way back, as on the wire).
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict, deque
from typing import Any

from azure.servicebus import ServiceBusClient
from azure.servicebus._pyamqp.message import Header, Message
from azure.servicebus._pyamqp.performatives import TransferFrame

CONNECTION_STRING = (
    "Endpoint=sb://fake-ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0"
)


def _encoded(value: Any) -> Any:
    return value.encode("utf-8") if isinstance(value, str) else value


class _FakeLink:
    """The AMQP receive link of a handler: only closing is needed."""

    def close(self) -> None:
        pass


class FakeNamespace:
    """Queues of pyamqp messages, and the settlements and lock renewals seen."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[tuple[Message, int]]] = defaultdict(deque)
        self.settlements: list[tuple[str, str | None]] = []
        self.renewals = 0
        self.fail_next_send: Exception | None = None

    def client(self) -> ServiceBusClient:
        return self.patched_client(ServiceBusClient, self.attach_sender, self.attach_receiver)

    @staticmethod
    def patched_client(client_class: Any, attach_sender: Any, attach_receiver: Any) -> Any:
        """A real ``client_class`` whose queue senders and receivers get the fake transport."""
        client = client_class.from_connection_string(CONNECTION_STRING)
        original_sender, original_receiver = client.get_queue_sender, client.get_queue_receiver

        def get_queue_sender(queue_name: str, **kwargs: Any) -> Any:
            return attach_sender(original_sender(queue_name, **kwargs), queue_name)

        def get_queue_receiver(queue_name: str, **kwargs: Any) -> Any:
            return attach_receiver(original_receiver(queue_name, **kwargs), queue_name)

        client.get_queue_sender = get_queue_sender  # type: ignore[method-assign]
        client.get_queue_receiver = get_queue_receiver  # type: ignore[method-assign]
        return client

    # --- sender transport --------------------------------------------------------------------------

    def attach_sender(self, sender: Any, queue: str) -> Any:
        sender._open = lambda timeout=None: None
        sender._max_message_size_on_link = 256 * 1024
        sender._max_batch_size_on_link = 256 * 1024
        sender._running = True

        def send(message: Any, timeout: Any = None, last_exception: Any = None) -> None:
            if self.fail_next_send is not None:
                error, self.fail_next_send = self.fail_next_send, None
                raise error
            items = getattr(message, "_messages", None) or [message]
            for item in items:
                self.queues[queue].append((sender._amqp_transport.to_outgoing_amqp_message(item.raw_amqp_message), 0))

        sender._send = send
        return sender

    # --- receiver transport ------------------------------------------------------------------------

    def attach_receiver(self, receiver: Any, queue: str) -> Any:
        receiver._open = lambda timeout=None: None
        receiver._running = True
        receiver._handler = _FakeLink()

        def build(entry: tuple[Message, int]) -> Any:
            message, deliveries = entry
            now_ms = int(time.time() * 1000)
            wire = message._replace(
                header=Header(delivery_count=deliveries),
                application_properties={
                    _encoded(k): _encoded(v) for k, v in (message.application_properties or {}).items()
                } or None,
                message_annotations={b"x-opt-enqueued-time": now_ms, b"x-opt-locked-until": now_ms + 60_000},
            )
            built = receiver._build_received_message(
                (TransferFrame(handle=0, delivery_id=1, delivery_tag=uuid.uuid4().bytes_le), wire)
            )
            built.__dict__["_fake_entry"] = entry
            return built

        def receive(max_message_count: int | None = None, timeout: float | None = None) -> list[Any]:
            pending = self.queues[queue]
            taken = [pending.popleft() for _ in range(min(len(pending), max_message_count or 1))]
            return [build(entry) for entry in taken]

        def iter_next(wait_time: Any = None) -> Any:
            pending = self.queues[queue]
            if not pending:
                raise StopIteration
            return build(pending.popleft())

        def settle(message: Any, settle_operation: str, dead_letter_reason: str | None = None,
                   dead_letter_error_description: str | None = None) -> None:
            self.settlements.append((settle_operation, dead_letter_reason))
            if settle_operation == "abandon":
                original, deliveries = message.__dict__["_fake_entry"]
                self.queues[queue].append((original, deliveries + 1))

        def renew(*tokens: Any, timeout: Any = None) -> Any:
            self.renewals += 1
            return {b"expirations": [int(time.time() * 1000) + 60_000]}

        receiver._receive = receive
        receiver._iter_next = iter_next
        receiver._settle_message = settle
        receiver._renew_locks = renew
        return receiver
