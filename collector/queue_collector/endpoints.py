"""Parsing of listen addresses (``HOST:PORT``) and forwarding endpoints (URLs).

Pure functions; each raises ValueError with a message that quotes the bad value.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "ListenAddress",
    "ForwardingTarget",
    "AddressBindError",
    "parse_listen_address",
    "parse_forwarding_target",
]

#: Port assumed for an ``http://`` or ``https://`` forwarding URL that names none (OTLP gRPC).
_DEFAULT_OTLP_GRPC_PORT = 4317


@dataclass(frozen=True)
class ListenAddress:
    """A host and port to bind; port 0 asks the operating system for a free port."""

    host: str
    port: int

    def for_grpc(self) -> str:
        """The address in the form grpc's ``add_insecure_port`` expects (IPv6 in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.for_grpc()


@dataclass(frozen=True)
class ForwardingTarget:
    """Where an exporter sends OTLP gRPC requests."""

    #: ``host:port`` as grpc channel target.
    target: str
    #: True for ``https://`` endpoints: the channel uses TLS.
    use_tls: bool
    #: The endpoint as logs may show it: ``SCHEME://HOST:PORT``, or ``HOST:PORT`` when it was
    #: given without a scheme.
    display: str


def _parse_port(text: str, original: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{original!r}: port {text!r} is not a number")
    port = int(text)
    if port > 65535:
        raise ValueError(f"{original!r}: port {port} is out of range 0-65535")
    return port


def parse_listen_address(value: str) -> ListenAddress:
    """Parses ``HOST:PORT`` or ``[IPV6]:PORT``; raises ValueError naming the value."""
    text = value.strip()
    if text.startswith("["):
        host, separator, rest = text[1:].partition("]")
        if not separator or not rest.startswith(":"):
            raise ValueError(f"{value!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
    else:
        host, separator, port_text = text.rpartition(":")
        if not separator:
            raise ValueError(f"{value!r}: expected HOST:PORT")
        if ":" in host:
            raise ValueError(f"{value!r}: write IPv6 addresses as [ADDRESS]:PORT")
    if not host:
        raise ValueError(f"{value!r}: the host is empty (use 0.0.0.0 to listen everywhere)")
    return ListenAddress(host=host, port=_parse_port(port_text, value))


def parse_forwarding_target(value: str) -> ForwardingTarget:
    """Parses ``http://HOST[:PORT]``, ``https://HOST[:PORT]`` or ``HOST:PORT``.

    ``https`` selects TLS; the others are plain text. Raises ValueError naming the value, except
    for a value with credentials (``USER:PASSWORD@``), which is refused without quoting it.
    """
    text = value.strip()
    if "@" in text:
        raise ValueError(
            "credentials in the endpoint (USER:PASSWORD@HOST) are not supported and would be "
            "logged; send them as gRPC metadata with the exporter's headers, e.g. "
            "authorization: \"Basic ...\""
        )
    if "://" not in text:
        address = parse_listen_address(text)
        return ForwardingTarget(target=address.for_grpc(), use_tls=False, display=address.for_grpc())
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r}: scheme must be http or https, not {parts.scheme!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r}: an OTLP gRPC endpoint has no path; use {parts.scheme}://HOST:PORT")
    if not parts.hostname:
        raise ValueError(f"{value!r}: the host is empty")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r}: the port is not a number in range 0-65535") from None
    host = parts.hostname
    address = ListenAddress(host, port if port is not None else _DEFAULT_OTLP_GRPC_PORT)
    return ForwardingTarget(
        target=address.for_grpc(), use_tls=parts.scheme == "https", display=f"{parts.scheme}://{address}"
    )


class AddressBindError(OSError):
    """A server could not listen on its address; the message names the server and address."""
