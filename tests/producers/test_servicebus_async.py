"""ServiceBusInstrumentor over the async API: the SDK's own aio handlers over a fake transport.

As in ``servicebus_fake``, only the AMQP link operations of each handler are replaced (here by
coroutines); the SDK's ``aio.ServiceBusClient``, senders, receivers and messages are used unchanged.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from typing import Any, Iterator

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus._pyamqp.message import Header, Message
from azure.servicebus._pyamqp.performatives import TransferFrame
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.aio._servicebus_session_async import ServiceBusSession
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from queue_telemetry.servicebus import ServiceBusInstrumentor

from .servicebus_fake import FakeNamespace


def _encoded(value: Any) -> Any:
    return value.encode("utf-8") if isinstance(value, str) else value


class _FakeLink:
    async def close_async(self) -> None:
        pass


class AsyncFakeNamespace(FakeNamespace):
    """:class:`FakeNamespace` for ``azure.servicebus.aio`` handlers (same queues and records)."""

    def async_client(self) -> ServiceBusClient:
        return self.patched_client(ServiceBusClient, self.attach_async_sender, self.attach_async_receiver)

    def attach_async_sender(self, sender: Any, queue: str) -> Any:
        async def open_link(timeout: Any = None) -> None:
            pass

        async def send(message: Any, timeout: Any = None, last_exception: Any = None) -> None:
            for item in getattr(message, "_messages", None) or [message]:
                self.queues[queue].append((sender._amqp_transport.to_outgoing_amqp_message(item.raw_amqp_message), 0))

        async def management(operation: Any, body: Any, handler: Any, timeout: Any = None) -> list[int]:
            # the schedule request: one sequence number per message
            return list(range(len(body["messages"])))

        sender._open = open_link
        sender._max_message_size_on_link = 256 * 1024
        sender._max_batch_size_on_link = 256 * 1024
        sender._running = True
        sender._send = send
        sender._mgmt_request_response_with_retry = management
        return sender

    def attach_async_receiver(self, receiver: Any, queue: str) -> Any:
        async def open_link(timeout: Any = None) -> None:
            pass

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

        async def receive(max_message_count: int | None = None, timeout: float | None = None) -> list[Any]:
            pending = self.queues[queue]
            taken = [pending.popleft() for _ in range(min(len(pending), max_message_count or 1))]
            return [build(entry) for entry in taken]

        async def iter_next(wait_time: Any = None) -> Any:
            pending = self.queues[queue]
            if not pending:
                raise StopAsyncIteration
            return build(pending.popleft())

        async def settle(message: Any, settle_operation: str, dead_letter_reason: str | None = None,
                         dead_letter_error_description: str | None = None) -> None:
            self.settlements.append((settle_operation, dead_letter_reason))

        async def renew(*tokens: Any, timeout: Any = None) -> Any:
            self.renewals += 1
            return {b"expirations": [int(time.time() * 1000) + 60_000]}

        receiver._open = open_link
        receiver._running = True
        receiver._handler = _FakeLink()
        receiver._receive = receive
        receiver._iter_next = iter_next
        receiver._settle_message = settle
        receiver._renew_locks = renew
        return receiver


@pytest.fixture
def namespace(telemetry, clock) -> Iterator[AsyncFakeNamespace]:
    instrumentor = ServiceBusInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider,
                            clock=clock)
    yield AsyncFakeNamespace()
    instrumentor.uninstrument()


def spans_named(telemetry, name: str) -> list[Any]:
    return [s for s in telemetry.finished_spans() if s.name == name]


def test_send_injects_the_send_context(namespace, telemetry) -> None:
    message = ServiceBusMessage("x", application_properties={"a": "b"}, message_id="m-1", correlation_id="c-1")

    async def scenario() -> None:
        await namespace.async_client().get_queue_sender("orders").send_messages(message)

    asyncio.run(scenario())
    span = telemetry.span("send orders")
    assert span.kind is SpanKind.PRODUCER
    assert span.attributes["messaging.system"] == "servicebus"
    assert span.attributes["messaging.operation.type"] == "send"
    assert span.attributes["messaging.message.id"] == "m-1"
    assert span.attributes["server.address"] == "fake-ns.servicebus.windows.net"
    assert message.application_properties["a"] == "b"
    assert format(span.context.span_id, "016x") in message.application_properties["traceparent"]
    assert telemetry.value("messaging.client.sent.messages", messaging__destination__name="orders") == 1


def test_batches_and_lists_get_one_create_span_per_message(namespace, telemetry) -> None:
    async def scenario() -> None:
        sender = namespace.async_client().get_queue_sender("orders")
        await sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
        batch = await sender.create_message_batch()
        batch.add_message(ServiceBusMessage("c"))
        await sender.send_messages(batch)

    asyncio.run(scenario())
    creates = spans_named(telemetry, "create orders")
    sends = spans_named(telemetry, "send orders")
    assert len(creates) == 3
    assert [s.kind for s in sends] == [SpanKind.CLIENT, SpanKind.CLIENT]
    assert [s.attributes["messaging.batch.message_count"] for s in sends] == [2, 1]
    assert {l.context.span_id for s in sends for l in s.links} == {c.context.span_id for c in creates}


def test_schedule_records_a_schedule_send(namespace, telemetry) -> None:
    messages = [ServiceBusMessage("a"), ServiceBusMessage("b")]
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)

    async def scenario() -> list[int]:
        return await namespace.async_client().get_queue_sender("orders").schedule_messages(messages, at)

    assert asyncio.run(scenario()) == [0, 1]
    span = telemetry.span("schedule orders")
    assert span.attributes["messaging.operation.type"] == "send"
    assert span.attributes["messaging.batch.message_count"] == 2
    creates = spans_named(telemetry, "create orders")
    assert {l.context.span_id for l in span.links} == {c.context.span_id for c in creates}
    assert all(format(c.context.span_id, "016x") in m.application_properties["traceparent"]
               for c, m in zip(sorted(creates, key=lambda c: c.start_time), messages))


def test_receive_and_complete(namespace, telemetry) -> None:
    async def scenario() -> None:
        client = namespace.async_client()
        await client.get_queue_sender("orders").send_messages(ServiceBusMessage("x", message_id="m-1"))
        receiver = client.get_queue_receiver("orders")
        for message in await receiver.receive_messages():
            assert trace.get_current_span().name == "process orders"
            await receiver.complete_message(message)

    asyncio.run(scenario())
    send = telemetry.span("send orders")
    receive, process, complete = (telemetry.span(f"{op} orders") for op in ("receive", "process", "complete"))
    assert receive.kind is SpanKind.CLIENT and process.kind is SpanKind.CONSUMER and complete.kind is SpanKind.CLIENT
    for span in (receive, process, complete):
        assert [l.context.span_id for l in span.links] == [send.context.span_id]
    assert complete.parent.span_id == process.context.span_id
    assert complete.attributes["messaging.servicebus.disposition_status"] == "complete"
    assert complete.attributes["messaging.message.id"] == "m-1"
    assert namespace.settlements == [("complete", None)]
    assert telemetry.value("messaging.client.consumed.messages", messaging__destination__name="orders") == 1
    assert telemetry.value("queue.messages.acknowledged") == 1
    assert telemetry.value("queue.messages.in_flight") == 0


def test_async_iteration_processes_each_message_in_the_loop_body(namespace, telemetry) -> None:
    async def scenario() -> list[Any]:
        client = namespace.async_client()
        await client.get_queue_sender("orders").send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
        receiver = client.get_queue_receiver("orders")
        before = otel_context.get_current()
        seen: list[Any] = []
        async for message in receiver:
            current = trace.get_current_span()
            assert current.is_recording() and current.name == "process orders"
            ended = [s.context.span_id for s in spans_named(telemetry, "process orders")]
            assert ended == [s.get_span_context().span_id for s in seen]
            seen.append(current)
            await receiver.complete_message(message)
        assert otel_context.get_current() == before
        return seen

    seen = asyncio.run(scenario())
    processes = spans_named(telemetry, "process orders")
    assert [p.context.span_id for p in processes] == [s.get_span_context().span_id for s in seen]
    assert sorted(p.links[0].context.span_id for p in processes) == sorted(
        c.context.span_id for c in spans_named(telemetry, "create orders"))
    receives = spans_named(telemetry, "receive orders")  # one per message, plus the final empty poll
    assert [len(r.links) for r in receives] == [1, 1, 1, 0]
    settles = spans_named(telemetry, "complete orders")
    assert {s.parent.span_id for s in settles} == {s.get_span_context().span_id for s in seen}


def test_leaving_an_async_loop_early_ends_the_process_span(namespace, telemetry) -> None:
    async def scenario() -> None:
        client = namespace.async_client()
        await client.get_queue_sender("orders").send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
        receiver = client.get_queue_receiver("orders")
        before = otel_context.get_current()
        async for _message in receiver:
            break
        assert otel_context.get_current() == before

    asyncio.run(scenario())
    assert len(spans_named(telemetry, "process orders")) == 1


def test_dead_letter_with_reason(namespace, telemetry) -> None:
    async def scenario() -> None:
        client = namespace.async_client()
        await client.get_queue_sender("orders").send_messages(ServiceBusMessage("x"))
        receiver = client.get_queue_receiver("orders")
        (message,) = await receiver.receive_messages()
        await receiver.dead_letter_message(message, reason="processing_failed", error_description="bad")

    asyncio.run(scenario())
    span = telemetry.span("dead_letter orders")
    assert span.attributes["messaging.servicebus.disposition_status"] == "dead_letter"
    assert span.attributes["messaging.operation.type"] == "settle"
    assert [l.context.span_id for l in span.links] == [telemetry.span("send orders").context.span_id]
    assert namespace.settlements == [("dead-letter", "processing_failed")]
    assert telemetry.value("queue.messages.dead_lettered", queue__dead_letter__reason="processing_failed") == 1


def test_lock_renewals_and_sessions(namespace, telemetry, clock) -> None:
    async def scenario() -> None:
        client = namespace.async_client()
        await client.get_queue_sender("orders").send_messages(ServiceBusMessage("x"))
        receiver = client.get_queue_receiver("orders")
        (message,) = await receiver.receive_messages()
        await receiver.renew_message_lock(message)
        session_receiver = client.get_queue_receiver("orders", session_id="s-1")
        assert telemetry.value("queue.sessions.active") == 1
        clock.advance(30)
        await session_receiver.close()

    asyncio.run(scenario())
    assert namespace.renewals == 1
    assert telemetry.value("queue.servicebus.lock_renewals", messaging__destination__name="orders") == 1
    assert telemetry.value("queue.sessions.closed") == 1 and telemetry.value("queue.sessions.active") == 0
    (_, point), = telemetry.points("queue.session.duration")
    assert point.sum == pytest.approx(30)


_ASYNC_METHODS = [
    (ServiceBusSender, "send_messages"), (ServiceBusSender, "schedule_messages"),
    (ServiceBusSender, "create_message_batch"), (ServiceBusReceiver, "receive_messages"),
    (ServiceBusReceiver, "__aiter__"), (ServiceBusReceiver, "complete_message"),
    (ServiceBusReceiver, "abandon_message"), (ServiceBusReceiver, "defer_message"),
    (ServiceBusReceiver, "dead_letter_message"), (ServiceBusReceiver, "renew_message_lock"),
    (ServiceBusReceiver, "close"), (ServiceBusSession, "renew_lock"),
    (ServiceBusClient, "get_queue_receiver"), (ServiceBusClient, "get_subscription_receiver"),
]


def test_uninstrument_restores_the_original_methods(telemetry) -> None:
    originals = [owner.__dict__[name] for owner, name in _ASYNC_METHODS]
    instrumentor = ServiceBusInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    assert all(owner.__dict__[name] is not original
               for (owner, name), original in zip(_ASYNC_METHODS, originals))
    instrumentor.uninstrument()
    instrumentor.uninstrument()
    assert [owner.__dict__[name] for owner, name in _ASYNC_METHODS] == originals

    async def scenario() -> None:
        await AsyncFakeNamespace().async_client().get_queue_sender("orders").send_messages(ServiceBusMessage("x"))

    asyncio.run(scenario())
    assert telemetry.finished_spans() == []
