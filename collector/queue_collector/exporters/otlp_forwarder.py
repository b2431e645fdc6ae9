"""Forwards traces (or logs) to an OTLP gRPC endpoint such as Jaeger's, from a bounded queue.

Requests are serialized on the caller's thread and queued; one background thread sends them,
merging queued requests into one outgoing request up to ``max_batch_bytes`` (serialized OTLP
requests concatenate into a valid request whose resource lists are joined), and retries with
exponential backoff and jitter on retryable answers, honouring a server's RetryInfo delay
within the configured intervals.

A merged request the endpoint refuses for good (INVALID_ARGUMENT, say) is sent again as the
client requests it was made of, one by one, so one bad request cannot take the others with
it. A client request larger than ``max_request_bytes`` is split before it is queued.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from queue_collector.endpoints import parse_forwarding_target
from queue_collector.exporters.config import SignalExportConfig, header_problems
from queue_collector.exporters.request_splitting import split_request
from queue_collector.exporters.retry_policy import is_retryable, retry_delay, retry_delay_from
from queue_collector.exporters.statistics import ExporterStatistics
from queue_collector.otlp_signals import LOGS, TRACES, OtlpSignal
from queue_collector.pipeline import ExporterBackpressure

__all__ = ["OtlpForwarder"]

_logger = logging.getLogger(__name__)

#: Extra time granted to the sender thread after the shutdown deadline to notice it.
_JOIN_MARGIN_SECONDS = 2.0


class OtlpForwarder:
    """A :class:`~queue_collector.pipeline.TelemetryExporter` sending one signal over OTLP gRPC.

    Threading: ``ensure_capacity`` and ``export_*`` are called from many gRPC worker threads;
    they take one lock briefly and never block on the network. The constructor starts one
    daemon sender thread; :meth:`shutdown` drains the queue and stops it.

    Raises ValueError from the constructor for a bad endpoint, bad headers or an unsupported
    signal, OSError when ``ca_file`` cannot be read. Logs and messages name the endpoint as
    ``SCHEME://HOST:PORT`` only; answers to clients do not name it at all.
    """

    def __init__(
        self,
        signal: OtlpSignal,
        config: SignalExportConfig,
        rng: random.Random | None = None,
    ) -> None:
        if signal not in (TRACES, LOGS):
            raise ValueError(f"the OTLP forwarder handles traces and logs, not {signal.name}")
        target = parse_forwarding_target(config.endpoint)
        for key, problem in header_problems(config.headers):
            raise ValueError(f"{key}: {problem}")
        self.name = f"otlp_{signal.name}"
        self.signals = frozenset({signal.name})
        #: The endpoint as logs show it (``SCHEME://HOST:PORT`` or ``HOST:PORT``).
        self.endpoint = target.display
        self._signal = signal
        self._config = config
        self._rng = rng or random.Random()
        compression = grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        if target.use_tls:
            root_certificates = None
            if config.ca_file:
                with open(config.ca_file, "rb") as pem:
                    root_certificates = pem.read()
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target.target, credentials, options, compression)
        else:
            self._channel = grpc.insecure_channel(target.target, options, compression)
        # No serializers: requests are already bytes, responses are parsed here.
        self._send = self._channel.unary_unary(signal.method)
        self._metadata = tuple((key.lower(), value) for key, value in config.headers.items())

        self._condition = threading.Condition()
        self._queue: collections.deque[bytes] = collections.deque()
        self._in_flight = 0
        self._closing = False
        self._drain_deadline: float | None = None
        self._shutdown_requested = threading.Event()
        self._last_retry_delay = config.retry.initial_interval_seconds
        self._exported = 0
        self._failed = 0
        self._lost = 0
        self._rejected_items = 0
        self._retries = 0
        self._refusals = 0
        self._thread = threading.Thread(target=self._run, name=f"queue-collector-{self.name}", daemon=True)
        self._thread.start()

    # --- the pipeline side ------------------------------------------------------------------

    def ensure_capacity(self) -> None:
        """Raises ExporterBackpressure while the queue is full or the exporter is closing."""
        with self._condition:
            if self._closing:
                raise ExporterBackpressure(f"{self.name}: the receiver is shutting down")
            waiting = len(self._queue) + self._in_flight
            if waiting >= self._config.max_queue_requests:
                self._refusals += 1
                raise ExporterBackpressure(
                    f"the receiver's {self._signal.name} export queue is full ({waiting} requests "
                    "waiting to be forwarded); retry later",
                    retry_after_seconds=max(1.0, self._last_retry_delay),
                )

    def _enqueue(self, request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> None:
        payload = request.SerializeToString()
        limit = self._config.max_request_bytes
        if limit and len(payload) > limit:
            parts = split_request(request, self._signal, limit)
            _logger.info(
                "%s: split a request of %d bytes into %d requests of at most %d bytes (max_request_bytes)",
                self.name, len(payload), len(parts), limit,
            )
        else:
            parts = [payload]
        with self._condition:
            self._queue.extend(parts)
            self._condition.notify()

    def export_traces(self, request: ExportTraceServiceRequest) -> None:
        if self._signal is TRACES:
            self._enqueue(request)

    def export_logs(self, request: ExportLogsServiceRequest) -> None:
        if self._signal is LOGS:
            self._enqueue(request)

    def shutdown(self, timeout_seconds: float) -> None:
        """Sends what is queued, retrying until ``timeout_seconds`` have passed; blocks that long
        at most (plus a small margin). What is still unsent then is counted and logged as lost.
        Idempotent."""
        with self._condition:
            if self._drain_deadline is None:
                self._drain_deadline = time.monotonic() + max(0.0, timeout_seconds)
            self._closing = True
            self._condition.notify_all()
        self._shutdown_requested.set()
        self._thread.join(max(0.0, self._drain_deadline - time.monotonic()) + _JOIN_MARGIN_SECONDS)
        with self._condition:
            stranded = len(self._queue)
            self._queue.clear()
        if stranded:
            self._count_lost(stranded, "the sender did not finish before the shutdown deadline")
        self._channel.close()

    def statistics(self) -> ExporterStatistics:
        with self._condition:
            return ExporterStatistics(
                exported_requests=self._exported,
                failed_requests=self._failed,
                lost_requests=self._lost,
                rejected_items=self._rejected_items,
                retries=self._retries,
                backpressure_refusals=self._refusals,
                queue_size=len(self._queue) + self._in_flight,
                queue_capacity=self._config.max_queue_requests,
            )

    def describe_destination(self) -> str:
        """Where the data goes, for the start-up message."""
        return f"OTLP gRPC {self.endpoint}"

    # --- the sender thread ------------------------------------------------------------------

    def _take_batch(self) -> list[bytes]:
        """Pops requests up to max_batch_bytes (at least one); caller holds the lock."""
        first = self._queue.popleft()
        parts, size = [first], len(first)
        limit = self._config.max_batch_bytes
        while limit and self._queue and size + len(self._queue[0]) <= limit:
            item = self._queue.popleft()
            parts.append(item)
            size += len(item)
        return parts

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closing:
                    self._condition.wait()
                if not self._queue:
                    return
                parts = self._take_batch()
                self._in_flight = len(parts)
            try:
                self._deliver(parts)
            except Exception:  # keep the sender alive whatever happens
                _logger.exception("%s: unexpected error while sending", self.name)
                with self._condition:
                    self._failed += len(parts)
            finally:
                with self._condition:
                    self._in_flight = 0
                    self._condition.notify_all()

    def _remaining_until_deadline(self) -> float | None:
        deadline = self._drain_deadline
        return None if deadline is None else deadline - time.monotonic()

    def _deliver(self, parts: list[bytes]) -> None:
        """Sends ``parts`` as one request; if the endpoint refuses it for good and it was merged,
        sends each part alone, so only the parts refused on their own are dropped."""
        refusal = self._send_with_retries(parts[0] if len(parts) == 1 else b"".join(parts), len(parts))
        if refusal is None:
            return
        if len(parts) == 1:
            self._count_failed(1, refusal)
            return
        _logger.warning(
            "%s: %s refused a request merged from %d requests (%s); sending them one by one",
            self.name, self.endpoint, len(parts), refusal,
        )
        for part in parts:
            refusal = self._send_with_retries(part, 1)
            if refusal is not None:
                self._count_failed(1, refusal)

    def _send_with_retries(self, payload: bytes, count: int) -> str | None:
        """Sends ``payload`` (``count`` client requests), retrying retryable answers.

        Returns the reason when the endpoint refused it for good (not counted yet); None once it
        is delivered, lost at shutdown or given up on after retrying (each counted here).
        """
        started = time.monotonic()
        attempt = 0
        retry = self._config.retry
        while True:
            timeout = self._config.timeout_seconds
            remaining = self._remaining_until_deadline()
            if remaining is not None:
                if remaining <= 0:
                    self._count_lost(count, "the shutdown deadline passed before it could be sent")
                    return None
                timeout = min(timeout, remaining)
            try:
                response = self._send(payload, timeout=timeout, metadata=self._metadata or None)
            except grpc.RpcError as error:
                code = error.code()  # type: ignore[attr-defined]
                details = error.details()  # type: ignore[attr-defined]
                hint = retry_delay_from(error)
                answer = f"{code.name if code else code}: {details}"
                if not is_retryable(code, hint is not None):
                    return answer
                if not retry.enabled:
                    self._count_failed(count, f"{answer} (retry is disabled)")
                    return None
                delay = retry_delay(hint, attempt, retry, self._rng)
                attempt += 1
                elapsed = time.monotonic() - started
                if retry.max_elapsed_seconds:
                    budget = retry.max_elapsed_seconds - elapsed
                    if budget <= 0:
                        self._count_failed(
                            count, f"gave up after {attempt} attempts over {elapsed:.1f} s; last answer {answer}"
                        )
                        return None
                    # A delay beyond the budget: wait out the budget and try once more.
                    delay = min(delay, budget)
                with self._condition:
                    self._retries += 1
                    self._last_retry_delay = delay
                _logger.info(
                    "%s: %s answered %s (%s); retrying in %.2f s",
                    self.name, self.endpoint, code.name if code else code, details, delay,
                )
                self._pause(delay)
                continue
            self._count_exported(count, response)
            return None

    def _pause(self, delay: float) -> None:
        """Sleeps ``delay`` seconds, but not past the shutdown deadline."""
        end = time.monotonic() + delay
        if not self._shutdown_requested.wait(delay):
            return
        remaining = self._remaining_until_deadline()
        limit = end if remaining is None else min(end, time.monotonic() + remaining)
        pause = limit - time.monotonic()
        if pause > 0:
            time.sleep(pause)

    def _count_exported(self, count: int, response: bytes) -> None:
        rejected = 0
        message = ""
        try:
            parsed = self._signal.response_type.FromString(response)
            if parsed.HasField("partial_success"):
                rejected = getattr(parsed.partial_success, self._signal.rejected_field)
                message = parsed.partial_success.error_message
        except Exception:
            _logger.warning("%s: %s sent an unreadable response", self.name, self.endpoint)
        with self._condition:
            self._exported += count
            self._rejected_items += rejected
            self._last_retry_delay = self._config.retry.initial_interval_seconds
        if rejected or message:
            _logger.warning(
                "%s: %s rejected %d %s: %s", self.name, self.endpoint, rejected,
                self._signal.item_noun, message,
            )

    def _count_failed(self, count: int, reason: str) -> None:
        with self._condition:
            self._failed += count
        _logger.error("%s: dropped %d request(s) for %s: %s", self.name, count, self.endpoint, reason)

    def _count_lost(self, count: int, reason: str) -> None:
        with self._condition:
            self._lost += count
        _logger.error("%s: lost %d request(s) for %s at shutdown: %s", self.name, count, self.endpoint, reason)
