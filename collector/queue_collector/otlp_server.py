"""The OTLP gRPC server: decodes Export requests itself and runs them through the pipeline.

Handlers are registered for raw bytes (no gRPC deserializer), so every failure is answered
with the status the OTLP specification asks for, never INTERNAL:

* request larger than ``otlp.max_request_bytes`` after decompression -> RESOURCE_EXHAUSTED
  naming the size and the limit. gRPC itself refuses messages over twice the limit (wire size
  and, for compressed messages, decompressed size) before they reach Python, also with
  RESOURCE_EXHAUSTED; the margin lets most oversized requests get the more precise message.
* malformed protobuf, including invalid UTF-8 in a string -> INVALID_ARGUMENT naming the
  problem and the field path;
* a span or log record whose trace or span id has the wrong length -> INVALID_ARGUMENT naming
  the field path (a backend would refuse it, and with it every request forwarded alongside);
* :class:`~queue_collector.pipeline.ExporterBackpressure` -> UNAVAILABLE with a RetryInfo delay
  in the ``google.rpc.retryinfo-bin`` trailer and in the status details;
* any other exception in a stage or exporter -> logged with its traceback, counted, answered
  UNAVAILABLE (retryable);
* stage rejections -> ``partial_success``; full success leaves it unset.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from concurrent import futures
from typing import Callable

import grpc
from google.protobuf import duration_pb2
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from queue_collector.config import OtlpReceiverConfig
from queue_collector.endpoints import AddressBindError, parse_listen_address
from queue_collector.exporters.retry_policy import RETRY_INFO_TRAILER
from queue_collector.otlp_signals import LOGS, METRICS, SIGNALS, TRACES, OtlpSignal
from queue_collector.pipeline import ExporterBackpressure, Pipeline, Rejections
from queue_collector.protobuf_diagnosis import locate_wire_problem
from queue_collector.self_metrics import ReceiverSelfMetrics, RefusalReason

__all__ = ["OtlpGrpcServer", "GRPC_LIMIT_FACTOR"]

_logger = logging.getLogger(__name__)

#: At most one log line per signal and refusal reason in this many seconds (all are counted).
_REFUSAL_LOG_INTERVAL_SECONDS = 60.0


class _RefusalLog:
    """Logs refused requests without letting a misbehaving client flood the log.

    The first refusal of each (signal, reason) is logged at once; later ones at most once per
    ``interval`` seconds, saying how many were not logged in between. Thread-safe.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next: dict[tuple[str, str], float] = {}
        self._suppressed: collections.Counter = collections.Counter()

    def warn(self, signal: str, reason: RefusalReason, message: str) -> None:
        key = (signal, str(reason))
        now = self._clock()
        with self._lock:
            if now < self._next.get(key, float("-inf")):
                self._suppressed[key] += 1
                return
            self._next[key] = now + self._interval
            suppressed = self._suppressed.pop(key, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        _logger.warning("refused a %s request: %s%s", signal, message, more)

#: gRPC's own message limit is this many times ``otlp.max_request_bytes``.
GRPC_LIMIT_FACTOR = 2

_STATUS_DETAILS_TRAILER = "grpc-status-details-bin"


class _Status(
    collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status
):
    """A complete gRPC status for ``abort_with_status``."""


def _unavailable_with_retry(message: str, retry_after_seconds: float) -> grpc.Status:
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(max(0.0, retry_after_seconds) * 1e9))
    retry_info = error_details_pb2.RetryInfo(retry_delay=delay)
    detail = AnyProto()
    detail.Pack(retry_info)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    return _Status(
        grpc.StatusCode.UNAVAILABLE,
        message,
        (
            (_STATUS_DETAILS_TRAILER, status.SerializeToString()),
            (RETRY_INFO_TRAILER, retry_info.SerializeToString()),
        ),
    )


