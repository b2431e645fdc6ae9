"""The Grafana dashboards are generated from the metric catalog and only ask for metrics and
labels the receiver exposes."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Iterator

import pytest

from deployment_support import CHART, OTEL_CONFIG, assert_golden
from queue_telemetry.catalog import UNIFIED_METRICS, UnifiedKind

GRAFANA = OTEL_CONFIG / "grafana"
DASHBOARDS = GRAFANA / "dashboards"

#: Labels Prometheus adds to every scraped series, and the histogram bucket label.
_SCRAPE_LABELS = {"job", "instance"}

_FUNCTIONS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile",
    "clamp_min", "clamp_max", "label_values", "topk", "bottomk", "abs", "vector", "scalar",
}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def _generator():
    spec = importlib.util.spec_from_file_location("generate_dashboards", GRAFANA / "generate_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _exposed_labels() -> dict[str, set[str]]:
    """Every series name the receiver exposes, with its labels (histogram parts included)."""
    names: dict[str, set[str]] = {}
    for metric in UNIFIED_METRICS:
        labels = set(metric.labels) | _SCRAPE_LABELS
        if metric.kind is UnifiedKind.HISTOGRAM:
            names[f"{metric.name}_bucket"] = labels | {"le"}
            names[f"{metric.name}_sum"] = labels
            names[f"{metric.name}_count"] = labels
        else:
            names[metric.name] = labels
    return names


EXPOSED = _exposed_labels()
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\{([^{}]*)\}")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_GROUPING = re.compile(r"\b(by|without|on|ignoring)\s*\(([^()]*)\)")


def _selectors(expression: str) -> Iterator[tuple[list[str], dict[str, str]]]:
    """(metric names, {label: value}) for every series selector in a PromQL expression."""
    for match in _SELECTOR.finditer(expression):
        name, body = match.group(1), match.group(2)
        matchers: dict[str, str] = {}
        for part in filter(str.strip, body.split(",")):
            parsed = _MATCHER.fullmatch(part)
            assert parsed, f"cannot parse matcher {part!r} in {expression}"
            matchers[parsed.group(1)] = parsed.group(3)
        if "__name__" in matchers:
            names = matchers.pop("__name__").split("|")
        else:
            names = [name]
        assert all(names), f"selector without a metric name in {expression}"
        yield names, matchers


def expression_problems(expression: str) -> list[str]:
    """Names and labels in ``expression`` that the catalog does not expose."""
    problems = []
    used_labels: set[str] = set()
    for names, matchers in _selectors(expression):
        for name in names:
            if name not in EXPOSED:
                problems.append(f"unknown metric {name}")
                continue
            used_labels |= EXPOSED[name]
            for label in matchers:
                if label not in EXPOSED[name]:
                    problems.append(f"{name} has no label {label}")
    for _, labels in _GROUPING.findall(expression):
        for label in filter(None, (item.strip() for item in labels.split(","))):
            if label not in used_labels:
                problems.append(f"grouping by {label}, which none of the queried metrics carries")
    for label in re.findall(r"label_values\(.*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$", expression):
        if label not in used_labels:
            problems.append(f"label_values of {label}, which none of the queried metrics carries")
    # Whatever is left once selectors, strings, ranges and grouping clauses are removed must be
    # functions, keywords, label names or numbers: no bare metric name escapes the checks above.
    all_labels = set().union(*EXPOSED.values())
    rest = _SELECTOR.sub(" ", expression)
    rest = _GROUPING.sub(" ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)
    for identifier in re.findall(r"(?<![0-9.])[A-Za-z_][A-Za-z0-9_]*", rest):
        if identifier in EXPOSED or identifier not in _FUNCTIONS | _KEYWORDS | all_labels:
            problems.append(f"unexpected identifier {identifier}")
    return problems


def _queries(dashboard: dict) -> Iterator[tuple[str, str, str]]:
    """(where, expression, legend) for every panel target and query variable."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"], target.get("legendFormat", "")
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["query"], ""


def _committed() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DASHBOARDS.glob("*.json"))}


