"""Mapping rules: which producer metric feeds which unified Prometheus metric, and how.

The built-in rules are derived from the catalog (:mod:`queue_telemetry.catalog`): one rule per
unified metric that names a ``source`` instrument. Users add rules in YAML files with the same
schema (see the package README); a file may also declare unified metrics the catalog lacks.

Everything is validated once, at start-up, by :func:`build_rule_set`; any problem raises
:class:`MappingConfigError` naming the file, the rule and (for conflicts) the other rule.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Iterable, Mapping, Sequence

import yaml

from queue_telemetry.catalog import (
    BASE_LABELS,
    INSTRUMENTS,
    LABEL_SOURCES,
    UNIFIED_METRICS,
    GaugeAggregation,
    SourceFilter,
    UnifiedKind,
    UnifiedMetric,
)

from .config import MappingConfigError, ShippedRulesConfig

__all__ = [
    "SourceType",
    "ReadAs",
    "SummaryValue",
    "LabelSource",
    "RuleFilter",
    "MappingRule",
    "Reading",
    "RuleSet",
    "catalog_rules",
    "catalog_targets",
    "shipped_rule_files",
    "build_rule_set",
]

#: The value of the ``service`` label when the resource has no ``service.name``.
UNKNOWN_SERVICE = "unknown_service"



class SourceType(str, enum.Enum):
    """What kind of OTLP metric a rule's source is: the catalog's instrument kinds and ``summary``.

    The values equal :class:`InstrumentKind`'s, so ``SourceType.COUNTER == InstrumentKind.COUNTER``.
    """

    COUNTER = "counter"
    UP_DOWN_COUNTER = "up_down_counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"
    #: An OTLP summary (count, sum, quantiles; CloudWatch's min and max are quantiles 0 and 1).
    SUMMARY = "summary"


class ReadAs(str, enum.Enum):
    """How a rule reads a source whose type is not the target's (type conversion)."""

    #: Each point is the current value.
    GAUGE = "gauge"
    #: Each point is a running total since some start (a reset when it goes down).
    CUMULATIVE_COUNTER = "cumulative_counter"
    #: Each point is the total of one reporting period ending at its time (CloudWatch sums,
    #: Azure Monitor ``_total`` aggregations); a point at or before the last one is ignored.
    DELTA_COUNTER = "delta_counter"


class SummaryValue(str, enum.Enum):
    """Which value of a summary point a rule reads."""

    MIN = "min"  # quantile 0
    MAX = "max"  # quantile 1
    SUM = "sum"
    COUNT = "count"
    AVERAGE = "average"  # sum / count; a point with count 0 has no value


#: Which unified type each kind of source produces (without ``read_as``).
_TARGET_KIND_OF_SOURCE = {
    SourceType.COUNTER: UnifiedKind.COUNTER,
    SourceType.HISTOGRAM: UnifiedKind.HISTOGRAM,
    SourceType.GAUGE: UnifiedKind.GAUGE,
    SourceType.UP_DOWN_COUNTER: UnifiedKind.GAUGE,
}
_TARGET_KIND_OF_READING = {
    ReadAs.GAUGE: UnifiedKind.GAUGE,
    ReadAs.CUMULATIVE_COUNTER: UnifiedKind.COUNTER,
    ReadAs.DELTA_COUNTER: UnifiedKind.COUNTER,
}
#: The ``read_as`` values each source type allows (None: read as its own type).
_READINGS_OF_SOURCE: Mapping[SourceType, tuple[ReadAs | None, ...]] = {
    SourceType.COUNTER: (None,),
    SourceType.HISTOGRAM: (None,),
    SourceType.GAUGE: (None, ReadAs.GAUGE, ReadAs.CUMULATIVE_COUNTER, ReadAs.DELTA_COUNTER),
    SourceType.UP_DOWN_COUNTER: (None, ReadAs.GAUGE, ReadAs.CUMULATIVE_COUNTER, ReadAs.DELTA_COUNTER),
    SourceType.SUMMARY: (ReadAs.GAUGE, ReadAs.CUMULATIVE_COUNTER, ReadAs.DELTA_COUNTER),
}

