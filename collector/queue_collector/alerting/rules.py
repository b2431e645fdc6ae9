"""Alert rule files: the schema, loading (shipped defaults + user files) and validation.

A rule file has two keys::

    channels:              # name -> exactly one of log / webhook / slack / pagerduty / email
      oncall:
        pagerduty: {routing_key_env: PAGERDUTY_ROUTING_KEY}
    rules:
      - name: QueueProcessingErrorRateHigh
        description: "Queue {queue} of {service} fails to process messages"
        severity: critical          # info | warning | critical
        for_seconds: 120            # condition true this long before firing
        cooldown_seconds: 3600      # re-notify a still-firing alert this often (0: never)
        labels: {team: payments}
        channels: [log, oncall]
        condition:                  # exactly one of the four kinds
          error_rate: {operation: process, threshold: 0.05, window_seconds: 300}

Files are loaded with the receiver's generic loader, so a problem names its key path. Secrets
(webhook URLs with credentials or tokens, header values such as ``Authorization``, Slack
webhook URLs, PagerDuty routing keys, SMTP passwords) are refused in plain text: they come
from an environment variable (``*_env``) or a file (``*_file``), resolved when the receiver
starts (see :mod:`queue_collector.alerting.secrets`).

Files load in order (the shipped defaults first); a rule or channel with the name of an
earlier one replaces it, so a user file can retune or silence a shipped rule.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterator, Literal, Mapping, Sequence
from urllib.parse import parse_qsl, urlsplit

import yaml
from queue_telemetry.catalog import UNIFIED_METRICS, UnifiedKind

from queue_collector.config_loading import ConfigError, ConfigProblem, load_dataclass

__all__ = [
    "Severity",
    "Comparison",
    "MetricThresholdCondition",
    "ErrorRateCondition",
    "HealthCheckFailureCondition",
    "QueueDepthCondition",
    "AlertCondition",
    "AlertRule",
    "LogChannelConfig",
    "WebhookChannelConfig",
    "SlackChannelConfig",
    "PagerDutyChannelConfig",
    "EmailChannelConfig",
    "ChannelConfig",
    "AlertRuleFile",
    "RuleSet",
    "SHIPPED_RULES_FILE",
    "ERROR_RATE_METRICS",
    "GROUP_LABELS",
    "load_rule_set",
    "rule_set_problems",
]

#: The rule file shipped with the receiver (package data).
SHIPPED_RULES_FILE = "default_rules.yaml"

#: Labels error-rate and queue-depth alerts are computed per.
GROUP_LABELS = ("service", "provider", "queue")

#: operation -> (errors counter, counters whose sum is all attempts). Shared by the evaluator
#: and the Prometheus rule generator so both compute the same ratio.
ERROR_RATE_METRICS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "process": ("queue_processing_errors_total", ("queue_message_processing_duration_seconds_count",)),
    "send": ("queue_send_errors_total", ("queue_messages_sent_total", "queue_send_errors_total")),
    "receive": ("queue_receive_errors_total", ("queue_messages_received_total", "queue_receive_errors_total")),
}


def _sample_names() -> frozenset[str]:
    names = set()
    for metric in UNIFIED_METRICS:
        if metric.kind is UnifiedKind.HISTOGRAM:
            names.update(f"{metric.name}_{suffix}" for suffix in ("count", "sum", "bucket"))
        else:
            names.add(metric.name)
    return frozenset(names)


#: Every sample name a metric threshold may read (histograms through _count, _sum, _bucket).
METRIC_SAMPLE_NAMES = _sample_names()
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]*$")
#: Header names whose values are credentials (compared lower-case; also any containing these).
_SECRET_HEADER_WORDS = ("authorization", "token", "secret", "key", "password", "signature", "cookie")
_SECRET_QUERY_WORDS = ("token", "key", "secret", "sig", "password", "auth", "code")


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Comparison(str, enum.Enum):
    GREATER = ">"
    GREATER_OR_EQUAL = ">="
    LESS = "<"
    LESS_OR_EQUAL = "<="
    EQUAL = "=="
    NOT_EQUAL = "!="

    def holds(self, value: float, threshold: float) -> bool:
        if self is Comparison.GREATER:
            return value > threshold
        if self is Comparison.GREATER_OR_EQUAL:
            return value >= threshold
        if self is Comparison.LESS:
            return value < threshold
        if self is Comparison.LESS_OR_EQUAL:
            return value <= threshold
        if self is Comparison.EQUAL:
            return value == threshold
        return value != threshold


def _matcher_problems(matchers: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    for name in matchers:
        if not _LABEL_NAME.match(str(name)):
            yield f"matchers.{name}", "not a valid label name"


@dataclass(frozen=True)
class MetricThresholdCondition:
    """A unified metric's current value against a threshold, per series."""

    #: Sample name on /metrics: a gauge or counter name (``queue_depth``,
    #: ``queue_messages_dead_lettered_total``) or a histogram's ``_count`` / ``_sum`` / ``_bucket``.
    metric: str = ""
    #: Label equality matchers selecting the series (default = all series).
    matchers: Mapping[str, str] = field(default_factory=dict)
    #: ``>``, ``>=``, ``<``, ``<=``, ``==`` or ``!=`` (default = ``>``).
    operator: Comparison = Comparison.GREATER
    threshold: float = 0.0

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if self.metric not in METRIC_SAMPLE_NAMES:
            yield "metric", f"unknown unified metric {self.metric!r} (see the metric catalog)"
        yield from _matcher_problems(self.matchers)