def test_regeneration_gives_the_committed_files_byte_for_byte() -> None:
    generated = _generator().build_dashboards()
    assert sorted(generated) == sorted(path.name for path in DASHBOARDS.glob("*.json"))
    for name, text in generated.items():
        assert_golden(DASHBOARDS / name, text, "run python otel-config/grafana/generate_dashboards.py")


def test_generation_is_deterministic() -> None:
    generator = _generator()
    assert generator.build_dashboards() == generator.build_dashboards()


@pytest.mark.parametrize("name", ["queue-overview.json", "queue-providers.json"])
def test_every_query_names_catalog_metrics_and_labels_only(name: str) -> None:
    problems = []
    for where, expression, legend in _queries(_committed()[name]):
        problems += [f"{where}: {problem}" for problem in expression_problems(expression)]
        grouping = {label.strip() for _, labels in _GROUPING.findall(expression) for label in labels.split(",")}
        for label in re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend):
            if label not in grouping:
                problems.append(f"{where}: legend uses {label}, which the query aggregates away")
    assert problems == []


def test_the_query_check_catches_unknown_names_and_labels() -> None:
    assert expression_problems('sum by (queue) (rate(queue_messages_sent_total{queue=~"$queue"}[5m]))') == []
    assert expression_problems("rate(queue_messages_send_total{}[5m])") == ["unknown metric queue_messages_send_total"]
    assert expression_problems('queue_health_status{provider="x"}') == ["queue_health_status has no label provider"]
    assert expression_problems('sum by (reason) (queue_depth{queue="a"})') == [
        "grouping by reason, which none of the queried metrics carries"
    ]
    assert expression_problems("sum(queue_depth)") == ["unexpected identifier queue_depth"]


def test_overview_covers_the_required_views() -> None:
    overview = _committed()["queue-overview.json"]
    expressions = " ".join(expression for _, expression, _ in _queries(overview))
    for metric in (
        "queue_messages_sent_total", "queue_messages_received_total", "queue_messages_acknowledged_total",
        "queue_message_processing_duration_seconds_bucket", "queue_depth", "queue_dlq_depth",
        "queue_processing_messages", "queue_messages_dead_lettered_total", "queue_active_sessions",
        "queue_health_status", "queue_processing_errors_total",
    ):
        assert metric in expressions, metric
    variables = [variable["name"] for variable in overview["templating"]["list"]]
    assert variables == ["datasource", "service", "provider", "queue"]


def test_ratios_never_divide_by_zero() -> None:
    for name, dashboard in _committed().items():
        for where, expression, _ in _queries(dashboard):
            for denominator in re.findall(r"\)\s*/\s*(.*)$", expression):
                assert denominator.startswith("(") and denominator.rstrip().endswith("> 0)") or \
                    denominator.startswith("clamp_min("), f"{name} {where}: {expression}"


def test_provider_dashboard_shows_every_provider_specific_metric() -> None:
    providers = _committed()["queue-providers.json"]
    expressions = " ".join(expression for _, expression, _ in _queries(providers))
    specific = [metric.name for metric in UNIFIED_METRICS if metric.provider]
    assert specific and all(name in expressions for name in specific)


def test_uids_and_panel_ids_are_stable_and_unique() -> None:
    dashboards = _committed()
    assert {d["uid"] for d in dashboards.values()} == {"queue-telemetry-overview", "queue-telemetry-providers"}
    for dashboard in dashboards.values():
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert ids == list(range(1, len(ids) + 1))


@pytest.mark.parametrize("path", sorted(DASHBOARDS.glob("*.json")), ids=lambda path: path.name)
def test_chart_carries_identical_dashboards(path: Path) -> None:
    assert_golden(
        CHART / "files" / "dashboards" / path.name,
        path.read_text(encoding="utf-8"),
        "copy otel-config/grafana/dashboards/*.json to helm/queue-telemetry/files/dashboards/",
    )


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    import yaml

    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((OTEL_CONFIG / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{path}:ro" in mounts
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "datasources.yaml").read_text())
    default = [source for source in datasources["datasources"] if source.get("isDefault")]
    assert [source["type"] for source in default] == ["prometheus"]