#: The shipped rule files, by the ``shipped_rules`` switch that loads them.
SHIPPED_RULE_FILES = {
    "rust_runtime": "rust_runtime.yaml",
    "cloudwatch_sqs": "cloudwatch_sqs.yaml",
    "azure_monitor_servicebus": "azure_monitor_servicebus.yaml",
}
#: The ``shipped_rules`` field that sets the ``service`` label of a shipped family, if any.
_SHIPPED_SERVICE_SETTING = {
    "cloudwatch_sqs": "cloudwatch_service",
    "azure_monitor_servicebus": "azure_monitor_service",
}

#: Factors from a source unit to the unified unit, for units that differ by a scale only
#: (UCUM spellings, and CloudWatch's and Azure Monitor's).
_UNIT_SCALES = {
    ("ms", "s"): 1e-3,
    ("us", "s"): 1e-6,
    ("ns", "s"): 1e-9,
    ("min", "s"): 60.0,
    ("h", "s"): 3600.0,
    ("Seconds", "s"): 1.0,
    ("Milliseconds", "s"): 1e-3,
    ("MilliSeconds", "s"): 1e-3,
    ("Microseconds", "s"): 1e-6,
}
#: Units of plain counts, which feed any ``{...}`` (annotated count) or ``1`` unified unit as is.
_COUNT_UNITS = frozenset(("1", "Count", "{Count}", "count", "{count}"))


def unit_scale(source_unit: str, target_unit: str) -> float | None:
    """The factor from ``source_unit`` to ``target_unit``, or None when they do not convert."""
    if source_unit == target_unit:
        return 1.0
    scale = _UNIT_SCALES.get((source_unit, target_unit))
    if scale is not None:
        return scale
    counts = target_unit == "1" or (target_unit.startswith("{") and target_unit.endswith("}"))
    if counts and (source_unit in _COUNT_UNITS or source_unit.startswith("{")):
        return 1.0
    return None

#: Catalog metrics other receiver components compute (health); rules cannot feed them.
_RESERVED_TARGETS = frozenset(metric.name for metric in UNIFIED_METRICS if metric.source is None)

#: libyaml's safe loader when PyYAML has it (much faster), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

_FILE_KEYS = ("metrics", "rules")
_METRIC_KEYS = ("name", "type", "description", "unit", "labels", "buckets", "gauge_aggregation")
_RULE_KEYS = (
    "name",
    "source",
    "source_type",
    "read_as",
    "summary_value",
    "target",
    "filter",
    "labels",
    "constant_labels",
    "label_defaults",
    "source_unit",
    "scale",
)
_FILTER_KEYS = ("equals", "absent", "present", "matches")


@dataclass(frozen=True)
class RuleFilter(SourceFilter):
    """A rule file's filter: the catalog's ``equals`` and ``absent``, plus ``present`` (keys that
    must be there) and ``matches`` (key -> regular expression the value must fully match).

    Attributes are the point's, then the resource's (a key on the point hides the resource's).
    """

    present: tuple[str, ...] = ()
    matches_patterns: Mapping[str, "re.Pattern[str]"] = field(default_factory=dict)

    def matches(self, attributes: Mapping[str, object]) -> bool:
        if not SourceFilter.matches(self, attributes):
            return False
        for key in self.present:
            if key not in attributes:
                return False
        for key, pattern in self.matches_patterns.items():
            value = attributes.get(key)
            if not isinstance(value, str) or pattern.fullmatch(value) is None:
                return False
        return True


