"""Shipped rule files and the rule schema's conversions: Rust runtime, CloudWatch, Azure Monitor."""

from __future__ import annotations

import textwrap

import pytest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from queue_collector.config_loading import ConfigError, load_dataclass
from queue_collector.metric_mapping import MappingConfigError, MetricMappingConfig, MetricMappingStage
from queue_collector.metric_mapping.config import ShippedRulesConfig
from queue_collector.metric_mapping.rules import SHIPPED_RULE_FILES, build_rule_set

from queue_telemetry.catalog import UNIFIED_METRICS, UnifiedKind

from .mapping_testkit import counter, gauge, key_values, number, request, sample, wired

NO_SHIPPED = ShippedRulesConfig(rust_runtime=False, cloudwatch_sqs=False, azure_monitor_servicebus=False)


def rule_file(tmp_path, text: str) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def summary(name: str, *points: metrics_pb2.SummaryDataPoint) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(name=name, summary=metrics_pb2.Summary(data_points=points))


def summary_point(*, time: int, count: int, total: float, low: float, high: float, **attributes):
    point = metrics_pb2.SummaryDataPoint(time_unix_nano=time, count=count, sum=total)
    point.quantile_values.add(quantile=0.0, value=low)
    point.quantile_values.add(quantile=1.0, value=high)
    point.attributes.extend(key_values(attributes))
    return point


def test_the_rust_rules_cover_every_catalog_metric_under_both_collector_namings():
    rule_set = build_rule_set((), ShippedRulesConfig(cloudwatch_sqs=False, azure_monitor_servicebus=False))
    rust = [rule for rule in rule_set.rules if "rust_runtime" in rule.name]
    sources_by_target: dict[str, set[str]] = {}
    for rule in rust:
        sources_by_target.setdefault(rule.target, set()).add(rule.source)
    for metric in UNIFIED_METRICS:
        # queue_dlq_depth is ours (the runtime only counts dead letters); health is computed.
        if metric.source is None or metric.name == "queue_dlq_depth":
            assert metric.name not in sources_by_target
            continue
        names = {metric.name}
        if metric.kind is UnifiedKind.COUNTER:
            names.add(metric.name[: -len("_total")])
        elif metric.kind is UnifiedKind.HISTOGRAM:
            names.add(metric.name[: -len("_seconds")])
        assert sources_by_target.get(metric.name) == names, metric.name


def test_every_shipped_file_loads_and_can_be_switched_off():
    assert set(SHIPPED_RULE_FILES) == {"rust_runtime", "cloudwatch_sqs", "azure_monitor_servicebus"}
    every = build_rule_set((), ShippedRulesConfig())
    none = build_rule_set((), NO_SHIPPED)
    assert "queue_messages_sent_total" in every.by_source
    assert "queue_messages_sent_total" not in none.by_source
    assert len(none.rules) == len(build_rule_set(()).rules)
    stage, registry = wired(MetricMappingConfig(shipped_rules=NO_SHIPPED))
    stage.process_metrics(request(counter("queue_messages_sent_total", number(3, time=1, attributes={}))))
    assert sample(registry, "queue_messages_sent_total", service="checkout", provider="unknown", queue="unknown") is None


def test_rust_counters_without_a_queue_label_get_unknown_and_a_later_queue_label_is_used():
    stage, registry = wired()
    stage.process_metrics(
        request(
            counter("queue_messages_sent", number(5, time=1, attributes={})),
            counter("queue_messages_received_total", number(2, time=1, attributes={"queue": "jobs"})),
            service="rust-worker",
        )
    )
    assert sample(registry, "queue_messages_sent_total", service="rust-worker", provider="unknown", queue="unknown") == 5
    assert sample(registry, "queue_messages_received_total", service="rust-worker", provider="unknown", queue="jobs") == 2


def test_cloudwatch_json_summaries_become_gauges_and_delta_counters():
    stage, registry = wired()
    labels = {"service": "cloudwatch", "provider": "aws_sqs", "queue": "jobs"}
    for time, visible, sent in ((60, 8, 10), (120, 3, 4), (120, 3, 4), (60, 9, 10)):
        stage.process_metrics(
            request(
                summary("ApproximateNumberOfMessagesVisible",
                        summary_point(time=time, count=2, total=visible + 1, low=1, high=visible, QueueName="jobs")),
                summary("NumberOfMessagesSent",
                        summary_point(time=time, count=3, total=sent, low=0, high=5, QueueName="jobs")),
                service="SQS",
            )
        )
    assert sample(registry, "queue_depth", **labels) == 3
    assert sample(registry, "queue_messages_sent_total", **labels) == 14  # repeats counted once
    assert sample(registry, "queue_collector_mapping_points_ignored_total", reason="out_of_order") == 4


def test_a_summary_average_of_an_empty_period_has_no_value(tmp_path):
    path = rule_file(tmp_path, """
        metrics:
          - {name: app_wait, type: gauge, description: Average wait.}
        rules:
          - {source: Wait, source_type: summary, summary_value: average, read_as: gauge, target: app_wait,
             constant_labels: {provider: p, queue: q}}
    """)
    stage, registry = wired(MetricMappingConfig(rule_files=(path,)))
    stage.process_metrics(request(summary("Wait", summary_point(time=1, count=4, total=10, low=1, high=4))))
    stage.process_metrics(request(summary("Wait", summary_point(time=2, count=0, total=0, low=0, high=0))))
    assert sample(registry, "app_wait", service="checkout", provider="p", queue="q") == 2.5
    assert sample(registry, "queue_collector_mapping_points_ignored_total", reason="no_recorded_value") == 1


