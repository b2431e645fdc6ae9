"""The redaction stage: no secret leaves the receiver.

:class:`RedactionStage` is the first stage of the receiver's pipeline. For each request the
pipeline first asks :meth:`RedactionStage.screen` about the raw bytes; only when some rule could
match does it call ``process_*``, which walks resource -> scope -> item and changes the decoded
request in place:

- every attribute list (resource, scope, span, span event, span link, log record, metric data
  point, exemplar, metric metadata) and every log body, recursively through maps and arrays,
  which keep their structure (only matching elements change);
- span, event and status texts and log event names (value rules only).

Threading: safe to call from several gRPC worker threads at once; the rule set is read-only
(apart from a benign per-key cache) and audit counts are added under a lock once per request.
Never raises for a decoded request and never rejects items (it returns None).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..pipeline import Rejections
from . import audit
from .audit import AuditCounts, AuditSnapshot
from .config import ACTION_MASK, RedactionConfig, RedactionConfigError, first_problem
from .prometheus_collector import RedactionCollector
from .replacement import Replacement
from .rules import RuleSet
from .screen import RawScreen, hyperscan_available

__all__ = ["RedactionStage"]

_log = logging.getLogger(__name__)

_TRACES = "traces"
_METRICS = "metrics"
_LOGS = "logs"
_CONTAINERS = frozenset(("kvlist_value", "array_value"))
_SCALARS = frozenset(("int_value", "double_value", "bool_value", "bytes_value"))


class _Walk:
    """Counts gathered while walking one request (one thread, no locking)."""

    __slots__ = ("counts", "masked", "dropped")

    def __init__(self) -> None:
        #: (rule, action) -> count for the whole request.
        self.counts: dict[tuple[str, str], int] = {}
        #: Values replaced / attributes dropped in the current span or log record.
        self.masked = 0
        self.dropped = 0

    def add(self, rule: str, action: str) -> None:
        key = (rule, action)
        self.counts[key] = self.counts.get(key, 0) + 1


def _scalar_text(value: Any, kind: str) -> str:
    """The string form non-string values are matched through."""
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "bytes_value":
        return value.bytes_value.decode("utf-8", "replace")
    return str(getattr(value, kind))


class RedactionStage:
    """Masks, hashes or drops what the configured rules and built-in detectors find.

    ``environ`` is where ``hash.key_env`` is looked up (the process environment by default).
    Raises :class:`RedactionConfigError` for an invalid configuration or an unreadable key.
    """

    name = "redaction"

    def __init__(self, config: RedactionConfig, *, environ: Mapping[str, str] = os.environ) -> None:
        problem = first_problem(config)
        if problem is not None:
            raise problem
        if config.screen_engine == "hyperscan" and not hyperscan_available():
            raise RedactionConfigError(
                "redaction.screen_engine",
                config.screen_engine,
                "the optional package 'hyperscan' is not installed (pip install hyperscan)",
            )
        self.config = config
        self._enabled = config.enabled
        self._replace = Replacement(config, environ)
        self._action = config.action
        self._mask = config.mask
        self._rules = RuleSet(config)
        self._value_rules = bool(self._rules.value_rules)
        self._match_scalars = config.match_non_string_values
        self._summary = config.summary_attribute
        self._max_depth = config.max_depth
        self._ignored = frozenset(config.ignored_keys)
        self._allowed_keys = None if config.allow_all_keys else frozenset(config.allowed_keys)
        self._audit = AuditCounts()
        content = self._rules.content_screen
        #: Values nested deeper than max_depth are replaced when this finds something in them.
        self._deep_screen = content
        #: The request-level screen: the allow-list must see every request.
        self._screen = RawScreen((), always=True) if self._allowed_keys is not None else content
        #: The same screen per span, log record or metric, so a request with one secret walks
        #: only the items that may hold it (None when every item must be walked).
        self._item_screen = None if content.always or self._allowed_keys is not None else content
        self._log_start()

    def _log_start(self) -> None:
        if not self._enabled:
            _log.info("redaction stage disabled")
            return
        _log.info(
            "redaction stage: action=%s, rules=%s, allow-list=%s, screen=%s",
            self._action,
            ", ".join(self._rules.describe()) or "none",
            "off" if self._allowed_keys is None else f"{len(self._allowed_keys)} key(s)",
            "off, every request walked" if self._screen.always else self._deep_screen.engine,
        )
        for label in self._rules.unscreenable:
            _log.warning(
                "redaction.%s has no literal text every match must contain, so every request "
                "is walked; add a literal part to the pattern to let the screen skip requests",
                label,
            )

    # -- screening ---------------------------------------------------------------------------

    def screen(self, raw: bytes) -> bool:
        """Whether any rule could match in the serialized request ``raw``.

        False only when no rule can match anything in it (never a false negative); the pipeline
        then skips ``process_*`` for this request. Always True in allow-list mode or with
        ``match_non_string_values`` (numbers are not visible as text in the bytes).
        """
        if not self._enabled:
            return False
        if self._screen(raw):
            return True
        self._audit.add_skipped()
        return False

    # -- signals -----------------------------------------------------------------------------

    def process_traces(self, request: ExportTraceServiceRequest) -> Rejections | None:
        if not self._enabled:
            return None
        walk = _Walk()
        attributes = self._attributes
        text = self._text
        summary = self._summary
        item_screen = self._item_screen
        for resource_spans in request.resource_spans:
            attributes(resource_spans.resource.attributes, walk)
            for scope_spans in resource_spans.scope_spans:
                attributes(scope_spans.scope.attributes, walk)
                for span in scope_spans.spans:
                    if item_screen is not None and not item_screen(span.SerializeToString()):
                        continue
                    walk.masked = walk.dropped = 0
                    new = text(span.name, walk)
                    if new is not None:
                        span.name = new
                    attributes(span.attributes, walk)
                    for event in span.events:
                        new = text(event.name, walk)
                        if new is not None:
                            event.name = new
                        attributes(event.attributes, walk)
                    for link in span.links:
                        attributes(link.attributes, walk)
                    if span.status.message:
                        new = text(span.status.message, walk)
                        if new is not None:
                            span.status.message = new
                    if summary:
                        self._add_summary(span.attributes, walk)
        self._audit.add_request(_TRACES, walk.counts)
        return None

    def process_metrics(self, request: ExportMetricsServiceRequest) -> Rejections | None:
        """Walks point and exemplar attributes; never adds an attribute to a point."""
        if not self._enabled:
            return None
        walk = _Walk()
        attributes = self._attributes
        item_screen = self._item_screen
        for resource_metrics in request.resource_metrics:
            attributes(resource_metrics.resource.attributes, walk)
            for scope_metrics in resource_metrics.scope_metrics:
                attributes(scope_metrics.scope.attributes, walk)
                for metric in scope_metrics.metrics:
                    if item_screen is not None and not item_screen(metric.SerializeToString()):
                        continue
                    attributes(metric.metadata, walk)
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        continue
                    with_exemplars = kind != "summary"
                    for point in getattr(metric, kind).data_points:
                        attributes(point.attributes, walk)
                        if with_exemplars:
                            for exemplar in point.exemplars:
                                attributes(exemplar.filtered_attributes, walk)
        self._audit.add_request(_METRICS, walk.counts)
        return None

    def process_logs(self, request: ExportLogsServiceRequest) -> Rejections | None:
        if not self._enabled:
            return None
        walk = _Walk()
        attributes = self._attributes
        body_path = "body" if self._ignored else None
        summary = self._summary
        item_screen = self._item_screen
        for resource_logs in request.resource_logs:
            attributes(resource_logs.resource.attributes, walk)
            for scope_logs in resource_logs.scope_logs:
                attributes(scope_logs.scope.attributes, walk)
                for record in scope_logs.log_records:
                    if item_screen is not None and not item_screen(record.SerializeToString()):
                        continue
                    walk.masked = walk.dropped = 0
                    if record.event_name:
                        new = self._text(record.event_name, walk)
                        if new is not None:
                            record.event_name = new
                    attributes(record.attributes, walk)
                    if record.HasField("body"):
                        self._value(record.body, body_path, 1, walk, None, ())
                    if summary:
                        self._add_summary(record.attributes, walk)
        self._audit.add_request(_LOGS, walk.counts)
        return None

    # -- walking -----------------------------------------------------------------------------

    def _attributes(self, attributes: Any, walk: _Walk) -> None:
        if not attributes:
            return
        ignored = self._ignored
        allowed = self._allowed_keys
        decide = self._rules.key_decision
        dropped: list[int] | None = None
        for index, entry in enumerate(attributes):
            key = entry.key
            if ignored and key in ignored:
                continue
            if allowed is not None and key not in allowed:
                if dropped is None:
                    dropped = []
                dropped.append(index)
                continue
            forced, context = decide(key)
            self._value(entry.value, key if ignored else None, 1, walk, forced, context)
        if dropped:
            for index in reversed(dropped):
                del attributes[index]
                walk.add(audit.RULE_ALLOWED_KEYS, audit.ACTION_DROP)
            walk.dropped += len(dropped)

    def _value(
        self,
        value: Any,
        path: str | None,
        depth: int,
        walk: _Walk,
        forced: str | None,
        context: tuple,
    ) -> None:
        """One AnyValue. ``forced`` names the key rule replacing every leaf under it;
        ``context`` holds the key-context detectors of the key the value sits under."""
        kind = value.WhichOneof("value")
        if kind is None:
            return
        if depth > self._max_depth:
            self._too_deep(value, walk, forced)
            return
        if kind == "string_value":
            text = value.string_value
            if forced is not None:
                value.string_value = self._replace(text)
                self._count(forced, walk)
                return
            for detector in context:
                if detector.regex.fullmatch(text) is not None:
                    value.string_value = self._replace(text)
                    self._count(detector.name, walk)
                    return
            new = self._text(text, walk)
            if new is not None:
                value.string_value = new
        elif kind in _CONTAINERS:
            ignored = self._ignored
            if kind == "array_value":
                for item in value.array_value.values:
                    self._value(item, path, depth + 1, walk, forced, context)
                return
            decide = self._rules.key_decision
            for entry in value.kvlist_value.values:
                key = entry.key
                sub_path = None
                if path is not None:
                    sub_path = f"{path}.{key}"
                    if sub_path in ignored:
                        continue
                if forced is None:
                    entry_forced, entry_context = decide(key)
                else:
                    entry_forced, entry_context = forced, ()
                self._value(entry.value, sub_path, depth + 1, walk, entry_forced, entry_context)
        elif forced is not None:
            value.string_value = self._replace(_scalar_text(value, kind))
            self._count(forced, walk)
        elif self._match_scalars:
            new = self._text(_scalar_text(value, kind), walk)
            if new is not None:
                value.string_value = new

    def _too_deep(self, value: Any, walk: _Walk, forced: str | None) -> None:
        """Fail closed below ``max_depth``: replace the whole value if anything could match."""
        if forced is None and not self._deep_screen(value.SerializeToString()):
            return
        value.string_value = self._mask
        walk.add(audit.RULE_MAX_DEPTH, ACTION_MASK)
        walk.masked += 1

    def _text(self, text: str, walk: _Walk) -> str | None:
        """``text`` with every rule match replaced, or None when nothing matched."""
        if not text or not self._value_rules:
            return None
        hits = self._rules.find(text)
        if not hits:
            return None
        replace = self._replace
        parts = []
        last = 0
        labels = []
        for start, end, label in hits:
            parts.append(text[last:start])
            parts.append(replace(text[start:end]))
            last = end
            if label not in labels:
                labels.append(label)
        parts.append(text[last:])
        for label in labels:
            walk.add(label, self._action)
        walk.masked += 1
        return "".join(parts)

    def _count(self, rule: str, walk: _Walk) -> None:
        walk.add(rule, self._action)
        walk.masked += 1

    @staticmethod
    def _add_summary(attributes: Any, walk: _Walk) -> None:
        for name, count in (
            (audit.MASKED_COUNT_ATTRIBUTE, walk.masked),
            (audit.DROPPED_COUNT_ATTRIBUTE, walk.dropped),
        ):
            if not count:
                continue
            for entry in attributes:
                if entry.key == name:  # already summarised upstream: add to it
                    entry.value.int_value = entry.value.int_value + count
                    break
            else:
                entry = attributes.add()
                entry.key = name
                entry.value.int_value = count

    # -- audit -------------------------------------------------------------------------------

    def audit_snapshot(self) -> AuditSnapshot:
        """The audit totals so far (a copy)."""
        return self._audit.snapshot()

    def prometheus_collector(self) -> RedactionCollector:
        """A ``prometheus_client`` custom collector of ``queue_collector_redaction_*``."""
        return RedactionCollector(self._audit.snapshot)