@dataclass(frozen=True)
class LabelSource:
    """Where one Prometheus label of a rule's target gets its value.

    ``attribute`` is looked up among the point's attributes, then the resource's, then each of
    ``alternatives`` the same way; when it is None, or none is present, the label is ``default``.
    A key of a nested (key-value list) attribute is addressed as ``<attribute>.<key>``.
    """

    label: str
    attribute: str | None
    default: str
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class MappingRule:
    """Feeds the points of one source metric (those ``source_filter`` selects) into one target."""

    #: Names the rule in messages: ``catalog:<target>`` or ``<file>: rules[<i>] (<name>)``.
    name: str
    #: OTLP metric name of the source.
    source: str
    #: What kind of metric the source is; decides which OTLP point types fit the rule.
    source_kind: SourceType
    source_filter: SourceFilter
    #: Name of the unified metric (a key of :attr:`RuleSet.targets`).
    target: str
    #: One entry per label of the target, in the target's label order.
    labels: tuple[LabelSource, ...]
    #: Multiplies values (counter increments, gauge values, histogram bounds and sums).
    scale: float = 1.0
    #: Type conversion: how the source's points are read (None: as the source type implies).
    read_as: ReadAs | None = None
    #: Which value of a summary point is read (summary sources only).
    summary_value: SummaryValue | None = None

    @property
    def reading(self) -> tuple[SourceType, ReadAs | None, SummaryValue | None]:
        """What decides how a point is read; rules with the same reading share streams."""
        return (self.source_kind, self.read_as, self.summary_value)

    @property
    def target_kind(self) -> UnifiedKind:
        """The unified type this rule's points produce."""
        if self.read_as is not None:
            return _TARGET_KIND_OF_READING[self.read_as]
        return _TARGET_KIND_OF_SOURCE[self.source_kind]


@dataclass(frozen=True)
class Reading:
    """The rules of one source that read its points the same way (and so share its streams)."""

    source_kind: SourceType
    read_as: ReadAs | None
    summary_value: SummaryValue | None
    rules: tuple[MappingRule, ...]


@dataclass(frozen=True)
class RuleSet:
    """The validated, indexed rules and the unified metrics they feed."""

    #: Every unified metric this stage exposes, in exposition order.
    targets: Mapping[str, UnifiedMetric]
    rules: tuple[MappingRule, ...]
    #: Rules by source metric name, so an unrelated metric costs one dict lookup.
    by_source: Mapping[str, tuple[MappingRule, ...]]
    #: The same rules grouped by how they read the source's points.
    readings_by_source: Mapping[str, tuple[Reading, ...]]


def catalog_targets() -> dict[str, UnifiedMetric]:
    """The catalog's unified metrics this stage computes (all with a ``source``; not health)."""
    return {metric.name: metric for metric in UNIFIED_METRICS if metric.source is not None}


def _default_label_sources(target: UnifiedMetric) -> dict[str, LabelSource]:
    sources = {}
    for label in target.labels:
        attribute = LABEL_SOURCES.get(label)
        if label == "service":
            default = UNKNOWN_SERVICE
        elif label == "provider":
            default = target.provider or ""
        else:
            default = ""
        sources[label] = LabelSource(label, attribute, default)
    return sources


def catalog_rules() -> tuple[MappingRule, ...]:
    """One rule per unified catalog metric, from its ``source`` instrument and ``source_filter``."""
    instruments = {item.name: item for item in INSTRUMENTS}
    rules = []
    for target in catalog_targets().values():
        assert target.source is not None
        source = instruments[target.source]
        if source.unit == target.unit:
            scale = 1.0
        else:
            scale = _UNIT_SCALES[(source.unit, target.unit)]
        label_sources = _default_label_sources(target)
        rules.append(
            MappingRule(
                name=f"catalog:{target.name}",
                source=source.name,
                source_kind=SourceType(source.kind.value),
                source_filter=target.source_filter,
                target=target.name,
                labels=tuple(label_sources[label] for label in target.labels),
                scale=scale,
            )
        )
    return tuple(rules)


# --- YAML rule files --------------------------------------------------------------------------


def _check_keys(where: str, item: Any, known: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise MappingConfigError(f"{where}: expected a mapping, got {type(item).__name__}")
    unknown = sorted(str(key) for key in item if key not in known)
    if unknown:
        raise MappingConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(known)})"
        )
    return item


