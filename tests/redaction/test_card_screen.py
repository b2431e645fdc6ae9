"""The card-number screen never misses a card the detector would mask, whatever framing bytes
protobuf puts around the string, and rules out the digit runs of hexadecimal and UUID ids."""

import functools
import random
import uuid

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from queue_collector.redaction import RedactionStage, default_config

CARDS = ["4111111111111111", "5500005555555559", "340000000000009", "6011000990139424",
         "4111 1111 1111 1111", "4111-1111-1111-1111", "3400-000000-00009", "3782 822463 10005",
         "3782-822463 10005", "6011 000000 0004"]
NEIGHBOURS = ["", " ", ".", "=", "x", "7", "-", ":"]


def span_request(name: str, value: str, extra: str = "") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name=name)
    span.attributes.append(KeyValue(key="note", value=AnyValue(string_value=value)))
    if extra:
        span.attributes.append(KeyValue(key="k", value=AnyValue(string_value=extra)))
        span.links.add(trace_id=b"\x03" * 16, span_id=b"\x04" * 8)
    return request


@functools.lru_cache(maxsize=1)
def unscreened() -> RedactionStage:
    """The default rules with the per-item screen switched off: walks every item, so it tells
    what the detectors mask independently of the screens under test."""
    oracle = RedactionStage(default_config())
    oracle._item_screen = None  # noqa: SLF001 - the oracle must not share the screen's answer
    return oracle


def masks_something(stage: RedactionStage, request) -> bool:
    oracle = unscreened()
    before = request.SerializeToString()
    copy = type(request).FromString(before)
    if isinstance(copy, ExportTraceServiceRequest):
        oracle.process_traces(copy)
    else:
        oracle.process_logs(copy)
    return copy.SerializeToString() != before


def test_no_card_the_detector_masks_is_missed_by_the_screen():
    stage = RedactionStage(default_config())
    generator = random.Random(11)
    checked = 0
    for card in CARDS:
        for length in range(len(card), 131):
            for placement in ("start", "end", "middle"):
                padding = length - len(card)
                left_char, right_char = generator.choice(NEIGHBOURS), generator.choice(NEIGHBOURS)
                filler = "".join(generator.choice("ab 0123456789-x") for _ in range(padding))
                if placement == "start":
                    value = card + right_char + filler
                elif placement == "end":
                    value = filler + left_char + card
                else:
                    half = len(filler) // 2
                    value = filler[:half] + left_char + card + right_char + filler[half:]
                for request in (span_request("send orders", value, extra=value[::-1]),
                                span_request(value, "plain")):
                    if masks_something(stage, request):
                        checked += 1
                        raw = request.SerializeToString()
                        assert stage.screen(raw), (card, placement, length, value)
    assert checked > 500  # the test did exercise masking


def test_a_card_as_a_log_event_name_is_screened():
    stage = RedactionStage(default_config())
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.event_name = "4111111111111111"
    record.body.string_value = "x" * 50
    assert masks_something(stage, request)
    assert stage.screen(request.SerializeToString())


def test_hex_and_uuid_message_ids_rarely_trigger_the_screen():
    """Requests of 256 spans, each with a random message id: a bare digit-run screen would walk
    nearly all of them; the card screen lets most through (a few ids hold a run that passes
    the issuer and Luhn checks by chance, and those requests are walked: never a leak)."""
    stage = RedactionStage(default_config())
    generator = random.Random(5)
    for kind in ("hex", "uuid"):
        screened = 0
        for _ in range(50):
            request = ExportTraceServiceRequest()
            spans = request.resource_spans.add().scope_spans.add().spans
            for _ in range(256):
                identifier = (f"{generator.getrandbits(64):016x}" if kind == "hex"
                              else str(uuid.UUID(int=generator.getrandbits(128))))
                span = spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="process orders")
                span.attributes.append(
                    KeyValue(key="messaging.message.id", value=AnyValue(string_value=identifier)))
            # An id made only of digits can pass as a card and be masked: then it must screen.
            screens = stage.screen(request.SerializeToString())
            assert screens or not masks_something(stage, request)
            screened += screens
        assert screened <= 10, (kind, screened)


def test_overlapping_secrets_are_masked_as_one_span():
    """A bearer token running into a card number: neither leaves any readable part."""
    stage = RedactionStage(default_config())
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "Authorization: Bearer abc-4111 1111 1111 1111"
    raw = request.SerializeToString()
    assert stage.screen(raw)
    stage.process_logs(request)
    masked = request.resource_logs[0].scope_logs[0].log_records[0].body.string_value
    assert "1111" not in masked and "abc" not in masked, masked