class OtlpGrpcServer:
    """Serves TraceService, MetricsService and LogsService Export over gRPC.

    Threading: requests are handled on ``worker_threads`` gRPC threads, each calling the
    pipeline concurrently. :meth:`start` binds and returns at once; :meth:`stop` blocks until
    in-flight requests finish or the grace period ends.
    """

    def __init__(self, config: OtlpReceiverConfig, pipeline: Pipeline, metrics: ReceiverSelfMetrics) -> None:
        self._address = parse_listen_address(config.endpoint)
        if config.max_request_bytes < 1 or config.worker_threads < 1:
            raise ValueError("otlp.max_request_bytes and otlp.worker_threads must be positive")
        self._limit = config.max_request_bytes
        self._metrics = metrics
        self._refusal_log = _RefusalLog(_REFUSAL_LOG_INTERVAL_SECONDS)
        self._process: dict[str, Callable[[Message, bytes], Rejections | None]] = {
            TRACES.name: pipeline.traces,  # type: ignore[dict-item]
            METRICS.name: pipeline.metrics,  # type: ignore[dict-item]
            LOGS.name: pipeline.logs,  # type: ignore[dict-item]
        }
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.worker_threads, thread_name_prefix="otlp-grpc"),
            handlers=[self._generic_handler(signal) for signal in SIGNALS],
            options=[
                ("grpc.max_receive_message_length", self._limit * GRPC_LIMIT_FACTOR),
                # Without this, a second receiver could silently share the port.
                ("grpc.so_reuseport", 0),
            ],
        )
        self.port: int | None = None

    def _generic_handler(self, signal: OtlpSignal) -> grpc.GenericRpcHandler:
        def export(request: bytes, context: grpc.ServicerContext) -> bytes:
            return self._export(signal, request, context)

        return grpc.method_handlers_generic_handler(
            signal.service, {"Export": grpc.unary_unary_rpc_method_handler(export)}
        )

    @property
    def address(self) -> str:
        """The configured ``HOST:PORT`` (with the bound port once started)."""
        port = self.port if self.port is not None else self._address.port
        return f"{self._address.host}:{port}" if ":" not in self._address.host else f"[{self._address.host}]:{port}"

    def start(self) -> int:
        """Binds and starts serving; returns the bound port. Raises AddressBindError."""
        try:
            port = self._server.add_insecure_port(self._address.for_grpc())
        except RuntimeError:
            port = 0
        if not port:
            raise AddressBindError(
                f"cannot listen for OTLP gRPC on {self._address}: the address is in use or not "
                "available (choose another with --otlp-endpoint)"
            )
        self._server.start()
        self.port = port
        return port

    def stop(self, grace_seconds: float) -> None:
        """Refuses new RPCs at once, lets in-flight ones finish for up to ``grace_seconds``."""
        self._server.stop(grace_seconds).wait()

    # --- request handling ---------------------------------------------------------------------

    def _refuse(
        self, signal: OtlpSignal, reason: RefusalReason, code: grpc.StatusCode, message: str,
        context: grpc.ServicerContext,
    ) -> None:
        """Counts the refusal, logs it (at most once a minute per signal and reason) and aborts."""
        self._metrics.count_refused(signal.name, reason)
        self._refusal_log.warn(signal.name, reason, message)
        context.abort(code, message)

    def _export(self, signal: OtlpSignal, data: bytes, context: grpc.ServicerContext) -> bytes:
        size = len(data)
        if size > self._limit:
            self._refuse(
                signal, RefusalReason.TOO_LARGE, grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{signal.request_type.__name__} of {size} bytes (after decompression) exceeds "
                f"the receiver's limit of {self._limit} bytes",
                context,
            )
        try:
            request = signal.request_type.FromString(data)
        except DecodeError as error:
            self._refuse(
                signal, RefusalReason.MALFORMED, grpc.StatusCode.INVALID_ARGUMENT,
                self._describe_malformed(signal, data, error), context,
            )
        id_problem = signal.find_id_problem(request)
        if id_problem is not None:
            self._refuse(
                signal, RefusalReason.MALFORMED, grpc.StatusCode.INVALID_ARGUMENT,
                f"invalid {signal.request_type.__name__}: {id_problem}", context,
            )
        try:
            rejections = self._process[signal.name](request, data)
        except ExporterBackpressure as error:
            self._metrics.count_refused(signal.name, RefusalReason.BACKPRESSURE)
            context.abort_with_status(_unavailable_with_retry(str(error), error.retry_after_seconds))
        except Exception:
            _logger.exception("processing a %s request failed; answered UNAVAILABLE", signal.name)
            self._metrics.count_refused(signal.name, RefusalReason.INTERNAL_ERROR)
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"the receiver failed to process the {signal.name} request (see its log); retry later",
            )
        response = signal.response_type()
        rejected = 0
        if rejections is not None and rejections.count > 0:
            rejected = rejections.count
            setattr(response.partial_success, signal.rejected_field, rejected)
            response.partial_success.error_message = rejections.message
        self._metrics.count_accepted(signal.name, signal.count_items(request), rejected)
        return response.SerializeToString()

    @staticmethod
    def _describe_malformed(signal: OtlpSignal, data: bytes, error: DecodeError) -> str:
        reason = str(error).rpartition(": ")[2] or "cannot be parsed"
        location = locate_wire_problem(data, signal.request_type.DESCRIPTOR)
        where = f" ({location})" if location else ""
        return f"malformed {signal.request_type.__name__}: {reason}{where}"