def _string(where: str, item: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise MappingConfigError(f"{where}: missing required key {key!r}")
        return None
    if not isinstance(value, str) or not value:
        raise MappingConfigError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def _string_map(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MappingConfigError(f"{where}: expected a mapping of strings, got {value!r}")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, (str, int, float, bool)):
            raise MappingConfigError(
                f"{where}: expected string keys and values, got {key!r}: {item!r}"
            )
        if isinstance(item, bool):
            result[key] = "true" if item else "false"  # as bool attributes read as label text
        else:
            result[key] = item if isinstance(item, str) else str(item)
    return result


def _string_list(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MappingConfigError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _enum(where: str, value: Any, enum_type: Any) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum_type)
        raise MappingConfigError(f"{where}: {value!r} is not one of {choices}") from None


def _exposed_names(metric: UnifiedMetric) -> tuple[str, ...]:
    """The sample and family names a metric occupies in the exposition."""
    if metric.kind is UnifiedKind.COUNTER:
        base = metric.name[: -len("_total")] if metric.name.endswith("_total") else metric.name
        return (base, base + "_total", base + "_created")
    if metric.kind is UnifiedKind.HISTOGRAM:
        return tuple(
            metric.name + suffix for suffix in ("", "_bucket", "_sum", "_count", "_created")
        )
    return (metric.name,)


def _parse_metric(where: str, item: Any) -> UnifiedMetric:
    item = _check_keys(where, item, _METRIC_KEYS)
    name = _string(where, item, "name", required=True)
    assert name is not None
    where = f"{where} ({name})"
    if not _METRIC_NAME.match(name):
        raise MappingConfigError(f"{where}: {name!r} is not a valid Prometheus metric name")
    kind = _enum(f"{where}.type", item.get("type"), UnifiedKind)
    description = _string(where, item, "description", required=True)
    unit = _string(where, item, "unit", required=False) or ""
    labels = (
        _string_list(f"{where}.labels", item.get("labels")) if "labels" in item else BASE_LABELS
    )
    for label in labels:
        if not _LABEL_NAME.match(label) or label.startswith("__") or label == "le":
            raise MappingConfigError(f"{where}.labels: {label!r} is not a usable label name")
    if len(set(labels)) != len(labels):
        raise MappingConfigError(f"{where}.labels: a label is listed twice in {list(labels)}")

    if kind is UnifiedKind.COUNTER:
        if name.endswith("_total_total"):
            raise MappingConfigError(
                f"{where}: counter name {name!r} would be exposed as '..._total_total'; "
                f"name it {name[: -len('_total')]!r}"
            )
        if not name.endswith("_total"):
            raise MappingConfigError(
                f"{where}: counter name {name!r} must end in '_total' (it is exposed as written)"
            )
    elif name.endswith("_total"):
        raise MappingConfigError(
            f"{where}: only counters may end in '_total', {name!r} is a {kind.value}"
        )
    if kind is UnifiedKind.HISTOGRAM and name.endswith(("_bucket", "_sum", "_count")):
        raise MappingConfigError(f"{where}: histogram name {name!r} ends in a reserved suffix")

    buckets = None
    if kind is UnifiedKind.HISTOGRAM:
        raw = item.get("buckets")
        if not isinstance(raw, list) or not raw:
            raise MappingConfigError(
                f"{where}.buckets: a histogram needs a non-empty list of bounds"
            )
        if not all(
            isinstance(bound, (int, float)) and not isinstance(bound, bool) for bound in raw
        ):
            raise MappingConfigError(f"{where}.buckets: bounds must be numbers, got {raw!r}")
        buckets = tuple(float(bound) for bound in raw)
        if any(not math.isfinite(bound) for bound in buckets) or any(
            lower >= upper for lower, upper in zip(buckets, buckets[1:])
        ):
            raise MappingConfigError(
                f"{where}.buckets: bounds must be finite and strictly increasing (+Inf is implied), got {raw!r}"
            )
    elif "buckets" in item:
        raise MappingConfigError(f"{where}.buckets: only histograms have buckets")

    aggregation = None
    if kind is UnifiedKind.GAUGE:
        aggregation = _enum(
            f"{where}.gauge_aggregation", item.get("gauge_aggregation", "last"), GaugeAggregation
        )
    elif "gauge_aggregation" in item:
        raise MappingConfigError(f"{where}.gauge_aggregation: only gauges have a gauge_aggregation")

    return UnifiedMetric(
        name=name,
        kind=kind,
        unit=unit,
        description=description,
        labels=labels,
        source=None,
        buckets=buckets,
        gauge_aggregation=aggregation,
    )


@dataclass(frozen=True)
class _RawRule:
    """A rule as read from a file, before its target is resolved."""

    where: str
    source: str
    source_kind: SourceType | None
    read_as: ReadAs | None
    summary_value: SummaryValue | None
    source_filter: SourceFilter
    target: str
    #: label -> attributes to try in order
    labels: Mapping[str, tuple[str, ...]]
    constant_labels: Mapping[str, str]
    label_defaults: Mapping[str, str]
    scale: float
    source_unit: str | None


def _label_attributes(where: str, value: Any) -> dict[str, tuple[str, ...]]:
    """``labels:``: label -> an attribute name, or a list of them tried in order."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MappingConfigError(f"{where}: expected a mapping of label -> attribute(s), got {value!r}")
    result = {}
    for label, attributes in value.items():
        if isinstance(attributes, str) and attributes:
            result[label] = (attributes,)
        elif (
            isinstance(attributes, list)
            and attributes
            and all(isinstance(item, str) and item for item in attributes)
        ):
            result[label] = tuple(attributes)
        else:
            raise MappingConfigError(
                f"{where}.{label}: expected an attribute name or a non-empty list of them, "
                f"got {attributes!r}"
            )
    return result


def _parse_rule(where: str, item: Any) -> _RawRule:
    item = _check_keys(where, item, _RULE_KEYS)
    name = _string(where, item, "name", required=False)
    if name is not None:
        where = f"{where} ({name})"
    source = _string(where, item, "source", required=True)
    target = _string(where, item, "target", required=True)
    assert source is not None and target is not None
    source_kind = None
    if item.get("source_type") is not None:
        source_kind = _enum(f"{where}.source_type", item["source_type"], SourceType)
    read_as = None
    if item.get("read_as") is not None:
        read_as = _enum(f"{where}.read_as", item["read_as"], ReadAs)
    summary_value = None
    if item.get("summary_value") is not None:
        summary_value = _enum(f"{where}.summary_value", item["summary_value"], SummaryValue)
    raw_filter = _check_keys(f"{where}.filter", item.get("filter") or {}, _FILTER_KEYS)
    patterns = {}
    for key, text in _string_map(f"{where}.filter.matches", raw_filter.get("matches")).items():
        try:
            patterns[key] = re.compile(text)
        except re.error as error:
            raise MappingConfigError(
                f"{where}.filter.matches.{key}: invalid regular expression {text!r}: {error}"
            ) from None
    source_filter = RuleFilter(
        equals=_string_map(f"{where}.filter.equals", raw_filter.get("equals")),
        absent=_string_list(f"{where}.filter.absent", raw_filter.get("absent")),
        present=_string_list(f"{where}.filter.present", raw_filter.get("present")),
        matches_patterns=patterns,
    )
    source_unit = _string(where, item, "source_unit", required=False)
    if source_unit is not None and "scale" in item:
        raise MappingConfigError(f"{where}: set source_unit or scale, not both")
    scale = item.get("scale", 1.0)
    if (
        not isinstance(scale, (int, float))
        or isinstance(scale, bool)
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise MappingConfigError(f"{where}.scale: expected a finite number > 0, got {scale!r}")
    return _RawRule(
        where=where,
        source=source,
        source_kind=source_kind,
        read_as=read_as,
        summary_value=summary_value,
        source_filter=source_filter,
        target=target,
        labels=_label_attributes(f"{where}.labels", item.get("labels")),
        constant_labels=_string_map(f"{where}.constant_labels", item.get("constant_labels")),
        label_defaults=_string_map(f"{where}.label_defaults", item.get("label_defaults")),
        scale=float(scale),
        source_unit=source_unit,
    )


def _parse_document(
    where: str, document: Any
) -> tuple[list[tuple[str, UnifiedMetric]], list[_RawRule]]:
    if document is None:
        return [], []
    document = _check_keys(where, document, _FILE_KEYS)
    metrics_raw = document.get("metrics") or []
    rules_raw = document.get("rules") or []
    for key, value in (("metrics", metrics_raw), ("rules", rules_raw)):
        if not isinstance(value, list):
            raise MappingConfigError(f"{where}: {key}: expected a list, got {type(value).__name__}")
    metrics = []
    for index, item in enumerate(metrics_raw):
        metric = _parse_metric(f"{where}: metrics[{index}]", item)
        metrics.append((f"{where}: metrics[{index}] ({metric.name})", metric))
    rules = [_parse_rule(f"{where}: rules[{index}]", item) for index, item in enumerate(rules_raw)]
    return metrics, rules


def _load_file(path: str) -> tuple[list[tuple[str, UnifiedMetric]], list[_RawRule]]:
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.load(stream, Loader=_YAML_LOADER)
    except OSError as error:
        raise MappingConfigError(f"{path}: cannot read rule file: {error}") from None
    except yaml.YAMLError as error:
        raise MappingConfigError(f"{path}: invalid YAML: {error}") from None
    return _parse_document(path, document)


def shipped_rule_files() -> dict[str, str]:
    """The shipped rule files' text, by their ``shipped_rules`` switch."""
    folder = resources.files(__package__).joinpath("shipped_rules")
    return {
        switch: folder.joinpath(file_name).read_text(encoding="utf-8")
        for switch, file_name in SHIPPED_RULE_FILES.items()
    }


@functools.lru_cache(maxsize=None)
def _load_shipped(switch: str) -> tuple[list[tuple[str, UnifiedMetric]], list[_RawRule]]:
    """A shipped file, parsed once per process (callers must not change the lists)."""
    where = f"shipped:{SHIPPED_RULE_FILES[switch]}"
    text = shipped_rule_files()[switch]
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:  # a packaging bug; named like a user file's
        raise MappingConfigError(f"{where}: invalid YAML: {error}") from None
    return _parse_document(where, document)


def _resolve(raw: _RawRule, targets: Mapping[str, UnifiedMetric]) -> MappingRule:
    target = targets.get(raw.target)
    if target is None and raw.target in _RESERVED_TARGETS:
        raise MappingConfigError(
            f"{raw.where}: target {raw.target!r} is computed by another receiver component, "
            f"not by metric mapping"
        )
    if target is None:
        raise MappingConfigError(
            f"{raw.where}: unknown target {raw.target!r}: not a catalog metric computed by this "
            f"stage and not declared under 'metrics:' in a rule file"
        )
    source_kind = raw.source_kind
    if source_kind is None:
        known = {item.name: item for item in INSTRUMENTS}.get(raw.source)
        if known is None:
            raise MappingConfigError(
                f"{raw.where}: source {raw.source!r} is not a catalog instrument; "
                f"set source_type ({', '.join(kind.value for kind in SourceType)})"
            )
        source_kind = SourceType(known.kind.value)
    allowed = _READINGS_OF_SOURCE[source_kind]
    if raw.read_as not in allowed:
        if raw.read_as is None:
            choices = ", ".join(item.value for item in allowed if item is not None)
            raise MappingConfigError(
                f"{raw.where}: a {source_kind.value} source needs read_as ({choices})"
            )
        raise MappingConfigError(
            f"{raw.where}.read_as: a {source_kind.value} source cannot be read as "
            f"{raw.read_as.value}"
        )
    if (source_kind is SourceType.SUMMARY) != (raw.summary_value is not None):
        if raw.summary_value is None:
            raise MappingConfigError(
                f"{raw.where}: a summary source needs summary_value "
                f"({', '.join(item.value for item in SummaryValue)})"
            )
        raise MappingConfigError(f"{raw.where}.summary_value: only summary sources have one")
    for key, labels in (
        ("labels", raw.labels),
        ("constant_labels", raw.constant_labels),
        ("label_defaults", raw.label_defaults),
    ):
        for label in labels:
            if label not in target.labels:
                raise MappingConfigError(
                    f"{raw.where}.{key}: {label!r} is not a label of {target.name} "
                    f"(labels: {', '.join(target.labels)})"
                )
    both = sorted(set(raw.labels) & set(raw.constant_labels))
    if both:
        raise MappingConfigError(
            f"{raw.where}: label(s) {both} set in both labels and constant_labels"
        )
    pointless = sorted(set(raw.label_defaults) & set(raw.constant_labels))
    if pointless:
        raise MappingConfigError(
            f"{raw.where}: label(s) {pointless} have a constant value; label_defaults cannot apply"
        )
    defaults = _default_label_sources(target)
    sources = []
    for label in target.labels:
        default = raw.label_defaults.get(label, defaults[label].default)
        if label in raw.constant_labels:
            sources.append(LabelSource(label, None, raw.constant_labels[label]))
        elif label in raw.labels:
            first, *others = raw.labels[label]
            sources.append(LabelSource(label, first, default, tuple(others)))
        elif defaults[label].attribute is not None:
            sources.append(replace(defaults[label], default=default))
        elif label in raw.label_defaults:
            sources.append(LabelSource(label, None, default))
        else:
            raise MappingConfigError(
                f"{raw.where}: label {label!r} of {target.name} has no source; "
                f"set it under labels or constant_labels"
            )
    scale = raw.scale
    if raw.source_unit is not None:
        converted = unit_scale(raw.source_unit, target.unit)
        if converted is None:
            raise MappingConfigError(
                f"{raw.where}.source_unit: cannot convert {raw.source_unit!r} to the unit "
                f"{target.unit!r} of {target.name}; set scale instead"
            )
        scale = converted
    return MappingRule(
        name=raw.where,
        source=raw.source,
        source_kind=source_kind,
        source_filter=raw.source_filter,
        target=target.name,
        labels=tuple(sources),
        scale=scale,
        read_as=raw.read_as,
        summary_value=raw.summary_value,
    )


def _check_rules(
    rules: Iterable[MappingRule],
    targets: Mapping[str, UnifiedMetric],
    declared_at: Mapping[str, str],
) -> None:
    fitting_by_target: dict[str, MappingRule] = {}
    seen: dict[tuple[object, ...], MappingRule] = {}
    first_by_source: dict[str, MappingRule] = {}
    for rule in rules:
        other = first_by_source.setdefault(rule.source, rule)
        if other.source_kind is not rule.source_kind:
            raise MappingConfigError(
                f"{rule.name}: reads {rule.source!r} as a {rule.source_kind.value}, but "
                f"{other.name} reads it as a {other.source_kind.value}"
            )
        target = targets[rule.target]
        implied = rule.target_kind
        if implied is target.kind:
            fitting_by_target.setdefault(rule.target, rule)
        else:
            reading = rule.source_kind.value
            if rule.read_as is not None:
                reading = f"{reading} read as {rule.read_as.value}"
            if target.kind is UnifiedKind.HISTOGRAM:
                problem = f"histogram target {rule.target} fed by a non-histogram source"
            else:
                problem = f"{target.kind.value} target {rule.target} fed by a {reading} source"
            fitting = fitting_by_target.get(rule.target)
            if fitting is not None:
                conflict = f"but {fitting.name} gives it the type {target.kind.value}"
            else:
                conflict = f"but {declared_at[rule.target]} declares it a {target.kind.value}"
            raise MappingConfigError(
                f"{rule.name}: {problem} {rule.source!r} ({reading}), which gives it "
                f"the type {implied.value}, {conflict}"
            )
        rule_filter = rule.source_filter
        key = (
            rule.source,
            rule.target,
            tuple(sorted(rule_filter.equals.items())),
            tuple(sorted(rule_filter.absent)),
            tuple(sorted(getattr(rule_filter, "present", ()))),
            tuple(
                sorted(
                    (name, pattern.pattern)
                    for name, pattern in getattr(rule_filter, "matches_patterns", {}).items()
                )
            ),
        )
        duplicate = seen.setdefault(key, rule)
        if duplicate is not rule:
            raise MappingConfigError(
                f"{rule.name}: maps {rule.source!r} onto {rule.target} with the same filter as "
                f"{duplicate.name}; the points would count twice"
            )


def _with_service(rules: Sequence[MappingRule], service: str) -> list[MappingRule]:
    """``rules`` with their ``service`` label set to ``service`` (empty: the resource's service.name)."""
    if service:
        source = LabelSource("service", None, service)
    else:
        source = LabelSource("service", LABEL_SOURCES["service"], UNKNOWN_SERVICE)
    return [
        replace(
            rule,
            labels=tuple(source if item.label == "service" else item for item in rule.labels),
        )
        for rule in rules
    ]


def build_rule_set(
    rule_files: Sequence[str], shipped: ShippedRulesConfig | None = None
) -> RuleSet:
    """The catalog rules, the ``shipped`` rule files switched on, then the rules of
    ``rule_files`` (in order), validated and indexed. ``shipped`` None loads no shipped file.

    Raises MappingConfigError naming the file, the rule and the problem.
    """
    targets: dict[str, UnifiedMetric] = catalog_targets()
    declared_at: dict[str, str] = {name: "the catalog" for name in targets}
    owner_of_name: dict[str, str] = {}
    for metric in UNIFIED_METRICS:
        declared_at.setdefault(metric.name, "the catalog")
        for exposed in _exposed_names(metric):
            owner_of_name[exposed] = metric.name
    # (raw rules, service label override or None)
    batches: list[tuple[list[_RawRule], str | None]] = []
    loaded: list[tuple[list[tuple[str, UnifiedMetric]], list[_RawRule], str | None]] = []
    if shipped is not None:
        for switch in SHIPPED_RULE_FILES:
            if getattr(shipped, switch):
                setting = _SHIPPED_SERVICE_SETTING.get(switch)
                service = getattr(shipped, setting) if setting else None
                loaded.append((*_load_shipped(switch), service))
    for path in rule_files:
        loaded.append((*_load_file(path), None))
    for metrics, rules, service in loaded:
        for where, metric in metrics:
            if metric.name in _RESERVED_TARGETS:
                raise MappingConfigError(
                    f"{where}: {metric.name} is computed by another receiver component"
                )
            if metric.name in targets:
                existing = targets[metric.name]
                if existing.kind is not metric.kind:
                    raise MappingConfigError(
                        f"{where}: declares {metric.name} as a {metric.kind.value}, but "
                        f"{declared_at[metric.name]} gives it the type {existing.kind.value}"
                    )
                if existing != metric:
                    raise MappingConfigError(
                        f"{where}: declares {metric.name} differently from {declared_at[metric.name]}"
                    )
                continue
            for exposed in _exposed_names(metric):
                clash = owner_of_name.get(exposed)
                if clash is not None:
                    raise MappingConfigError(
                        f"{where}: {metric.name} would expose {exposed!r}, which {clash} "
                        f"({declared_at[clash]}) already uses"
                    )
            for exposed in _exposed_names(metric):
                owner_of_name[exposed] = metric.name
            targets[metric.name] = metric
            declared_at[metric.name] = where
        batches.append((rules, service))
    resolved: list[MappingRule] = list(catalog_rules())
    for raw_rules, service in batches:
        rules_of_file = [_resolve(raw, targets) for raw in raw_rules]
        if service is not None:
            rules_of_file = _with_service(rules_of_file, service)
        resolved.extend(rules_of_file)
    rules = tuple(resolved)
    _check_rules(rules, targets, declared_at)
    by_source: dict[str, list[MappingRule]] = {}
    for rule in rules:
        by_source.setdefault(rule.source, []).append(rule)
    readings_by_source: dict[str, tuple[Reading, ...]] = {}
    for source, items in by_source.items():
        groups: dict[tuple[object, ...], list[MappingRule]] = {}
        for rule in items:
            groups.setdefault(rule.reading, []).append(rule)
        readings_by_source[source] = tuple(
            Reading(kind, read_as, summary_value, tuple(group))  # type: ignore[arg-type]
            for (kind, read_as, summary_value), group in groups.items()
        )
    return RuleSet(
        targets=targets,
        rules=rules,
        by_source={source: tuple(items) for source, items in by_source.items()},
        readings_by_source=readings_by_source,
    )
