"""Trace-context carriers for message properties, used through the global propagator.

Injection and extraction go through :func:`opentelemetry.propagate.inject` and
:func:`opentelemetry.propagate.extract`, so whatever propagators the application configured
(``OTEL_PROPAGATORS``; W3C trace context and baggage by default) decide the format: the
``tracestate`` and the sampled flag travel as the propagator writes them. This module only
teaches the propagator how to read and write a message's ``properties`` mapping.
"""

from __future__ import annotations

from typing import Mapping, MutableMapping

from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter

__all__ = [
    "MessagePropertiesGetter",
    "MessagePropertiesSetter",
    "inject_context",
    "extract_context",
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
