#!/usr/bin/env python3
"""Generates the Grafana dashboards from the metric catalog.

Every metric name, description and unit on the dashboards comes from
``queue_telemetry.catalog``; a metric renamed or removed there makes this script fail instead of
leaving a panel that silently shows nothing. The output is deterministic (fixed uids, panel ids
numbered in layout order, JSON with sorted keys) so the committed files can be compared byte for
byte with a fresh run.

Usage::

    python otel-config/grafana/generate_dashboards.py            # rewrite dashboards/*.json
    python otel-config/grafana/generate_dashboards.py --check    # exit 1 if they are stale

Requires ``grafana-foundation-sdk`` (the Grafana 11.6 build pinned in the ``test`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import prometheus as prometheus_builder
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import statetimeline as statetimeline_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model

from queue_telemetry.catalog import UNIFIED_METRICS, UnifiedKind, UnifiedMetric, unified_metric

__all__ = ["DASHBOARD_DIR", "build_dashboards", "main"]

#: Where the generated JSON files live (and where Grafana provisioning and the chart read them).
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"

#: Template variable holding the Prometheus data source, so the dashboards work in any Grafana.
_DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid="${datasource}")

#: Grid geometry: Grafana's grid is 24 columns wide.
_GRID_WIDTH = 24
_PANEL_HEIGHT = 8

#: Metrics used to discover the values of the service, provider and queue variables: together
#: they cover producers that only send, consumers that only receive, and queues only observed.
_DISCOVERY_METRICS = ("queue_messages_sent_total", "queue_messages_received_total", "queue_depth")

#: Grafana units for the catalog's UCUM units.
_GRAFANA_UNITS = {"s": "s", "1": "none"}

#: Providers with provider-specific metrics: display name and the metric-name prefix they share.
_PROVIDERS = {
    "servicebus": ("Azure Service Bus", "azure_servicebus_"),
    "aws_sqs": ("AWS SQS", "aws_sqs_"),
}

_HEALTH_MAPPINGS = [
    dashboard_model.ValueMap(
        options={
            "0": dashboard_model.ValueMappingResult(text="healthy", color="green", index=0),
            "1": dashboard_model.ValueMappingResult(text="degraded", color="yellow", index=1),
            "2": dashboard_model.ValueMappingResult(text="unhealthy", color="red", index=2),
        }
    )
]


# --- PromQL helpers ----------------------------------------------------------------------------


def _selector(metric: UnifiedMetric, suffix: str = "", **fixed: str) -> str:
    """``name{label=~"$label",...}`` filtered by the dashboard variables the metric's labels allow.

    Only labels the metric really carries are matched, so ``queue_health_status`` (no
    ``provider`` label) is never filtered by provider. ``fixed`` adds exact matches.
    """
    matchers = [f'{label}="{value}"' for label, value in sorted(fixed.items())]
    for label in ("service", "provider", "queue"):
        if label in metric.labels and label not in fixed:
            matchers.append(f'{label}=~"${label}"')
    return f"{metric.name}{suffix}{{{', '.join(matchers)}}}"


def _rate(metric: UnifiedMetric, by: Sequence[str], suffix: str = "", **fixed: str) -> str:
    """Per-second rate of a counter (or histogram part), summed by ``by``."""
    if metric.kind is UnifiedKind.GAUGE:
        raise ValueError(f"{metric.name} is a gauge; rate() applies to counters and histograms")
    return f"sum by ({', '.join(by)}) (rate({_selector(metric, suffix, **fixed)}[$__rate_interval]))"


def _ratio(numerator: str, denominator: str) -> str:
    """``numerator / denominator`` that yields no point, never a division by zero, when idle."""
    return f"{numerator} / ({denominator} > 0)"


def _quantile(q: float, metric: UnifiedMetric, by: Sequence[str]) -> str:
    if metric.kind is not UnifiedKind.HISTOGRAM:
        raise ValueError(f"{metric.name} is not a histogram")
    return f"histogram_quantile({q}, {_rate(metric, ('le', *by), '_bucket')})"


def _gauge(metric: UnifiedMetric, by: Sequence[str], aggregation: str = "sum", **fixed: str) -> str:
    if metric.kind is not UnifiedKind.GAUGE:
        raise ValueError(f"{metric.name} is not a gauge")
    return f"{aggregation} by ({', '.join(by)}) ({_selector(metric, **fixed)})"


def _legend(by: Sequence[str], prefix: str = "") -> str:
    parts = "/".join("{{" + label + "}}" for label in by)
    return f"{prefix} {parts}".strip()


def _unit(metric: UnifiedMetric, per_second: bool) -> str:
    if metric.unit in _GRAFANA_UNITS:
        return _GRAFANA_UNITS[metric.unit]
    return "ops" if per_second else "short"


# --- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class _PanelSpec:
    """One panel: a title, a description and its queries; ``kind`` picks the visualisation."""

    title: str
    description: str
    queries: tuple[_Query, ...]
    unit: str
    kind: str = "timeseries"  # "timeseries", "stat" or "health"
    width: int = 12


@dataclass(frozen=True)
class _RowSpec:
    title: str
    panels: tuple[_PanelSpec, ...]


class _Layout:
    """Places rows and panels on the grid and numbers them in order (stable ids)."""

    def __init__(self, builder: dashboard_builder.Dashboard) -> None:
        self._builder = builder
        self._next_id = 1
        self._y = 0

    def _take_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def add_row(self, row: _RowSpec) -> None:
        self._builder.with_row(
            dashboard_builder.Row(row.title)
            .id(self._take_id())
            .grid_pos(dashboard_model.GridPos(h=1, w=_GRID_WIDTH, x=0, y=self._y))
        )
        self._y += 1
        x = 0
        for spec in row.panels:
            if x + spec.width > _GRID_WIDTH:
                x = 0
                self._y += _PANEL_HEIGHT
            position = dashboard_model.GridPos(h=_PANEL_HEIGHT, w=spec.width, x=x, y=self._y)
            self._builder.with_panel(_build_panel(spec, self._take_id(), position))
            x += spec.width
        self._y += _PANEL_HEIGHT


def _targets(spec: _PanelSpec) -> list[prometheus_builder.Dataquery]:
    targets = []
    for index, query in enumerate(spec.queries):
        targets.append(
            prometheus_builder.Dataquery()
            .expr(query.expr)
            .legend_format(query.legend)
            .ref_id(chr(ord("A") + index))
            .datasource(_DATASOURCE)
        )
    return targets


def _build_panel(spec: _PanelSpec, panel_id: int, position: dashboard_model.GridPos):
    if spec.kind == "timeseries":
        panel = (
            timeseries_builder.Panel()
            .fill_opacity(10)
            .line_width(1)
            .legend(
                common_builder.VizLegendOptions()
                .show_legend(True)
                .display_mode(common_model.LegendDisplayMode.TABLE)
                .placement(common_model.LegendPlacement.BOTTOM)
                .calcs(["mean", "max", "lastNotNull"])
            )
            .tooltip(
                common_builder.VizTooltipOptions()
                .mode(common_model.TooltipDisplayMode.MULTI)
                .sort(common_model.SortOrder.DESCENDING)
            )
        )
    elif spec.kind == "stat":
        panel = stat_builder.Panel().graph_mode(common_model.BigValueGraphMode.AREA)
    elif spec.kind == "health":
        panel = (
            statetimeline_builder.Panel()
            .mappings(_HEALTH_MAPPINGS)
            .show_value(common_model.VisibilityMode.NEVER)
            .merge_values(True)
        )
    else:  # pragma: no cover - specs are written in this file
        raise ValueError(f"unknown panel kind {spec.kind!r}")
    panel = (
        panel.id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .datasource(_DATASOURCE)
        .grid_pos(position)
        .unit(spec.unit)
        .targets(_targets(spec))
    )
    if spec.kind != "health":
        panel = panel.min(0)
    return panel


def _variables(include_provider: bool) -> list:
    discovery = "|".join(_DISCOVERY_METRICS)
    datasource = (
        dashboard_builder.DatasourceVariable("datasource").label("Data source").type("prometheus")
    )
    variables = [datasource]
    scope: list[str] = []
    names = ["service", "provider", "queue"] if include_provider else ["service", "queue"]
    for name in names:
        selector = ", ".join([f'__name__=~"{discovery}"', *scope])
        variables.append(
            dashboard_builder.QueryVariable(name)
            .label(name.capitalize())
            .datasource(_DATASOURCE)
            .query(f"label_values({{{selector}}}, {name})")
            .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
        scope.append(f'{name}=~"${name}"')
    return variables


def _dashboard(uid: str, title: str, description: str, tags: Iterable[str], rows: Sequence[_RowSpec],
               include_provider: bool) -> dashboard_model.Dashboard:
    builder = (
        dashboard_builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(sorted(tags))
        .editable()
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .variables(_variables(include_provider))
    )
    layout = _Layout(builder)
    for row in rows:
        layout.add_row(row)
    return builder.build()


# --- the dashboards ----------------------------------------------------------------------------

_BY_QUEUE = ("service", "queue")


def _counter_panel(name: str, title: str, by: Sequence[str] = _BY_QUEUE, width: int = 12,
                   **fixed: str) -> _PanelSpec:
    metric = unified_metric(name)
    return _PanelSpec(
        title=title,
        description=f"Per-second rate of {metric.name}: {metric.description}",
        queries=(_Query(_rate(metric, by, **fixed), _legend(by)),),
        unit=_unit(metric, per_second=True),
        width=width,
    )


def _overview_rows() -> tuple[_RowSpec, ...]:
    sent = unified_metric("queue_messages_sent_total")
    received = unified_metric("queue_messages_received_total")
    acknowledged = unified_metric("queue_messages_acknowledged_total")
    rejected = unified_metric("queue_messages_rejected_total")
    dead_lettered = unified_metric("queue_messages_dead_lettered_total")
    error_metrics = [
        unified_metric(name)
        for name in ("queue_send_errors_total", "queue_receive_errors_total", "queue_processing_errors_total")
    ]
    processing = unified_metric("queue_message_processing_duration_seconds")
    send_duration = unified_metric("queue_send_duration_seconds")
    receive_duration = unified_metric("queue_receive_duration_seconds")
    depth = unified_metric("queue_depth")
    dlq_depth = unified_metric("queue_dlq_depth")
    in_flight = unified_metric("queue_processing_messages")
    active_sessions = unified_metric("queue_active_sessions")
    session_duration = unified_metric("queue_session_duration_seconds")
    health = unified_metric("queue_health_status")

    throughput = _RowSpec("Throughput", (
        _PanelSpec(
            "Messages sent, received and acknowledged",
            "Per-second rates per queue. Received includes redeliveries; a lasting gap between "
            "received and acknowledged means messages are failing or piling up in flight.",
            (
                _Query(_rate(sent, _BY_QUEUE), _legend(_BY_QUEUE, "sent")),
                _Query(_rate(received, _BY_QUEUE), _legend(_BY_QUEUE, "received")),
                _Query(_rate(acknowledged, _BY_QUEUE), _legend(_BY_QUEUE, "acknowledged")),
            ),
            "ops",
        ),
        _PanelSpec(
            "Messages rejected and dead-lettered",
            f"{rejected.description} {dead_lettered.description}",
            (
                _Query(_rate(rejected, _BY_QUEUE), _legend(_BY_QUEUE, "rejected")),
                _Query(_rate(dead_lettered, _BY_QUEUE), _legend(_BY_QUEUE, "dead-lettered")),
            ),
            "ops",
        ),
    ))
    errors = _RowSpec("Errors", (
        _PanelSpec(
            "Processing error ratio",
            "Processing errors divided by messages received over the same window. A queue with "
            "no traffic shows no point rather than a division by zero.",
            (
                _Query(
                    _ratio(_rate(error_metrics[2], _BY_QUEUE), _rate(received, _BY_QUEUE)),
                    _legend(_BY_QUEUE),
                ),
            ),
            "percentunit",
        ),
        _PanelSpec(
            "Send error ratio",
            "Send errors divided by messages sent over the same window; no point when idle.",
            (
                _Query(
                    _ratio(_rate(error_metrics[0], _BY_QUEUE), _rate(sent, _BY_QUEUE)),
                    _legend(_BY_QUEUE),
                ),
            ),
            "percentunit",
        ),
        _PanelSpec(
            "Errors by operation and type",
            "Per-second rate of failed send, receive and processing operations by error type.",
            tuple(
                _Query(
                    _rate(metric, ("service", "queue", "error_type")),
                    _legend(("service", "queue", "error_type"), metric.name.split("_")[1]),
                )
                for metric in error_metrics
            ),
            "ops",
            width=24,
        ),
    ))
    latency = _RowSpec("Latency", (
        _PanelSpec(
            "Processing duration percentiles",
            f"{processing.description} p50, p95 and p99 from the histogram buckets.",
            tuple(
                _Query(_quantile(q, processing, _BY_QUEUE), _legend(_BY_QUEUE, f"p{int(q * 100)}"))
                for q in (0.5, 0.95, 0.99)
            ),
            "s",
        ),
        _PanelSpec(
            "Average processing duration",
            "Sum of processing time divided by the number of processed messages; no point when "
            "nothing was processed.",
            (
                _Query(
                    _ratio(_rate(processing, _BY_QUEUE, "_sum"), _rate(processing, _BY_QUEUE, "_count")),
                    _legend(_BY_QUEUE),
                ),
            ),
            "s",
        ),
        _PanelSpec(
            "Send and receive duration (p95)",
            f"{send_duration.description} {receive_duration.description}",
            (
                _Query(_quantile(0.95, send_duration, _BY_QUEUE), _legend(_BY_QUEUE, "send p95")),
                _Query(_quantile(0.95, receive_duration, _BY_QUEUE), _legend(_BY_QUEUE, "receive p95")),
            ),
            "s",
            width=24,
        ),
    ))
    backlog = _RowSpec("Backlog", (
        _PanelSpec(
            "Queue depth", depth.description,
            (_Query(_gauge(depth, _BY_QUEUE, "max"), _legend(_BY_QUEUE)),), "short", width=8,
        ),
        _PanelSpec(
            "Dead-letter queue depth", dlq_depth.description,
            (_Query(_gauge(dlq_depth, _BY_QUEUE, "max"), _legend(_BY_QUEUE)),), "short", width=8,
        ),
        _PanelSpec(
            "Messages in flight", in_flight.description,
            (_Query(_gauge(in_flight, _BY_QUEUE), _legend(_BY_QUEUE)),), "short", width=8,
        ),
        _counter_panel("queue_messages_dead_lettered_total", "Dead letters by reason",
                       by=("service", "queue", "reason")),
        _PanelSpec(
            "Dead-letter recovery",
            "Attempts and successes moving messages from the dead-letter queue back.",
            (
                _Query(_rate(unified_metric("queue_dlq_recovery_attempts_total"), _BY_QUEUE),
                       _legend(_BY_QUEUE, "attempts")),
                _Query(_rate(unified_metric("queue_dlq_recovery_successes_total"), _BY_QUEUE),
                       _legend(_BY_QUEUE, "successes")),
            ),
            "ops",
        ),
    ))
    sessions = _RowSpec("Sessions", (
        _PanelSpec(
            "Active sessions", active_sessions.description,
            (_Query(_gauge(active_sessions, _BY_QUEUE), _legend(_BY_QUEUE)),), "short", width=8,
        ),
        _PanelSpec(
            "Sessions created and closed", "Per-second rates of sessions opened and closed.",
            (
                _Query(_rate(unified_metric("queue_sessions_created_total"), _BY_QUEUE),
                       _legend(_BY_QUEUE, "created")),
                _Query(_rate(unified_metric("queue_sessions_closed_total"), _BY_QUEUE),
                       _legend(_BY_QUEUE, "closed")),
            ),
            "ops",
            width=8,
        ),
        _PanelSpec(
            "Session duration (p95)", session_duration.description,
            (_Query(_quantile(0.95, session_duration, _BY_QUEUE), _legend(_BY_QUEUE, "p95")),),
            "s",
            width=8,
        ),
    ))
    health_row = _RowSpec("Health", (
        _PanelSpec(
            "Health status", health.description,
            (_Query(_gauge(health, ("service", "queue", "check"), "max"),
                    _legend(("service", "queue", "check"))),),
            "none",
            kind="health",
            width=24,
        ),
    ))
    return throughput, errors, latency, backlog, sessions, health_row


def _title_from_name(name: str, prefix: str) -> str:
    """``aws_sqs_throttling_errors_total`` -> ``Throttling errors``."""
    words = name.removeprefix(prefix).removesuffix("_total").replace("_", " ").replace("fifo", "FIFO")
    return words[:1].upper() + words[1:]


def _provider_rows() -> tuple[_RowSpec, ...]:
    rows = []
    for provider, (title, prefix) in _PROVIDERS.items():
        specific = sorted(
            (metric for metric in UNIFIED_METRICS if metric.provider == provider),
            key=lambda metric: metric.name,
        )
        if not specific:
            raise ValueError(f"the catalog has no metrics specific to provider {provider!r}")
        panels = [
            _counter_panel(metric.name, _title_from_name(metric.name, prefix), width=8, provider=provider)
            for metric in specific
        ]
        sent = unified_metric("queue_messages_sent_total")
        received = unified_metric("queue_messages_received_total")
        panels.append(
            _PanelSpec(
                f"{title} traffic",
                f"Messages sent and received through {title}, for scale next to the counters above.",
                (
                    _Query(_rate(sent, _BY_QUEUE, provider=provider), _legend(_BY_QUEUE, "sent")),
                    _Query(_rate(received, _BY_QUEUE, provider=provider), _legend(_BY_QUEUE, "received")),
                ),
                "ops",
                width=24,
            )
        )
        rows.append(_RowSpec(title, tuple(panels)))
    return tuple(rows)


_DASHBOARDS: dict[str, Callable[[], dashboard_model.Dashboard]] = {
    "queue-overview.json": lambda: _dashboard(
        "queue-telemetry-overview",
        "Queue telemetry / Overview",
        "Throughput, errors, latency, backlog, sessions and health of every queue, from the "
        "queue-collector receiver's unified metrics.",
        ("queue-telemetry", "messaging"),
        _overview_rows(),
        include_provider=True,
    ),
    "queue-providers.json": lambda: _dashboard(
        "queue-telemetry-providers",
        "Queue telemetry / Providers",
        "Provider-specific metrics: Azure Service Bus locks, sessions and quotas; AWS SQS "
        "visibility extensions, throttling and FIFO deduplication.",
        ("queue-telemetry", "messaging", "servicebus", "aws_sqs"),
        _provider_rows(),
        include_provider=False,
    ),
}


def build_dashboards() -> dict[str, str]:
    """Every dashboard as ``{file name: JSON text}``, exactly as committed."""
    return {
        file_name: json.dumps(factory(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"
        for file_name, factory in sorted(_DASHBOARDS.items())
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output-dir", type=Path, default=DASHBOARD_DIR,
                        help="directory the JSON files are written to (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when a committed file differs from a fresh run")
    args = parser.parse_args(argv)
    stale = []
    for file_name, text in build_dashboards().items():
        path = args.output_dir / file_name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("stale dashboards (run generate_dashboards.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