@dataclass(frozen=True)
class ErrorRateCondition:
    """Failed over attempted operations during a window, per service, provider and queue.

    Never divides by zero: a queue without attempts in the window has no rate (no alert).
    """

    #: ``process`` (processing errors over processed messages), ``send`` or ``receive``
    #: (errors over successful operations plus errors) (default = ``process``).
    operation: Literal["process", "send", "receive"] = "process"
    #: Fires when the rate is above this (default = 0.05).
    threshold: float = 0.05
    #: The window, in seconds (default = 300).
    window_seconds: float = 300.0
    #: Label equality matchers on service, provider, queue (default = all).
    matchers: Mapping[str, str] = field(default_factory=dict)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if not 0 <= self.threshold <= 1:
            yield "threshold", f"must be between 0 and 1, got {self.threshold}"
        if self.window_seconds < 1:
            yield "window_seconds", f"must be at least 1, got {self.window_seconds}"
        yield from _matcher_problems(self.matchers)
        for name in self.matchers:
            if name not in GROUP_LABELS:
                yield f"matchers.{name}", f"error rates are per {', '.join(GROUP_LABELS)}; cannot match {name!r}"


@dataclass(frozen=True)
class HealthCheckFailureCondition:
    """A health check failing for several consecutive evaluations, per service, queue, check."""

    #: Check name as on /health (``message_processing``, ``producer.database``, ...); empty
    #: means any check (default = any).
    check: str = ""
    #: Evaluations in a row the check must fail (default = 3).
    consecutive_failures: int = 3
    #: The status that counts as failing, or worse (default = ``unhealthy``).
    minimum_status: Literal["degraded", "unhealthy"] = "unhealthy"
    #: Label equality matchers on ``service`` and ``queue`` (default = all).
    matchers: Mapping[str, str] = field(default_factory=dict)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if self.consecutive_failures < 1:
            yield "consecutive_failures", f"must be at least 1, got {self.consecutive_failures}"
        for name in self.matchers:
            if name not in ("service", "queue"):
                yield f"matchers.{name}", "only service and queue can be matched"


@dataclass(frozen=True)
class QueueDepthCondition:
    """``queue_depth`` above a threshold, per service, provider and queue."""

    threshold: float = 1000.0
    #: Label equality matchers, e.g. ``{queue: orders}`` (default = every queue).
    matchers: Mapping[str, str] = field(default_factory=dict)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if self.threshold < 0:
            yield "threshold", f"must be 0 or more, got {self.threshold}"
        for name in self.matchers:
            if name not in GROUP_LABELS:
                yield f"matchers.{name}", f"queue_depth has labels {', '.join(GROUP_LABELS)}; not {name!r}"


