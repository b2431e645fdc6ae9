"""OTLP/JSON encoding of export requests, as the OpenTelemetry Collector's file exporter writes.

Per the OTLP/JSON rules: lowerCamelCase field names, enum values as integers, 64-bit integers
as decimal strings, ``bytes`` as base64 except trace and span ids, which are lowercase hex.
Fields at their default value are omitted. Pure functions, safe from any thread.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

__all__ = ["to_otlp_json", "from_otlp_json"]

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(item: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        value = item.get(key)
        if value:
            item[key] = base64.b64decode(value).hex()


def _base64_ids(item: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        value = item.get(key)
        if value:
            item[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def _convert_ids(document: dict[str, Any], convert: Any) -> None:
    for resource in document.get("resourceSpans", ()):
        for scope in resource.get("scopeSpans", ()):
            for span in scope.get("spans", ()):
                convert(span)
                for link in span.get("links", ()):
                    convert(link)
    for resource in document.get("resourceLogs", ()):
        for scope in resource.get("scopeLogs", ()):
            for record in scope.get("logRecords", ()):
                convert(record)


def to_otlp_json(request: Message) -> str:
    """One request as a single line of OTLP/JSON (no trailing newline)."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    _convert_ids(document, _hex_ids)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def from_otlp_json(line: str, message_type: type[Message]) -> Message:
    """Parses one line written by :func:`to_otlp_json` back into ``message_type``.

    Raises ``json.JSONDecodeError`` or ``google.protobuf.json_format.ParseError`` on bad input.
    """
    document = json.loads(line)
    _convert_ids(document, _base64_ids)
    return json_format.ParseDict(document, message_type())
