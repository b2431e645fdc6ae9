"""The alert rules as Prometheus alerting rules, and promtool unit tests for them.

The receiver evaluates its rules itself; the same rules also ship as Prometheus rules (for a
Prometheus that scrapes the receivers, e.g. through the chart's PrometheusRule), generated
from the rule definitions so both agree:

* ``metric_threshold``: ``METRIC{matchers} OP THRESHOLD``;
* ``error_rate``: errors over attempts during the window, each ``sum by (service, provider,
  queue) (increase(...))``, divided only where the attempts are above zero (``(...) > 0``
  drops the others), so it never divides by zero;
* ``health_check_failure``: ``queue_health_status`` at or above the failing state; N
  consecutive evaluations become ``for: (N - 1) x evaluation interval`` on top of ``for``;
* ``queue_depth``: ``max by (service, provider, queue) (queue_depth{matchers}) > THRESHOLD``.

Labels: ``severity`` and the rule's labels; annotations ``summary`` and ``description``
(placeholders become ``{{ $labels.NAME }}`` / ``{{ $value }}``).

Command line (regenerates the committed files from the shipped rules)::

    python -m queue_collector.alerting.prometheus_rules --rules otel-config/prometheus/rules/queue-alerts.yml \\
        --rules helm/queue-telemetry/files/prometheus-rules.yaml \\
        --tests otel-config/prometheus/rules/queue-alerts.test.yml
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from queue_collector.alerting.rules import (
    ERROR_RATE_METRICS,
    GROUP_LABELS,
    AlertRule,
    Comparison,
    load_rule_set,
)

__all__ = [
    "prometheus_rule_groups",
    "render_rule_file",
    "render_unit_tests",
    "main",
    "GROUP_NAME",
    "DEFAULT_EVALUATION_INTERVAL_SECONDS",
]

#: Name of the generated rule group.
GROUP_NAME = "queue-collector"
#: Prometheus' evaluation interval the ``for`` of health-check rules assumes (the local
#: stack's and kube-prometheus-stack's default).
DEFAULT_EVALUATION_INTERVAL_SECONDS = 15.0
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_HEALTH_LABELS = ("service", "queue", "check")
_FAILING_VALUE = {"degraded": 1, "unhealthy": 2}

_RULE_FILE_HEADER = """\
# Prometheus alerting rules for the queue metrics exposed by queue-collector.
#
# GENERATED from the receiver's shipped alert rules
# (collector/queue_collector/alerting/default_rules.yaml) by
#   python -m queue_collector.alerting.prometheus_rules
# Do not edit by hand; a test checks that regenerating gives this file. Plain Prometheus
# rule-file format: `promtool check rules` and `promtool test rules` work on it as it is.
"""

_TEST_FILE_HEADER = """\
# promtool unit tests for queue-alerts.yml: every alert fires, then clears.
#   promtool test rules otel-config/prometheus/rules/queue-alerts.test.yml
# GENERATED with the rules by python -m queue_collector.alerting.prometheus_rules.
"""


def _number(value: float) -> str:
    return f"{value:g}" if not float(value).is_integer() else str(int(value))


def _duration(seconds: float) -> str:
    seconds = int(math.ceil(seconds))
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _selector(metric: str, matchers: dict[str, str], extra: Sequence[str] = ()) -> str:
    parts = list(extra) + [f"{name}={_quote(value)}" for name, value in sorted(matchers.items())]
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def _output_labels(rule: AlertRule) -> tuple[str, ...]:
    kind = rule.condition.kind
    if kind == "health_check_failure":
        return _HEALTH_LABELS
    if kind == "metric_threshold":
        return ("service", "provider", "queue", "check", "error_type", "reason")
    return GROUP_LABELS


def _template(text: str, labels: Sequence[str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "value":
            return "{{ $value }}"
        if name in labels:
            return "{{ $labels.%s }}" % name
        return match.group(0)

    return _PLACEHOLDER.sub(replace, text)


def _expression(rule: AlertRule, interval: float) -> tuple[str, float]:
    """The PromQL expression and the ``for`` in seconds."""
    condition = rule.condition
    by = f"sum by ({', '.join(GROUP_LABELS)})"
    if condition.metric_threshold is not None:
        threshold = condition.metric_threshold
        operator = threshold.operator.value
        return f"{_selector(threshold.metric, dict(threshold.matchers))} {operator} {_number(threshold.threshold)}", rule.for_seconds
    if condition.queue_depth is not None:
        depth = condition.queue_depth
        return (
            f"max by ({', '.join(GROUP_LABELS)}) ({_selector('queue_depth', dict(depth.matchers))}) "
            f"> {_number(depth.threshold)}"
        ), rule.for_seconds
    if condition.error_rate is not None:
        rate = condition.error_rate
        errors, attempts = ERROR_RATE_METRICS[rate.operation]
        window = _duration(rate.window_seconds)
        matchers = dict(rate.matchers)
        if len(attempts) == 1:
            attempt_selector = _selector(attempts[0], matchers)
        else:
            attempt_selector = _selector("", matchers, [f"__name__=~{_quote('|'.join(attempts))}"])
        expression = (
            f"(\n  {by} (increase({_selector(errors, matchers)}[{window}]))\n"
            f"/\n  ({by} (increase({attempt_selector}[{window}])) > 0)\n"
            f") > {_number(rate.threshold)}"
        )
        return expression, rule.for_seconds
    health = condition.health_check_failure
    assert health is not None
    matchers = dict(health.matchers)
    if health.check:
        matchers["check"] = health.check
    expression = (
        f"max by ({', '.join(_HEALTH_LABELS)}) ({_selector('queue_health_status', matchers)}) "
        f">= {_FAILING_VALUE[health.minimum_status]}"
    )
    return expression, rule.for_seconds + (health.consecutive_failures - 1) * interval


def _summary(rule: AlertRule) -> str:
    labels = _output_labels(rule)
    if "queue" in labels:
        return f"{rule.name} on {{{{ $labels.service }}}}/{{{{ $labels.queue }}}}"
    return f"{rule.name} on {{{{ $labels.service }}}}"


def prometheus_rule(rule: AlertRule, interval: float = DEFAULT_EVALUATION_INTERVAL_SECONDS) -> dict[str, Any]:
    expression, for_seconds = _expression(rule, interval)
    document: dict[str, Any] = {"alert": rule.name, "expr": expression}
    if for_seconds > 0:
        document["for"] = _duration(for_seconds)
    document["labels"] = {"severity": rule.severity.value, **dict(sorted(rule.labels.items()))}
    document["annotations"] = {
        "summary": _summary(rule),
        "description": _template(rule.description or rule.name, _output_labels(rule)),
    }
    return document


def prometheus_rule_groups(
    rules: Sequence[AlertRule], interval: float = DEFAULT_EVALUATION_INTERVAL_SECONDS
) -> dict[str, Any]:
    """``{"groups": [...]}`` for ``rules``, in rule-file format."""
    return {"groups": [{"name": GROUP_NAME, "rules": [prometheus_rule(rule, interval) for rule in rules]}]}


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)


def render_rule_file(rules: Sequence[AlertRule] | None = None) -> str:
    """The rule file text (default: the shipped rules)."""
    rules = load_rule_set([]).rules if rules is None else rules
    return _RULE_FILE_HEADER + "\n" + _dump(prometheus_rule_groups(rules))


# --- promtool unit tests ----------------------------------------------------------------------

_SERIES = {"service": "checkout", "provider": "in_memory", "queue": "orders"}


def _series(name: str, labels: dict[str, str]) -> str:
    return _selector(name, labels)


def _fill(text: str, labels: dict[str, str], value: float) -> str:
    """What Prometheus makes of an annotation template for ``labels`` and ``value``."""
    text = re.sub(r"\{\{ \$labels\.([a-z_]+) \}\}", lambda m: labels.get(m.group(1), ""), text)
    return text.replace("{{ $value }}", _number(value) if float(value).is_integer() else repr(float(value)))


def _bad_and_good(operator: Comparison, threshold: float) -> tuple[float, float]:
    if operator in (Comparison.GREATER, Comparison.GREATER_OR_EQUAL):
        return threshold * 2 + 1, max(0.0, threshold - 1) if threshold >= 1 else 0.0
    if operator in (Comparison.LESS, Comparison.LESS_OR_EQUAL):
        return threshold - 1, threshold + 1
    if operator is Comparison.EQUAL:
        return threshold, threshold + 1
    return threshold + 1, threshold


def _unit_test(rule: AlertRule, interval: float) -> dict[str, Any]:
    """One promtool test: the condition holds for a while (the alert fires), then stops (it
    clears). Samples every minute."""
    expression, for_seconds = _expression(rule, interval)
    for_minutes = int(math.ceil(for_seconds / 60))
    condition = rule.condition
    series: list[dict[str, str]] = []
    if condition.error_rate is not None:
        rate = condition.error_rate
        labels = {**_SERIES, **dict(rate.matchers)}
        errors, attempts = ERROR_RATE_METRICS[rate.operation]
        # 256 attempts a minute, a share in eighths above the threshold failing: ratios that
        # are exact in binary, so the expected $value is exact too.
        bad = next(k / 8 for k in range(1, 9) if k / 8 > rate.threshold or k == 8)
        per_minute = int(256 * bad)
        bad_minutes = int(rate.window_seconds // 60) + for_minutes + 10
        series.append({"series": _series(errors, {**labels, "error_type": "TimeoutError"}),
                       "values": f"0+{per_minute}x{bad_minutes} {per_minute * bad_minutes}+0x{bad_minutes + 30}"})
        for name in attempts:
            if name != errors:
                # The successes (send, receive) or every processed message (process).
                step = 256 - per_minute if errors in attempts else 256
                series.append({"series": _series(name, labels), "values": f"0+{step}x{2 * bad_minutes + 30}"})
        fire_at = int(rate.window_seconds // 60) + for_minutes + 2
        clear_at = bad_minutes + int(rate.window_seconds // 60) + 5
        alert_labels = dict(labels)
    else:
        if condition.queue_depth is not None:
            name, labels = "queue_depth", {**_SERIES, **dict(condition.queue_depth.matchers)}
            bad, good = condition.queue_depth.threshold * 2 + 1, 0.0
            alert_labels = dict(labels)
        elif condition.metric_threshold is not None:
            threshold = condition.metric_threshold
            name, labels = threshold.metric, {**_SERIES, **dict(threshold.matchers)}
            bad, good = _bad_and_good(threshold.operator, threshold.threshold)
            alert_labels = dict(labels)
        else:
            health = condition.health_check_failure
            assert health is not None
            labels = {"service": "checkout", "queue": "orders", "check": health.check or "message_processing",
                      **dict(health.matchers)}
            name, bad, good = "queue_health_status", float(_FAILING_VALUE[health.minimum_status]), 0.0
            alert_labels = dict(labels)
        bad_minutes = for_minutes + 10
        series.append({"series": _series(name, labels),
                       "values": f"{_number(good)}x4 {_number(bad)}x{bad_minutes} {_number(good)}x30"})
        fire_at = 5 + for_minutes + 2
        clear_at = 5 + bad_minutes + 5
    expected_labels = {**alert_labels, "severity": rule.severity.value, **dict(rule.labels)}
    annotations = prometheus_rule(rule, interval)["annotations"]
    expected_annotations = {key: _fill(value, alert_labels, bad) for key, value in annotations.items()}
    return {
        "name": f"{rule.name} fires, then clears",
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": f"{fire_at}m", "alertname": rule.name,
             "exp_alerts": [{"exp_labels": expected_labels, "exp_annotations": expected_annotations}]},
            {"eval_time": f"{clear_at}m", "alertname": rule.name, "exp_alerts": []},
        ],
    }


def render_unit_tests(
    rules: Sequence[AlertRule] | None = None,
    rule_file_name: str = "queue-alerts.yml",
    interval: float = DEFAULT_EVALUATION_INTERVAL_SECONDS,
) -> str:
    """The promtool test file for the rule file (default: the shipped rules)."""
    rules = load_rule_set([]).rules if rules is None else rules
    document = {
        "rule_files": [rule_file_name],
        "evaluation_interval": _duration(interval),
        "tests": [_unit_test(rule, interval) for rule in rules],
    }
    return _TEST_FILE_HEADER + "\n" + _dump(document)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m queue_collector.alerting.prometheus_rules",
        description="Generate Prometheus alerting rules (and promtool unit tests) from the receiver's alert rules.",
    )
    parser.add_argument("--rule-file", action="append", default=[], metavar="FILE",
                        help="alert rule files to add to the shipped ones (default: the shipped rules only)")
    parser.add_argument("--rules", action="append", default=[], metavar="PATH",
                        help="write the Prometheus rule file here (repeatable; default: stdout)")
    parser.add_argument("--tests", metavar="PATH", help="write the promtool unit tests here")
    parser.add_argument("--check", action="store_true",
                        help="compare with the files instead of writing them; exit 1 when they differ")
    arguments = parser.parse_args(argv)
    rules = load_rule_set(arguments.rule_file).rules
    outputs = [(path, render_rule_file(rules)) for path in arguments.rules]
    if arguments.tests:
        outputs.append((arguments.tests, render_unit_tests(rules)))
    if not outputs:
        sys.stdout.write(render_rule_file(rules))
        return 0
    stale = []
    for path, text in outputs:
        target = Path(path)
        if arguments.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{path} is out of date; regenerate it", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
