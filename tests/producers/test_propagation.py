"""Trace context travels in message properties through the global propagator."""

from __future__ import annotations

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from queue_telemetry import (
    InMemoryBroker,
    InstrumentedQueueClient,
    OutgoingMessage,
    extract_context,
    inject_context,
)

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7


def remote_context(sampled: bool, trace_state: TraceState | None = None) -> Context:
    span_context = SpanContext(
        TRACE_ID, SPAN_ID, is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
        trace_state=trace_state or TraceState(),
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context))


@pytest.mark.parametrize("sampled", [True, False])
def test_traceparent_and_tracestate_round_trip(sampled: bool) -> None:
    state = TraceState([("vendor", "opaque-value"), ("other", "x")])
    properties: dict[str, str] = {"app": "kept"}
    inject_context(properties, remote_context(sampled, state))
    flags = "01" if sampled else "00"
    assert properties["traceparent"] == f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-{flags}"
    assert properties["tracestate"] == "vendor=opaque-value,other=x"
    assert properties["app"] == "kept"

    extracted = trace.get_current_span(extract_context(properties)).get_span_context()
    assert extracted.trace_id == TRACE_ID
    assert extracted.span_id == SPAN_ID
    assert extracted.is_remote
    assert extracted.trace_flags.sampled is sampled
    assert extracted.trace_state == state


def test_baggage_travels_too() -> None:
    properties: dict[str, str] = {}
    inject_context(properties, baggage.set_baggage("tenant", "acme", remote_context(True)))
    assert baggage.get_baggage("tenant", extract_context(properties)) == "acme"


@pytest.mark.parametrize(
    "traceparent",
    [
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # missing flags
        "garbage",
    ],
)
def test_invalid_traceparent_is_ignored(traceparent: str) -> None:
    context = extract_context({"traceparent": traceparent})
    assert not trace.get_current_span(context).get_span_context().is_valid


def test_the_global_propagator_is_what_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    class Marker:
        fields = {"x-marker"}

        def inject(self, carrier, context=None, setter=None):
            setter.set(carrier, "x-marker", "seen")

        def extract(self, carrier, context=None, getter=None):
            assert getter.get(carrier, "x-marker") == ["seen"]
            return context if context is not None else Context()

    monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", CompositePropagator([Marker()]))
    properties: dict[str, str] = {}
    inject_context(properties)
    assert properties == {"x-marker": "seen"}
    extract_context(properties)


def test_instrumented_send_injects_its_span_context(telemetry) -> None:
    client = InstrumentedQueueClient(
        InMemoryBroker().client(), tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    original = OutgoingMessage(b"x", {"app": "value"})
    with trace.get_tracer("test", tracer_provider=telemetry.tracer_provider).start_as_current_span(
        "parent"
    ):
        client.send("q", original)
    assert original.properties == {"app": "value"}  # the caller's message is untouched
    [received] = client.receive("q")
    send_span = telemetry.span("send q")
    assert received.properties["app"] == "value"
    carried = trace.get_current_span(extract_context(received.properties)).get_span_context()
    assert carried.trace_id == send_span.context.trace_id
    assert carried.span_id == send_span.context.span_id
    assert carried.trace_flags.sampled
