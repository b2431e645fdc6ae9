"""Configuration of the trace and log exporters (keys under ``exporters:``)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Iterator, Literal, Mapping

from queue_collector.endpoints import parse_forwarding_target

__all__ = ["RetryConfig", "SignalExportConfig", "ExportersConfig", "default_config", "header_problems"]

_MIB = 1024 * 1024

#: gRPC metadata names (after lower-casing): digits, lower-case letters, ``_``, ``-``, ``.``.
_HEADER_NAME = re.compile(r"[0-9a-z_.-]+")
#: gRPC metadata values: printable ASCII, space included.
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
#: Names gRPC itself sets (HTTP/2 transport headers); ``grpc-*`` and ``:*`` are reserved too.
_TRANSPORT_HEADERS = frozenset({"content-type", "te"})


def header_problems(headers: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """``(headers.NAME, problem)`` for each header gRPC would refuse or that would break every
    forwarded request. Values are never quoted: they are often secrets."""
    seen: set[str] = set()
    for name, value in headers.items():
        key = f"headers.{name}"
        lowered = name.lower() if isinstance(name, str) else ""
        if not _HEADER_NAME.fullmatch(lowered):
            yield key, "header names may contain only letters, digits, '-', '_' and '.'"
        elif lowered.startswith("grpc-") or lowered in _TRANSPORT_HEADERS:
            yield key, "is reserved: gRPC sets this header itself"
        elif lowered.endswith("-bin"):
            yield key, "binary (-bin) headers are not supported; use a text header"
        elif lowered in seen:
            yield key, "appears twice (header names are not case-sensitive)"
        seen.add(lowered)
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            yield key, "value must be printable ASCII without line breaks"


@dataclass(frozen=True)
class RetryConfig:
    """Retries of a forwarded request answered with a retryable gRPC status."""

    #: Retry at all; when false a failed request is dropped (and counted) at once.
    enabled: bool = True
    #: Delay before the first retry, in seconds.
    initial_interval_seconds: float = 1.0
    #: Upper bound of one delay, in seconds.
    max_interval_seconds: float = 30.0
    #: Each retry waits this many times longer than the previous one.
    multiplier: float = 1.5
    #: Jitter: each delay is drawn uniformly from ``delay * (1 ± randomization_factor)``.
    randomization_factor: float = 0.5
    #: Give up on a request (drop and count it) after retrying this long; 0 retries forever.
    max_elapsed_seconds: float = 300.0

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        for key in ("initial_interval_seconds", "max_interval_seconds", "multiplier",
                    "randomization_factor", "max_elapsed_seconds"):
            if not math.isfinite(getattr(self, key)):
                yield key, f"must be a finite number, got {getattr(self, key)}"
                return
        if self.initial_interval_seconds <= 0:
            yield "initial_interval_seconds", f"must be positive, got {self.initial_interval_seconds}"
        if self.max_interval_seconds < self.initial_interval_seconds:
            yield "max_interval_seconds", (
                f"must be at least initial_interval_seconds ({self.initial_interval_seconds}), "
                f"got {self.max_interval_seconds}"
            )
        if self.multiplier < 1:
            yield "multiplier", f"must be at least 1, got {self.multiplier}"
        if not 0 <= self.randomization_factor < 1:
            yield "randomization_factor", f"must be in [0, 1), got {self.randomization_factor}"
        if self.max_elapsed_seconds < 0:
            yield "max_elapsed_seconds", f"must be 0 (never give up) or positive, got {self.max_elapsed_seconds}"


@dataclass(frozen=True)
class SignalExportConfig:
    """Where one signal (traces or logs) goes: an OTLP gRPC endpoint when set, else a file."""

    #: OTLP gRPC endpoint to forward to: ``http://HOST:PORT`` (plain), ``https://HOST:PORT``
    #: (TLS) or ``HOST:PORT`` (plain). Empty: write the ``file`` instead.
    endpoint: str = ""
    #: OTLP-JSON lines file (one Export*ServiceRequest per line), appended to; used when
    #: ``endpoint`` is empty.
    file: str = ""
    #: fsync the file after every request (survives power loss, costs a disk flush per request).
    fsync: bool = False
    #: Requests the forwarder may hold while the endpoint is slow or down; when full, clients
    #: are answered UNAVAILABLE with a retry delay (backpressure) instead of losing data.
    max_queue_requests: int = 256
    #: Queued requests are merged into one outgoing request up to this many bytes (a single
    #: larger request is sent alone). 0 sends every request on its own.
    max_batch_bytes: int = 2 * _MIB
    #: A single request larger than this is split by resource, scope and item into requests
    #: that fit (Jaeger and the Collector refuse requests over 4 MiB by default, and the
    #: receiver accepts up to ``otlp.max_request_bytes``). 0 never splits.
    max_request_bytes: int = 4 * _MIB
    #: Compression of forwarded requests.
    compression: Literal["gzip", "none"] = "gzip"
    #: Extra gRPC metadata sent with every forwarded request (keys are lower-cased). Names:
    #: letters, digits, ``-_.``, not ``grpc-*``, ``content-type``, ``te`` or ``*-bin``; values:
    #: printable ASCII.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Deadline of one forwarded request, in seconds.
    timeout_seconds: float = 10.0
    #: PEM file of CA certificates for an ``https://`` endpoint; empty uses the system roots.
    ca_file: str = ""
    #: Retries of failed forwarded requests.
    retry: RetryConfig = field(default_factory=RetryConfig)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if self.endpoint:
            try:
                parse_forwarding_target(self.endpoint)
            except ValueError as error:
                yield "endpoint", str(error)
        elif not self.file:
            yield "file", "is empty and no endpoint is set: the signal would go nowhere"
        if self.max_queue_requests < 1:
            yield "max_queue_requests", f"must be at least 1, got {self.max_queue_requests}"
        if self.max_batch_bytes < 0:
            yield "max_batch_bytes", f"must be 0 or positive, got {self.max_batch_bytes}"
        if self.max_request_bytes < 0:
            yield "max_request_bytes", f"must be 0 or positive, got {self.max_request_bytes}"
        elif self.max_request_bytes and self.max_batch_bytes > self.max_request_bytes:
            yield "max_batch_bytes", (
                f"must not exceed max_request_bytes ({self.max_request_bytes}), got {self.max_batch_bytes}"
            )
        if not (self.timeout_seconds > 0 and math.isfinite(self.timeout_seconds)):
            yield "timeout_seconds", f"must be a positive finite number, got {self.timeout_seconds}"
        if self.ca_file and not os.path.isfile(self.ca_file):
            yield "ca_file", f"no such file: {self.ca_file!r}"
        yield from header_problems(self.headers)


@dataclass(frozen=True)
class ExportersConfig:
    """One export destination per signal. Metrics are not exported: /metrics serves them."""

    #: Traces (default: file ``queue-collector-traces.jsonl``).
    traces: SignalExportConfig = field(
        default_factory=lambda: SignalExportConfig(file="queue-collector-traces.jsonl")
    )
    #: Logs (default: file ``queue-collector-logs.jsonl``).
    logs: SignalExportConfig = field(
        default_factory=lambda: SignalExportConfig(file="queue-collector-logs.jsonl")
    )


def default_config() -> ExportersConfig:
    """The exporters' defaults: traces and logs to OTLP-JSON files in the working directory."""
    return ExportersConfig()
