"""Rule files: the schema, and start-up validation that names the problem and where it is."""

from __future__ import annotations

import textwrap

import pytest
from queue_collector.metric_mapping import (
    MappingConfigError,
    MetricMappingConfig,
    MetricMappingStage,
)
from queue_collector.metric_mapping.config import ShippedRulesConfig
from queue_collector.metric_mapping.rules import build_rule_set, catalog_rules
from queue_collector.pipeline import TelemetryStage

from queue_telemetry.catalog import UNIFIED_METRICS

from .mapping_testkit import counter, gauge, number, request, sample, wired


def rule_file(tmp_path, text: str, name: str = "rules.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def start_fails(*files: str) -> str:
    with pytest.raises(MappingConfigError) as raised:
        MetricMappingStage(MetricMappingConfig(rule_files=files))
    return str(raised.value)


def test_catalog_rules_cover_every_sourced_unified_metric():
    targets = {rule.target for rule in catalog_rules()}
    assert targets == {metric.name for metric in UNIFIED_METRICS if metric.source is not None}
    assert "queue_health_status" not in targets
    assert isinstance(MetricMappingStage(MetricMappingConfig()), TelemetryStage)


def test_rules_are_indexed_by_source():
    rule_set = build_rule_set(())
    assert [rule.target for rule in rule_set.by_source["queue.messages.dead_lettered"]] == [
        "queue_messages_dead_lettered_total",
        "queue_dlq_messages_total",
    ]
    assert len(rule_set.by_source["queue.errors"]) == 3


def test_a_user_rule_maps_a_cloud_metric_onto_queue_depth(tmp_path):
    path = rule_file(
        tmp_path,
        """
        rules:
          - name: sqs-visible
            source: ApproximateNumberOfMessagesVisible
            source_type: gauge
            target: queue_depth
            labels: {queue: QueueName}
            constant_labels: {provider: aws_sqs}
    """,
    )
    # The shipped CloudWatch rules read this source as a summary; a user reading it as a
    # gauge switches them off.
    config = MetricMappingConfig(
        rule_files=(path,), shipped_rules=ShippedRulesConfig(cloudwatch_sqs=False)
    )
    stage, registry = wired(config)
    stage.process_metrics(
        request(
            gauge(
                "ApproximateNumberOfMessagesVisible",
                number(12.0, time=5, attributes={"QueueName": "jobs"}),
            ),
            service="cloudwatch",
        )
    )
    assert (
        sample(registry, "queue_depth", service="cloudwatch", provider="aws_sqs", queue="jobs")
        == 12
    )


def test_an_empty_rule_file_adds_nothing(tmp_path):
    stage = MetricMappingStage(MetricMappingConfig(rule_files=(rule_file(tmp_path, ""),)))
    assert stage.name == "metric_mapping"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - {source: a.b, source_type: counter, target: queue_nope_total}\n",
            "rules[0]: unknown target 'queue_nope_total'",
        ),
        ("rules:\n  - {sorce: a.b, target: queue_depth}\n", "rules[0]: unknown key(s) 'sorce'"),
        ("rulez: []\n", "unknown key(s) 'rulez'"),
        (
            "rules:\n  - {source: a.b, target: queue_depth, filter: {equal: {x: y}}}\n",
            "rules[0].filter: unknown key(s) 'equal'",
        ),
        (
            "rules:\n  - {name: lat, source: a.b, source_type: counter, target: queue_send_duration_seconds}\n",
            "rules[0] (lat): histogram target queue_send_duration_seconds fed by a non-histogram source 'a.b'",
        ),
        (
            "rules:\n  - {source: a.b, target: queue_depth}\n",
            "rules[0]: source 'a.b' is not a catalog instrument; set source_type",
        ),
        (
            "rules:\n  - {source: a.b, source_type: meter, target: queue_depth}\n",
            "rules[0].source_type: 'meter' is not one of counter, up_down_counter, histogram, gauge",
        ),
        (
            "rules:\n  - {source: a.b, source_type: gauge, target: queue_health_status}\n",
            "target 'queue_health_status' is computed by another receiver component",
        ),
        (
            "rules:\n  - {source: a.b, source_type: gauge, target: queue_depth, labels: {topic: t}}\n",
            "rules[0].labels: 'topic' is not a label of queue_depth",
        ),
        (
            "rules:\n  - {source: a.b, source_type: gauge, target: queue_depth, scale: 0}\n",
            "rules[0].scale: expected a finite number > 0, got 0",
        ),
        (
            "metrics:\n  - {name: app_jobs_total_total, type: counter, description: Jobs.}\n",
            "counter name 'app_jobs_total_total' would be exposed as '..._total_total'; name it 'app_jobs_total'",
        ),
        (
            "metrics:\n  - {name: app_jobs, type: counter, description: Jobs.}\n",
            "counter name 'app_jobs' must end in '_total'",
        ),
        (
            "metrics:\n  - {name: app_backlog_total, type: gauge, description: Backlog.}\n",
            "only counters may end in '_total'",
        ),
        (
            "metrics:\n  - {name: app_wait_seconds, type: histogram, description: Wait.}\n",
            "metrics[0] (app_wait_seconds).buckets: a histogram needs a non-empty list of bounds",
        ),
        (
            "metrics:\n  - {name: queue_messages_sent, type: gauge, description: Oops.}\n",
            "queue_messages_sent would expose 'queue_messages_sent', which queue_messages_sent_total (the catalog) already uses",
        ),
        (
            "metrics:\n  - {name: queue_depth, type: histogram, description: Depth., buckets: [1]}\n",
            "declares queue_depth as a histogram, but the catalog gives it the type gauge",
        ),
        (
            "rules:\n  - {source: queue.depth, source_type: counter, target: queue_messages_sent_total}\n",
            "reads 'queue.depth' as a counter, but catalog:queue_depth reads it as a gauge",
        ),
        (
            "rules:\n  - {source: messaging.client.sent.messages, target: queue_messages_sent_total,\n"
            "     filter: {absent: [error.type]}}\n",
            "with the same filter as catalog:queue_messages_sent_total; the points would count twice",
        ),
        (
            "metrics:\n  - {name: app_jobs_total, type: counter, description: Jobs.}\n"
            "rules:\n  - {source: a.b, source_type: histogram, target: app_jobs_total}\n",
            "counter target app_jobs_total fed by a histogram source 'a.b' (histogram), which gives it "
            "the type histogram, but",
        ),
        ("rules: [unclosed\n", "invalid YAML"),
    ],
)
def test_invalid_rule_files_name_the_problem(tmp_path, text, expected):
    path = rule_file(tmp_path, text)
    message = start_fails(path)
    assert path in message
    assert expected in message


