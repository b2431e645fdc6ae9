"""Trace-context carriers for message properties, used through the global propagator.

Injection and extraction go through :func:`opentelemetry.propagate.inject` and
:func:`opentelemetry.propagate.extract`, so whatever propagators the application configured
(``OTEL_PROPAGATORS``; W3C trace context and baggage by default) decide the format: the
``tracestate`` and the sampled flag travel as the propagator writes them. This module only
teaches the propagator how to read and write each provider's carrier: the in-memory broker's
``properties``, SQS ``MessageAttributes`` (at most ten per message) and Service Bus application
properties (bytes keys and values on received messages; ``Diagnostic-Id`` as a fallback).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping, MutableMapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext

_logger = logging.getLogger("queue_telemetry.propagation")

__all__ = [
    "MessagePropertiesGetter",
    "MessagePropertiesSetter",
    "inject_context",
    "extract_context",
    "creation_span_context",
    "propagation_fields",
    "SQS_MAX_MESSAGE_ATTRIBUTES",
    "SqsMessageAttributesGetter",
    "SqsMessageAttributesSetter",
    "inject_sqs_attributes",
    "sqs_creation_context",
    "DIAGNOSTIC_ID",
    "ServiceBusPropertiesGetter",
    "ServiceBusPropertiesSetter",
    "inject_servicebus_properties",
    "servicebus_creation_context",
]


class MessagePropertiesGetter(Getter[Mapping[str, str]]):
    """Reads propagation fields from message properties (string keys and values)."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            return None
        return [value if isinstance(value, str) else str(value)]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier.keys())


class MessagePropertiesSetter(Setter[MutableMapping[str, str]]):
    """Writes propagation fields into message properties."""

    def set(self, carrier: MutableMapping[str, str], key: str, value: str) -> None:
        carrier[key] = value


_GETTER = MessagePropertiesGetter()
_SETTER = MessagePropertiesSetter()


def inject_context(properties: MutableMapping[str, str], context: Context | None = None) -> None:
    """Write ``context`` (default: the current one) into ``properties`` with the global propagator."""
    propagate.inject(properties, context=context, setter=_SETTER)


def extract_context(properties: Mapping[str, str], context: Context | None = None) -> Context:
    """The context carried by ``properties``, read with the global propagator.

    Returns ``context`` (default: an empty context) enriched with whatever the propagator found;
    never raises for malformed values (the propagator ignores them).
    """
    return propagate.extract(properties, context=context if context is not None else Context(), getter=_GETTER)


def creation_span_context(carrier: Any, getter: Getter[Any] | None = None) -> SpanContext:
    """The span context a message was created in, as carried by ``carrier`` (maybe invalid)."""
    extracted = propagate.extract(carrier, context=Context(), getter=getter or _GETTER)
    return trace.get_current_span(extracted).get_span_context()


def propagation_fields(context: Context | None = None) -> dict[str, str]:
    """What the global propagator would write for ``context``, without empty values.

    An empty ``tracestate`` (or any empty field) is dropped: it carries nothing and would take
    one of a provider's scarce attribute slots.
    """
    fields: dict[str, str] = {}
    propagate.inject(fields, context=context)
    return {key: value for key, value in fields.items() if isinstance(value, str) and value}


# --- AWS SQS: MessageAttributes ------------------------------------------------------------------

#: SQS accepts at most this many message attributes per message.
SQS_MAX_MESSAGE_ATTRIBUTES = 10


