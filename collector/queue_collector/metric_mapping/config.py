"""Configuration of the metric mapping stage (the ``metric_mapping:`` section of the receiver config).

Every field is a simple type with a default, so the receiver's generic YAML loader can build the
dataclasses from a partial section. The stage's constructor checks the values again and raises
:class:`MappingConfigError` naming the key path; :meth:`MetricMappingConfig.validation_problems`
reports the same problems to the generic loader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, Mapping

__all__ = [
    "MetricMappingConfig",
    "ShippedRulesConfig",
    "CardinalityConfig",
    "MetricLimits",
    "SpanMetricsConfig",
    "MappingConfigError",
    "default_config",
]

_DEFAULT_STREAM_EXPIRY_SECONDS = 300.0
_DEFAULT_TOMBSTONE_SECONDS = 86_400.0
_DEFAULT_MAX_SERIES_PER_METRIC = 2000
_DEFAULT_MAX_LABEL_VALUES = 1000
_DEFAULT_MAX_STREAMS_PER_SOURCE = 1000
_DEFAULT_MAX_STREAMS = 200_000


class MappingConfigError(ValueError):
    """The mapping configuration or a rule file is invalid; the message names the problem and where."""


@dataclass(frozen=True)
class ShippedRulesConfig:
    """Which of the rule files shipped with the receiver are loaded (all by default)."""

    #: Metrics of the original Rust queue-runtime, scraped by the collector's Prometheus receiver
    #: (``queue_messages_sent_total`` or ``queue_messages_sent``, ...) (default = ``True``).
    rust_runtime: bool = True
    #: CloudWatch Metric Streams for SQS, JSON and OpenTelemetry 1.0 formats, as the collector's
    #: awsfirehose receiver decodes them (default = ``True``).
    cloudwatch_sqs: bool = True
    #: Azure Monitor receiver metrics of Service Bus (``azure_activemessages_average``, ...)
    #: (default = ``True``).
    azure_monitor_servicebus: bool = True
    #: The ``service`` label of CloudWatch series: CloudWatch does not know which application
    #: uses a queue. Empty = the resource's ``service.name`` (set it in the collector pipeline;
    #: note the JSON format's receiver sets it to the AWS service, ``SQS``) (default = ``"cloudwatch"``).
    cloudwatch_service: str = "cloudwatch"
    #: The ``service`` label of Azure Monitor series; empty = the resource's ``service.name``
    #: (default = ``"azure_monitor"``).
    azure_monitor_service: str = "azure_monitor"


@dataclass(frozen=True)
class MetricLimits:
    """Per-metric overrides of the cardinality guard (under ``cardinality.metrics.<name>``)."""

    #: Label allow-list: the values of the metric's other labels are dropped (set empty) before
    #: aggregation, so their series merge. None keeps every label (default = ``None``).
    labels: tuple[str, ...] | None = None
    #: Series limit of this metric; 0 = ``cardinality.max_series_per_metric`` (default = ``0``).
    max_series: int = 0


@dataclass(frozen=True)
class CardinalityConfig:
    """Bounds on what producers can make the receiver remember."""

    #: Distinct label sets (series) one unified metric may have. A new series beyond the limit
    #: is added to the metric's single overflow series, labelled ``otel_metric_overflow="true"``
    #: with every other label empty (default = ``2000``; must be >= 1).
    max_series_per_metric: int = _DEFAULT_MAX_SERIES_PER_METRIC
    #: Distinct values one label of one unified metric may take; further values become
    #: ``_other`` (default = ``1000``; must be >= 1).
    max_label_values: int = _DEFAULT_MAX_LABEL_VALUES
    #: Streams (distinct point attribute sets) one source metric of one producer resource may
    #: have. Beyond it, delta points are added without per-stream state and cumulative or gauge
    #: points are dropped and counted (default = ``1000``; must be >= 1).
    max_streams_per_source: int = _DEFAULT_MAX_STREAMS_PER_SOURCE
    #: Streams of all sources together, handled the same way when reached
    #: (default = ``200000``; must be >= 1).
    max_streams: int = _DEFAULT_MAX_STREAMS
    #: Per-metric overrides, by unified metric name (default = ``{}``).
    metrics: Mapping[str, MetricLimits] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanMetricsConfig:
    """Deriving queue metrics from messaging spans (for applications that export only traces)."""

    #: Count sent/received/settled messages, errors and durations from messaging spans. Off by
    #: default: it costs per-span work on the trace path, and a service that also sends metrics
    #: is only recognised once its first metrics arrived (default = ``False``).
    enabled: bool = False


@dataclass(frozen=True)
class MetricMappingConfig:
    """Settings of the metric mapping stage.

    Every field has a default so the receiver's generic YAML loader can build it from a partial
    section; :func:`default_config` returns the all-defaults instance.
    """

    #: Extra YAML rule files, loaded in order after the built-in rules derived from the catalog
    #: and the shipped rule files (default = ``()``, no extra rules).
    rule_files: tuple[str, ...] = ()
    #: A stream (one producer process's series of points) with no update for this many seconds is
    #: forgotten: a counter's or histogram's contribution stays in the totals, a gauge's value
    #: leaves the aggregate (default = ``300.0``; must be > 0).
    stream_expiry_seconds: float = _DEFAULT_STREAM_EXPIRY_SECONDS
    #: How long an expired counter or histogram stream's last point is kept (at most
    #: ``cardinality.max_streams`` of them, the oldest dropped first), so that a stream that
    #: comes back with the same start time adds only what is new since that point instead of
    #: its whole total again (default = ``86400.0``; must be > 0).
    tombstone_seconds: float = _DEFAULT_TOMBSTONE_SECONDS
    #: Rule files shipped with the receiver for other sources (default = all loaded).
    shipped_rules: ShippedRulesConfig = ShippedRulesConfig()
    #: Rename the Rust runtime's legacy span attributes (``queue.name``, ``message.id``,
    #: ``queue.operation``, ``queue.session_id``) to the conventions' names on the way to the
    #: trace exporters (default = ``True``).
    normalize_legacy_spans: bool = True
    #: Resources whose ``telemetry.sdk.language`` is listed have every span checked for legacy
    #: attributes; other scopes only when their first span has one (default = ``("rust",)``).
    legacy_span_sdk_languages: tuple[str, ...] = ("rust",)
    #: Series, label value and stream limits (default = see :class:`CardinalityConfig`).
    cardinality: CardinalityConfig = CardinalityConfig()
    #: Queue metrics derived from messaging spans (default = off).
    span_metrics: SpanMetricsConfig = SpanMetricsConfig()

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        """``(key path, message)`` for every value out of range (used by the generic loader)."""
        for key in ("stream_expiry_seconds", "tombstone_seconds"):
            seconds = getattr(self, key)
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or not math.isfinite(seconds)
                or seconds <= 0
            ):
                yield key, f"expected a finite number > 0, got {seconds!r}"
        if isinstance(self.rule_files, str) or not all(
            isinstance(path, str) and path for path in self.rule_files
        ):
            yield "rule_files", f"expected a list of file paths, got {self.rule_files!r}"
        if isinstance(self.legacy_span_sdk_languages, str) or not all(
            isinstance(item, str) for item in self.legacy_span_sdk_languages
        ):
            yield (
                "legacy_span_sdk_languages",
                f"expected a list of strings, got {self.legacy_span_sdk_languages!r}",
            )
        limits = self.cardinality
        for key in ("max_series_per_metric", "max_label_values", "max_streams_per_source", "max_streams"):
            value = getattr(limits, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                yield f"cardinality.{key}", f"expected an integer >= 1, got {value!r}"
        for name, item in dict(limits.metrics).items():
            if not isinstance(item, MetricLimits):
                yield f"cardinality.metrics.{name}", f"expected a mapping, got {item!r}"
                continue
            if isinstance(item.max_series, bool) or not isinstance(item.max_series, int) or item.max_series < 0:
                yield (
                    f"cardinality.metrics.{name}.max_series",
                    f"expected an integer >= 0, got {item.max_series!r}",
                )
            if item.labels is not None and (
                isinstance(item.labels, str) or not all(isinstance(label, str) for label in item.labels)
            ):
                yield f"cardinality.metrics.{name}.labels", f"expected a list of labels, got {item.labels!r}"
        for key in ("cloudwatch_service", "azure_monitor_service"):
            if not isinstance(getattr(self.shipped_rules, key), str):
                yield f"shipped_rules.{key}", f"expected a string, got {getattr(self.shipped_rules, key)!r}"


def check_config(config: MetricMappingConfig) -> None:
    """Raises MappingConfigError naming the first bad value (``metric_mapping.<key path>``)."""
    for key, message in config.validation_problems():
        raise MappingConfigError(f"metric_mapping.{key}: {message}")


def default_config() -> MetricMappingConfig:
    """The configuration used when the receiver config has no ``metric_mapping:`` section."""
    return MetricMappingConfig()