def test_a_gauge_that_is_a_running_total_reads_as_a_cumulative_counter(tmp_path):
    path = rule_file(tmp_path, """
        rules:
          - {source: legacy_jobs_sent_total, source_type: gauge, read_as: cumulative_counter,
             target: queue_messages_sent_total, labels: {queue: queue}, constant_labels: {provider: legacy}}
    """)
    stage, registry = wired(MetricMappingConfig(rule_files=(path,)))
    for time, value in ((1, 10), (2, 15), (3, 4), (4, 6)):  # 15 -> 4: a restart
        stage.process_metrics(request(gauge("legacy_jobs_sent_total", number(float(value), time=time, attributes={"queue": "q"}))))
    assert sample(registry, "queue_messages_sent_total", service="checkout", provider="legacy", queue="q") == 21


def test_azure_totals_are_per_grain_increases_and_units_convert(tmp_path):
    path = rule_file(tmp_path, """
        metrics:
          - {name: azure_servicebus_server_send_latency_seconds, type: gauge, unit: s, description: Latency.}
        rules:
          - {source: azure_serversendlatency_average, source_type: gauge, source_unit: MilliSeconds,
             target: azure_servicebus_server_send_latency_seconds, labels: {queue: [metadata_EntityName, EntityName]},
             constant_labels: {provider: servicebus}}
    """)
    stage, registry = wired(MetricMappingConfig(rule_files=(path,)))
    bus = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ServiceBus/namespaces/ns"
    attributes = {"azuremonitor.resource_id": bus, "EntityName": "invoices"}
    for minute in (1, 2):
        stage.process_metrics(
            request(
                gauge("azure_incomingmessages_total", number(7.0, start=5, time=minute * 60, attributes=attributes)),
                gauge("azure_serversendlatency_average", number(250.0, start=5, time=minute * 60, attributes=attributes)),
                service=None,
            )
        )
    labels = {"provider": "servicebus", "queue": "invoices"}
    assert sample(registry, "queue_messages_sent_total", service="azure_monitor", **labels) == 14
    assert sample(registry, "azure_servicebus_server_send_latency_seconds", service="unknown_service", **labels) == 0.25


def test_the_service_of_cloud_series_is_configurable():
    config = MetricMappingConfig(shipped_rules=ShippedRulesConfig(cloudwatch_service=""))
    stage, registry = wired(config)
    stage.process_metrics(
        request(summary("NumberOfMessagesSent", summary_point(time=60, count=1, total=3, low=3, high=3, QueueName="jobs")),
                service="billing")
    )
    assert sample(registry, "queue_messages_sent_total", service="billing", provider="aws_sqs", queue="jobs") == 3


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{source: a, source_type: summary, read_as: gauge, target: queue_depth}",
         "a summary source needs summary_value (min, max, sum, count, average)"),
        ("{source: a, source_type: summary, summary_value: max, target: queue_depth}",
         "a summary source needs read_as (gauge, cumulative_counter, delta_counter)"),
        ("{source: a, source_type: counter, read_as: gauge, target: queue_depth}",
         "read_as: a counter source cannot be read as gauge"),
        ("{source: a, source_type: gauge, summary_value: max, target: queue_depth}",
         "summary_value: only summary sources have one"),
        ("{source: a, source_type: gauge, read_as: delta_counter, target: queue_depth}",
         "gauge target queue_depth fed by a gauge read as delta_counter source 'a'"),
        ("{source: a, source_type: histogram, source_unit: By, target: queue_send_duration_seconds}",
         "source_unit: cannot convert 'By' to the unit 's' of queue_send_duration_seconds"),
        ("{source: a, source_type: histogram, source_unit: ms, scale: 2, target: queue_send_duration_seconds}",
         "set source_unit or scale, not both"),
        ("{source: a, source_type: gauge, target: queue_depth, filter: {matches: {x: '('}}}",
         "filter.matches.x: invalid regular expression '('"),
        ("{source: a, source_type: gauge, target: queue_depth, labels: {queue: []}}",
         "labels.queue: expected an attribute name or a non-empty list of them"),
        ("{source: a, source_type: gauge, target: queue_depth, constant_labels: {queue: q}, label_defaults: {queue: x}}",
         "have a constant value; label_defaults cannot apply"),
    ],
)
def test_invalid_conversions_name_the_problem(tmp_path, rule, expected):
    path = rule_file(tmp_path, f"rules:\n  - {rule}\n")
    with pytest.raises(MappingConfigError) as raised:
        MetricMappingStage(MetricMappingConfig(rule_files=(path,)))
    assert expected in str(raised.value)
    assert path in str(raised.value)


def test_a_user_rule_reading_a_shipped_source_differently_names_the_shipped_file(tmp_path):
    path = rule_file(tmp_path, "rules:\n  - {source: NumberOfMessagesSent, source_type: gauge, target: queue_depth}\n")
    with pytest.raises(MappingConfigError, match="shipped:cloudwatch_sqs.yaml: rules"):
        MetricMappingStage(MetricMappingConfig(rule_files=(path,)))


def test_the_receiver_loader_builds_and_checks_the_section():
    config = load_dataclass(
        MetricMappingConfig,
        {
            "shipped_rules": {"azure_monitor_servicebus": False},
            "cardinality": {"max_series_per_metric": 50, "metrics": {"queue_depth": {"labels": ["service", "queue"]}}},
            "span_metrics": {"enabled": True},
        },
    )
    assert config.shipped_rules.azure_monitor_servicebus is False
    assert config.cardinality.metrics["queue_depth"].labels == ("service", "queue")
    MetricMappingStage(config)
    with pytest.raises(ConfigError, match="cardinality.max_streams: expected an integer >= 1"):
        load_dataclass(MetricMappingConfig, {"cardinality": {"max_streams": 0}})
