"""Mapping rules: which producer metric feeds which unified Prometheus metric, and how.

The built-in rules are derived from the catalog (:mod:`queue_telemetry.catalog`): one rule per
unified metric that names a ``source`` instrument. Users add rules in YAML files with the same
schema (see the package README); a file may also declare unified metrics the catalog lacks.

Everything is validated once, at start-up, by :func:`build_rule_set`; any problem raises
:class:`MappingConfigError` naming the file, the rule and (for conflicts) the other rule.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import yaml

from queue_telemetry.catalog import (
    BASE_LABELS,
    INSTRUMENTS,
    LABEL_SOURCES,
    UNIFIED_METRICS,
    GaugeAggregation,
    InstrumentKind,
    SourceFilter,
    UnifiedKind,
    UnifiedMetric,
)

from .config import MappingConfigError

__all__ = [
    "LabelSource",
    "MappingRule",
    "RuleSet",
    "catalog_rules",
    "catalog_targets",
    "build_rule_set",
]

#: The value of the ``service`` label when the resource has no ``service.name``.
UNKNOWN_SERVICE = "unknown_service"

#: Which unified type each kind of source produces.
_TARGET_KIND_OF_SOURCE = {
    InstrumentKind.COUNTER: UnifiedKind.COUNTER,
    InstrumentKind.HISTOGRAM: UnifiedKind.HISTOGRAM,
    InstrumentKind.GAUGE: UnifiedKind.GAUGE,
    InstrumentKind.UP_DOWN_COUNTER: UnifiedKind.GAUGE,
}

#: Factors from a producer unit to the unified unit, for units that differ by a scale only.
_UNIT_SCALES = {
    ("ms", "s"): 1e-3,
    ("us", "s"): 1e-6,
    ("ns", "s"): 1e-9,
    ("min", "s"): 60.0,
    ("h", "s"): 3600.0,
}

#: Catalog metrics other receiver components compute (health); rules cannot feed them.
_RESERVED_TARGETS = frozenset(metric.name for metric in UNIFIED_METRICS if metric.source is None)

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

_FILE_KEYS = ("metrics", "rules")
_METRIC_KEYS = ("name", "type", "description", "unit", "labels", "buckets", "gauge_aggregation")
_RULE_KEYS = (
    "name",
    "source",
    "source_type",
    "target",
    "filter",
    "labels",
    "constant_labels",
    "scale",
)
_FILTER_KEYS = ("equals", "absent")


@dataclass(frozen=True)
class LabelSource:
    """Where one Prometheus label of a rule's target gets its value.

    ``attribute`` is looked up among the point's attributes, then the resource's; when it is
    None, or absent from both, the label is ``default``.
    """

    label: str
    attribute: str | None
    default: str


@dataclass(frozen=True)
class MappingRule:
    """Feeds the points of one source metric (those ``source_filter`` selects) into one target."""

    #: Names the rule in messages: ``catalog:<target>`` or ``<file>: rules[<i>] (<name>)``.
    name: str
    #: OTLP metric name of the source.
    source: str
    #: What kind of instrument the source is; decides which OTLP point types fit the rule.
    source_kind: InstrumentKind
    source_filter: SourceFilter
    #: Name of the unified metric (a key of :attr:`RuleSet.targets`).
    target: str
    #: One entry per label of the target, in the target's label order.
    labels: tuple[LabelSource, ...]
    #: Multiplies values (counter increments, gauge values, histogram bounds and sums).
    scale: float = 1.0


@dataclass(frozen=True)
class RuleSet:
    """The validated, indexed rules and the unified metrics they feed."""

    #: Every unified metric this stage exposes, in exposition order.
    targets: Mapping[str, UnifiedMetric]
    rules: tuple[MappingRule, ...]
    #: Rules by source metric name, so an unrelated metric costs one dict lookup.
    by_source: Mapping[str, tuple[MappingRule, ...]]


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
                source_kind=source.kind,
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
    source_kind: InstrumentKind | None
    source_filter: SourceFilter
    target: str
    labels: Mapping[str, str]
    constant_labels: Mapping[str, str]
    scale: float


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
        source_kind = _enum(f"{where}.source_type", item["source_type"], InstrumentKind)
    raw_filter = _check_keys(f"{where}.filter", item.get("filter") or {}, _FILTER_KEYS)
    source_filter = SourceFilter(
        equals=_string_map(f"{where}.filter.equals", raw_filter.get("equals")),
        absent=_string_list(f"{where}.filter.absent", raw_filter.get("absent")),
    )
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
        source_filter=source_filter,
        target=target,
        labels=_string_map(f"{where}.labels", item.get("labels")),
        constant_labels=_string_map(f"{where}.constant_labels", item.get("constant_labels")),
        scale=float(scale),
    )


def _load_file(path: str) -> tuple[list[tuple[str, UnifiedMetric]], list[_RawRule]]:
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
    except OSError as error:
        raise MappingConfigError(f"{path}: cannot read rule file: {error}") from None
    except yaml.YAMLError as error:
        raise MappingConfigError(f"{path}: invalid YAML: {error}") from None
    if document is None:
        return [], []
    document = _check_keys(path, document, _FILE_KEYS)
    metrics_raw = document.get("metrics") or []
    rules_raw = document.get("rules") or []
    for key, value in (("metrics", metrics_raw), ("rules", rules_raw)):
        if not isinstance(value, list):
            raise MappingConfigError(f"{path}: {key}: expected a list, got {type(value).__name__}")
    metrics = []
    for index, item in enumerate(metrics_raw):
        metric = _parse_metric(f"{path}: metrics[{index}]", item)
        metrics.append((f"{path}: metrics[{index}] ({metric.name})", metric))
    rules = [_parse_rule(f"{path}: rules[{index}]", item) for index, item in enumerate(rules_raw)]
    return metrics, rules


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
                f"set source_type ({', '.join(kind.value for kind in InstrumentKind)})"
            )
        source_kind = known.kind
    for key, labels in (("labels", raw.labels), ("constant_labels", raw.constant_labels)):
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
    defaults = _default_label_sources(target)
    sources = []
    for label in target.labels:
        if label in raw.constant_labels:
            sources.append(LabelSource(label, None, raw.constant_labels[label]))
        elif label in raw.labels:
            sources.append(LabelSource(label, raw.labels[label], defaults[label].default))
        elif defaults[label].attribute is not None:
            sources.append(defaults[label])
        else:
            raise MappingConfigError(
                f"{raw.where}: label {label!r} of {target.name} has no source; "
                f"set it under labels or constant_labels"
            )
    return MappingRule(
        name=raw.where,
        source=raw.source,
        source_kind=source_kind,
        source_filter=raw.source_filter,
        target=target.name,
        labels=tuple(sources),
        scale=raw.scale,
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
        implied = _TARGET_KIND_OF_SOURCE[rule.source_kind]
        if implied is target.kind:
            fitting_by_target.setdefault(rule.target, rule)
        else:
            if target.kind is UnifiedKind.HISTOGRAM:
                problem = f"histogram target {rule.target} fed by a non-histogram source"
            else:
                problem = f"{target.kind.value} target {rule.target} fed by a {rule.source_kind.value} source"
            fitting = fitting_by_target.get(rule.target)
            if fitting is not None:
                conflict = f"but {fitting.name} gives it the type {target.kind.value}"
            else:
                conflict = f"but {declared_at[rule.target]} declares it a {target.kind.value}"
            raise MappingConfigError(
                f"{rule.name}: {problem} {rule.source!r} ({rule.source_kind.value}), which gives it "
                f"the type {implied.value}, {conflict}"
            )
        key = (
            rule.source,
            rule.target,
            tuple(sorted(rule.source_filter.equals.items())),
            tuple(sorted(rule.source_filter.absent)),
        )
        duplicate = seen.setdefault(key, rule)
        if duplicate is not rule:
            raise MappingConfigError(
                f"{rule.name}: maps {rule.source!r} onto {rule.target} with the same filter as "
                f"{duplicate.name}; the points would count twice"
            )


def build_rule_set(rule_files: Sequence[str]) -> RuleSet:
    """The catalog rules plus the rules of ``rule_files`` (in order), validated and indexed.

    Raises MappingConfigError naming the file, the rule and the problem.
    """
    targets: dict[str, UnifiedMetric] = catalog_targets()
    declared_at: dict[str, str] = {name: "the catalog" for name in targets}
    owner_of_name: dict[str, str] = {}
    for metric in UNIFIED_METRICS:
        declared_at.setdefault(metric.name, "the catalog")
        for exposed in _exposed_names(metric):
            owner_of_name[exposed] = metric.name
    raw_rules: list[_RawRule] = []
    for path in rule_files:
        metrics, rules = _load_file(path)
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
        raw_rules.extend(rules)
    rules = catalog_rules() + tuple(_resolve(raw, targets) for raw in raw_rules)
    _check_rules(rules, targets, declared_at)
    by_source: dict[str, list[MappingRule]] = {}
    for rule in rules:
        by_source.setdefault(rule.source, []).append(rule)
    return RuleSet(
        targets=targets,
        rules=rules,
        by_source={source: tuple(items) for source, items in by_source.items()},
    )