@dataclass(frozen=True)
class AlertCondition:
    """Exactly one of the four condition kinds."""

    metric_threshold: MetricThresholdCondition | None = None
    error_rate: ErrorRateCondition | None = None
    health_check_failure: HealthCheckFailureCondition | None = None
    queue_depth: QueueDepthCondition | None = None

    @property
    def kind(self) -> str:
        for name in ("metric_threshold", "error_rate", "health_check_failure", "queue_depth"):
            if getattr(self, name) is not None:
                return name
        return ""

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        chosen = [name for name in ("metric_threshold", "error_rate", "health_check_failure", "queue_depth")
                  if getattr(self, name) is not None]
        if len(chosen) != 1:
            yield "", (
                "expected exactly one of metric_threshold, error_rate, health_check_failure, "
                f"queue_depth; got {', '.join(chosen) or 'none'}"
            )


@dataclass(frozen=True)
class AlertRule:
    """One alert rule."""

    #: Unique name; Prometheus alert name style (``QueueDepthHigh``).
    name: str = ""
    #: Text of the notification; ``{service}``, ``{queue}``, ``{provider}``, ``{check}`` and
    #: ``{value}`` are replaced by the alert's labels and value.
    description: str = ""
    severity: Severity = Severity.WARNING
    condition: AlertCondition = field(default_factory=AlertCondition)
    #: The condition must hold this long before the alert fires (default = 0: at once).
    for_seconds: float = 0.0
    #: While firing, notify again this often (default = 3600; 0: only once).
    cooldown_seconds: float = 3600.0
    #: Extra labels on the alert and its notifications.
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Names of the channels notified (default = ``[log]``).
    channels: tuple[str, ...] = ("log",)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if not _RULE_NAME.match(self.name):
            yield "name", f"expected a name like QueueDepthHigh, got {self.name!r}"
        if self.for_seconds < 0:
            yield "for_seconds", f"must be 0 or more, got {self.for_seconds}"
        if self.cooldown_seconds < 0:
            yield "cooldown_seconds", f"must be 0 or more, got {self.cooldown_seconds}"
        for name in self.labels:
            if not _LABEL_NAME.match(str(name)) or name in ("alertname", "severity"):
                yield f"labels.{name}", "not a usable label name (alertname and severity are set by the rule)"
        if not self.channels:
            yield "channels", "name at least one channel"


# --- channels -------------------------------------------------------------------------------


def _one_source(prefix: str, plain: str, env: str, file: str, *, plain_allowed: bool) -> Iterator[tuple[str, str]]:
    given = [name for name, value in ((prefix, plain), (f"{prefix}_env", env), (f"{prefix}_file", file)) if value]
    if plain and not plain_allowed:
        yield prefix, (
            f"secrets are not accepted in plain text; put it in an environment variable "
            f"({prefix}_env: VARIABLE) or a file ({prefix}_file: PATH)"
        )
    elif len(given) != 1:
        choices = f"{prefix}_env or {prefix}_file" if not plain_allowed else f"{prefix}, {prefix}_env or {prefix}_file"
        yield prefix, f"expected exactly one of {choices}, got {', '.join(given) or 'none'}"


def _secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_HEADER_WORDS)


@dataclass(frozen=True)
class LogChannelConfig:
    """Writes alerts to the receiver's log (logger ``queue_collector.alerts``)."""

    #: Level of firing notifications: by severity (info -> INFO, warning -> WARNING,
    #: critical -> ERROR) or one fixed level (default = ``by_severity``). Resolved: INFO.
    level: Literal["by_severity", "INFO", "WARNING", "ERROR"] = "by_severity"


