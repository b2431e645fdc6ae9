"""Which service a resource belongs to: its ``service.name``, as the SDKs default it."""

from __future__ import annotations

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

__all__ = ["service_name_of", "UNKNOWN_SERVICE"]

#: The name used for telemetry whose resource has no ``service.name`` (as the SDKs default it).
UNKNOWN_SERVICE = "unknown_service"

_SERVICE_NAME_KEY = "service.name"


def service_name_of(resource: Resource) -> str:
    """The resource's ``service.name`` string, or :data:`UNKNOWN_SERVICE`."""
    for attribute in resource.attributes:
        if attribute.key == _SERVICE_NAME_KEY:
            return attribute.value.string_value or UNKNOWN_SERVICE
    return UNKNOWN_SERVICE