def test_two_rules_giving_one_target_different_types_name_both(tmp_path):
    path = rule_file(
        tmp_path,
        """
        metrics:
          - {name: app_backlog, type: gauge, description: Jobs waiting.}
        rules:
          - {name: from-gauge, source: app.backlog, source_type: gauge, target: app_backlog}
          - {name: from-counter, source: app.enqueued, source_type: counter, target: app_backlog}
    """,
    )
    message = start_fails(path)
    assert (
        f"{path}: rules[1] (from-counter): gauge target app_backlog fed by a counter source "
        f"'app.enqueued' (counter), which gives it the type counter, "
        f"but {path}: rules[0] (from-gauge) gives it the type gauge"
    ) in message


def test_two_files_declaring_one_metric_with_different_types_name_both(tmp_path):
    first = rule_file(
        tmp_path, "metrics:\n  - {name: app_backlog, type: gauge, description: B.}\n", "a.yaml"
    )
    second = rule_file(
        tmp_path,
        "metrics:\n  - {name: app_backlog, type: histogram, description: B., buckets: [1]}\n",
        "b.yaml",
    )
    message = start_fails(first, second)
    assert f"{second}: metrics[0] (app_backlog): declares app_backlog as a histogram" in message
    assert f"but {first}: metrics[0] (app_backlog) gives it the type gauge" in message


def test_missing_rule_file_and_bad_settings_are_named(tmp_path):
    missing = str(tmp_path / "absent.yaml")
    assert f"{missing}: cannot read rule file" in start_fails(missing)
    with pytest.raises(
        MappingConfigError, match="stream_expiry_seconds: expected a finite number > 0, got 0"
    ):
        MetricMappingStage(MetricMappingConfig(stream_expiry_seconds=0))
    with pytest.raises(MappingConfigError, match="rule_files: expected a list of file paths"):
        MetricMappingStage(MetricMappingConfig(rule_files="rules.yaml"))  # type: ignore[arg-type]


def test_config_has_simple_fields_with_defaults():
    import dataclasses

    from queue_collector.metric_mapping import default_config

    from queue_collector.metric_mapping import (
        CardinalityConfig,
        MetricLimits,
        ShippedRulesConfig,
        SpanMetricsConfig,
    )

    simple = (bool, int, float, str)
    for config_type in (MetricMappingConfig, ShippedRulesConfig, CardinalityConfig, MetricLimits, SpanMetricsConfig):
        assert config_type.__dataclass_params__.frozen, config_type  # type: ignore[attr-defined]
        instance = config_type()
        for item in dataclasses.fields(config_type):
            has_default = item.default is not dataclasses.MISSING or item.default_factory is not dataclasses.MISSING
            assert has_default, item.name
            value = getattr(instance, item.name)
            nested = dataclasses.is_dataclass(value)
            assert nested or value is None or isinstance(value, simple + (tuple, dict)), item.name
    assert default_config() == MetricMappingConfig(rule_files=(), stream_expiry_seconds=300.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_config().stream_expiry_seconds = 1.0  # type: ignore[misc]


def test_filters_compare_non_string_attributes_as_label_text(tmp_path):
    path = rule_file(
        tmp_path,
        """
        metrics:
          - {name: broker_reconnects_total, type: counter, description: Reconnects to the broker.}
        rules:
          - source: broker.reconnects
            source_type: counter
            target: broker_reconnects_total
            filter: {equals: {server.port: 5672, tls: true}}
    """,
    )
    stage, registry = wired(MetricMappingConfig(rule_files=(path,)))
    base = {"messaging.system": "rabbitmq", "messaging.destination.name": 7}
    stage.process_metrics(
        request(
            counter(
                "broker.reconnects",
                number(2, time=1, attributes={**base, "server.port": 5672, "tls": True}),
                number(5, time=1, attributes={**base, "server.port": 5671, "tls": True}),
            ),
        )
    )
    assert (
        sample(
            registry, "broker_reconnects_total", service="checkout", provider="rabbitmq", queue="7"
        )
        == 2
    )