@dataclass(frozen=True)
class WebhookChannelConfig:
    """POSTs a JSON document to a URL."""

    #: The URL, when it carries no secret (no credentials, no token in the query).
    url: str = ""
    #: Environment variable / file holding the URL (for URLs with tokens).
    url_env: str = ""
    url_file: str = ""
    #: Extra headers with non-secret values.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Headers whose values come from environment variables: header -> variable.
    headers_env: Mapping[str, str] = field(default_factory=dict)
    #: Headers whose values come from files: header -> path.
    headers_file: Mapping[str, str] = field(default_factory=dict)
    #: Seconds one HTTP request may take (default = 10).
    timeout_seconds: float = 10.0

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        yield from _one_source("url", self.url, self.url_env, self.url_file, plain_allowed=True)
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                yield "url", f"expected an http:// or https:// URL, got {self.url!r}"
            elif parts.username or parts.password or any(
                any(word in key.lower() for word in _SECRET_QUERY_WORDS) for key, _ in parse_qsl(parts.query)
            ):
                yield "url", (
                    "this URL carries credentials or a token; secrets are not accepted in plain "
                    "text: use url_env or url_file"
                )
        for name in self.headers:
            if _secret_header(str(name)):
                yield f"headers.{name}", (
                    "looks like a secret; secrets are not accepted in plain text: use headers_env "
                    "or headers_file"
                )
        if self.timeout_seconds <= 0:
            yield "timeout_seconds", f"must be positive, got {self.timeout_seconds}"


@dataclass(frozen=True)
class SlackChannelConfig:
    """Posts to a Slack incoming webhook (``text`` and ``blocks``)."""

    #: Refused: the webhook URL is a secret; use ``url_env`` or ``url_file``.
    url: str = ""
    url_env: str = ""
    url_file: str = ""
    #: Channel override (``#queues``), for webhooks that allow it (default = the webhook's own).
    channel: str = ""
    #: Shown as the sender, for webhooks that allow it (default = empty, the webhook's own).
    username: str = ""
    timeout_seconds: float = 10.0

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        yield from _one_source("url", self.url, self.url_env, self.url_file, plain_allowed=False)
        if self.timeout_seconds <= 0:
            yield "timeout_seconds", f"must be positive, got {self.timeout_seconds}"


#: PagerDuty's Events API v2 endpoint.
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class PagerDutyChannelConfig:
    """Triggers and resolves PagerDuty incidents (Events API v2), one ``dedup_key`` per alert."""

    #: Refused: the routing (integration) key is a secret; use ``routing_key_env`` / ``_file``.
    routing_key: str = ""
    routing_key_env: str = ""
    routing_key_file: str = ""
    #: The Events API endpoint (default = PagerDuty's; change it for a proxy or a test server).
    events_url: str = PAGERDUTY_EVENTS_URL
    #: ``payload.source`` of the events (default = ``queue-collector``).
    source: str = "queue-collector"
    timeout_seconds: float = 10.0

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        yield from _one_source(
            "routing_key", self.routing_key, self.routing_key_env, self.routing_key_file, plain_allowed=False
        )
        parts = urlsplit(self.events_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            yield "events_url", f"expected an http:// or https:// URL, got {self.events_url!r}"
        if self.timeout_seconds <= 0:
            yield "timeout_seconds", f"must be positive, got {self.timeout_seconds}"


@dataclass(frozen=True)
class EmailChannelConfig:
    """Sends e-mail over SMTP (optionally STARTTLS and login)."""

    smtp_host: str = ""
    #: Default = 25; 587 is usual with STARTTLS.
    smtp_port: int = 25
    #: Upgrade the connection with STARTTLS before login and sending (default = false).
    starttls: bool = False
    #: Log in with this user when set (default = no login).
    username: str = ""
    #: Refused: use ``password_env`` or ``password_file``.
    password: str = ""
    password_env: str = ""
    password_file: str = ""
    from_address: str = ""
    to: tuple[str, ...] = ()
    #: Put before every subject (default = ``[queue-collector]``).
    subject_prefix: str = "[queue-collector]"
    timeout_seconds: float = 10.0

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if not self.smtp_host:
            yield "smtp_host", "required"
        if not 0 < self.smtp_port < 65536:
            yield "smtp_port", f"expected a port number, got {self.smtp_port}"
        if self.password:
            yield "password", (
                "secrets are not accepted in plain text; put it in an environment variable "
                "(password_env: VARIABLE) or a file (password_file: PATH)"
            )
        elif self.password_env and self.password_file:
            yield "password", "expected at most one of password_env or password_file"
        if (self.password_env or self.password_file) and not self.username:
            yield "username", "required when a password is given"
        if "@" not in self.from_address:
            yield "from_address", f"expected an e-mail address, got {self.from_address!r}"
        if not self.to or not all("@" in address for address in self.to):
            yield "to", f"expected a list of e-mail addresses, got {list(self.to)!r}"
        if self.timeout_seconds <= 0:
            yield "timeout_seconds", f"must be positive, got {self.timeout_seconds}"


_CHANNEL_KINDS = ("log", "webhook", "slack", "pagerduty", "email")


@dataclass(frozen=True)
class ChannelConfig:
    """Exactly one channel kind."""

    log: LogChannelConfig | None = None
    webhook: WebhookChannelConfig | None = None
    slack: SlackChannelConfig | None = None
    pagerduty: PagerDutyChannelConfig | None = None
    email: EmailChannelConfig | None = None

    @property
    def kind(self) -> str:
        for name in _CHANNEL_KINDS:
            if getattr(self, name) is not None:
                return name
        return ""

    @property
    def settings(self) -> object:
        return getattr(self, self.kind)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        chosen = [name for name in _CHANNEL_KINDS if getattr(self, name) is not None]
        if len(chosen) != 1:
            yield "", f"expected exactly one of {', '.join(_CHANNEL_KINDS)}; got {', '.join(chosen) or 'none'}"


@dataclass(frozen=True)
class AlertRuleFile:
    """One rule file."""

    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)
    rules: tuple[AlertRule, ...] = ()

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen:
                yield f"rules[{index}].name", f"rule {rule.name!r} is defined twice in this file"
            seen.add(rule.name)