class SqsMessageAttributesGetter(Getter[Mapping[str, Any]]):
    """Reads propagation fields from SQS ``MessageAttributes`` (``{"StringValue": ...}`` values)."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        attribute = carrier.get(key) if carrier else None
        if isinstance(attribute, Mapping):
            value = attribute.get("StringValue")
            if isinstance(value, str):
                return [value]
        return None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier.keys()) if carrier else []


class SqsMessageAttributesSetter(Setter[MutableMapping[str, Any]]):
    """Writes a propagation field as an SQS ``String`` message attribute."""

    def set(self, carrier: MutableMapping[str, Any], key: str, value: str) -> None:
        carrier[key] = {"DataType": "String", "StringValue": value}


_SQS_SETTER = SqsMessageAttributesSetter()
_SQS_GETTER = SqsMessageAttributesGetter()
_warned_once: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(key: str, message: str, *args: Any) -> None:
    with _warned_lock:
        if key in _warned_once:
            return
        _warned_once.add(key)
    _logger.warning(message, *args)


def inject_sqs_attributes(
    attributes: Mapping[str, Any] | None, context: Context | None = None
) -> dict[str, Any]:
    """A copy of SQS ``MessageAttributes`` (None allowed) carrying ``context``.

    Rules: a field the user already set is never overwritten (and then nothing else of the
    trace context is added, so a user-provided ``traceparent`` stays consistent); the result
    never exceeds :data:`SQS_MAX_MESSAGE_ATTRIBUTES` -- when the fields do not fit, nothing is
    injected, a warning is logged once per process, and the message is sent without them.
    """
    result: dict[str, Any] = dict(attributes or {})
    fields = propagation_fields(context)
    if not fields or any(key in result for key in fields):
        return result
    if len(result) + len(fields) > SQS_MAX_MESSAGE_ATTRIBUTES:
        _warn_once(
            "sqs-attribute-limit",
            "Not propagating trace context in an SQS message: it has %d message attributes and "
            "the context needs %d more, beyond the limit of %d. The message is sent without it.",
            len(result), len(fields), SQS_MAX_MESSAGE_ATTRIBUTES,
        )
        return result
    for key, value in fields.items():
        _SQS_SETTER.set(result, key, value)
    return result


def sqs_creation_context(attributes: Mapping[str, Any] | None) -> SpanContext:
    """The creation context carried by received SQS ``MessageAttributes``."""
    if not attributes:
        return INVALID_SPAN_CONTEXT
    return creation_span_context(attributes, _SQS_GETTER)


# --- Azure Service Bus: application properties ----------------------------------------------------

#: The property older Azure SDKs write the creation context to (W3C traceparent format).
DIAGNOSTIC_ID = "Diagnostic-Id"


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


class ServiceBusPropertiesGetter(Getter[Mapping[Any, Any]]):
    """Reads propagation fields from Service Bus application properties.

    Received messages carry bytes keys and values; outgoing ones str. When ``traceparent`` is
    absent, ``Diagnostic-Id`` is read in its place.
    """

    def _lookup(self, carrier: Mapping[Any, Any], key: str) -> str | None:
        for candidate in (key, key.encode("utf-8")):
            if candidate in carrier:
                return _text(carrier[candidate])
        return None

    def get(self, carrier: Mapping[Any, Any], key: str) -> list[str] | None:
        if not carrier:
            return None
        value = self._lookup(carrier, key)
        if value is None and key == "traceparent":
            value = self._lookup(carrier, DIAGNOSTIC_ID)
        return [value] if value else None

    def keys(self, carrier: Mapping[Any, Any]) -> list[str]:
        return [key for key in (_text(raw) for raw in (carrier or {})) if key is not None]


class ServiceBusPropertiesSetter(Setter[MutableMapping[Any, Any]]):
    """Writes a propagation field as a Service Bus application property (str key and value)."""

    def set(self, carrier: MutableMapping[Any, Any], key: str, value: str) -> None:
        carrier[key] = value


_SB_GETTER = ServiceBusPropertiesGetter()
_SB_SETTER = ServiceBusPropertiesSetter()


def inject_servicebus_properties(
    properties: MutableMapping[Any, Any], context: Context | None = None
) -> None:
    """Add ``context`` to Service Bus application properties, never overwriting a user's field."""
    fields = propagation_fields(context)
    present = {_text(key) for key in properties}
    if any(key in present for key in fields):
        return
    for key, value in fields.items():
        _SB_SETTER.set(properties, key, value)


def servicebus_creation_context(properties: Mapping[Any, Any] | None) -> SpanContext:
    """The creation context carried by Service Bus application properties."""
    if not properties:
        return INVALID_SPAN_CONTEXT
    return creation_span_context(properties, _SB_GETTER)