@dataclass(frozen=True)
class RuleSet:
    """Every rule and channel after merging the files, in file order."""

    rules: tuple[AlertRule, ...]
    channels: Mapping[str, ChannelConfig]
    #: Where each came from, for messages.
    sources: tuple[str, ...]


def shipped_rules_text() -> str:
    """The text of the shipped default rule file."""
    return resources.files("queue_collector.alerting").joinpath(SHIPPED_RULES_FILE).read_text(encoding="utf-8")


def _load_text(text: str, source: str) -> AlertRuleFile:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError([ConfigProblem("", f"not valid YAML: {error}")], source) from None
    try:
        return load_dataclass(AlertRuleFile, data)
    except ConfigError as error:
        raise ConfigError(error.problems, source) from None


def load_rule_set(rule_files: Sequence[str], include_shipped: bool = True) -> RuleSet:
    """Loads the shipped rules (when ``include_shipped``) and then ``rule_files`` in order.

    Raises ConfigError naming the file and key path of every problem, including rules that
    name channels no file defines.
    """
    loaded: list[tuple[str, AlertRuleFile]] = []
    if include_shipped:
        loaded.append((f"(shipped) {SHIPPED_RULES_FILE}", _load_text(shipped_rules_text(), SHIPPED_RULES_FILE)))
    for path in rule_files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError([ConfigProblem("", f"cannot read {path}: {error.strerror or error}")], str(path)) from None
        loaded.append((str(path), _load_text(text, str(path))))
    rules: dict[str, AlertRule] = {}
    channels: dict[str, ChannelConfig] = {}
    origin: dict[str, str] = {}
    for source, rule_file in loaded:
        channels.update(rule_file.channels)
        for rule in rule_file.rules:
            rules.pop(rule.name, None)  # a later file replaces the rule, at its own position
            rules[rule.name] = rule
            origin[rule.name] = source
    problems = [
        ConfigProblem(f"{origin[rule.name]}: rules.{rule.name}.channels",
                      f"unknown channel {name!r} (defined: {', '.join(sorted(channels)) or 'none'})")
        for rule in rules.values()
        for name in rule.channels
        if name not in channels
    ]
    if problems:
        raise ConfigError(problems, "alert rule files")
    return RuleSet(tuple(rules.values()), channels, tuple(source for source, _ in loaded))


def rule_set_problems(rule_files: Sequence[str], include_shipped: bool = True) -> list[str]:
    """Every problem of the rule files as text (empty when they load)."""
    try:
        load_rule_set(rule_files, include_shipped)
    except ConfigError as error:
        where = f"{error.source}: " if error.source else ""
        return [f"{where}{problem}" for problem in error.problems]
    return []
