"""Notification channels that really deliver: log, webhook, Slack, PagerDuty, e-mail.

Contract: :meth:`Channel.send` delivers one notification synchronously (it is called on the
channel's delivery worker thread, never on the evaluation thread) and raises
:class:`DeliveryError` when it fails, saying whether a retry may help. ``describe()`` names
the destination without its secret parts; ``redact(text)`` removes secret values from error
text before it is logged.
"""

from __future__ import annotations

import json
import logging
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Mapping, Protocol
from urllib.parse import urlsplit

from queue_collector.alerting.notification import AlertNotification
from queue_collector.alerting.rules import (
    ChannelConfig,
    EmailChannelConfig,
    LogChannelConfig,
    PagerDutyChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)
from queue_collector.alerting.secrets import resolve_secret

__all__ = [
    "Channel",
    "DeliveryError",
    "LogChannel",
    "WebhookChannel",
    "SlackChannel",
    "PagerDutyChannel",
    "EmailChannel",
    "build_channel",
    "ALERT_LOGGER",
]

#: The logger the log channel writes to.
ALERT_LOGGER = "queue_collector.alerts"
_USER_AGENT = "queue-collector-alerting"
_PAGERDUTY_SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}
_SLACK_EMOJI = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}


class DeliveryError(Exception):
    """A notification was not delivered; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    name: str
    kind: str

    def send(self, notification: AlertNotification) -> None: ...

    def describe(self) -> str: ...

    def redact(self, text: str) -> str: ...


class _SecretsMixin:
    _secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _safe_url(url: str) -> str:
    """``scheme://host:port`` of a URL: never its path, query or credentials (tokens live there)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def _post_json(url: str, document: object, headers: Mapping[str, str], timeout: float) -> int:
    """POSTs JSON; returns the HTTP status or raises DeliveryError (retryable for 408, 429, 5xx
    and network errors)."""
    body = json.dumps(document).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT, **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        retryable = error.code in (408, 429) or error.code >= 500
        raise DeliveryError(f"HTTP {error.code} {error.reason}", retryable) from None
    except (urllib.error.URLError, socket.timeout, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DeliveryError(f"cannot reach the endpoint: {reason}", True) from None


def _title(notification: AlertNotification) -> str:
    state = "RESOLVED" if notification.status == "resolved" else notification.severity.upper()
    return f"[{state}] {notification.rule}: {notification.subject}"


class LogChannel(_SecretsMixin):
    """Logs every notification (logger ``queue_collector.alerts``)."""

    kind = "log"

    def __init__(self, name: str, config: LogChannelConfig) -> None:
        self.name = name
        self._config = config
        self._logger = logging.getLogger(ALERT_LOGGER)

    def _level(self, notification: AlertNotification) -> int:
        if notification.status == "resolved":
            return logging.INFO
        if self._config.level != "by_severity":
            return logging.getLevelName(self._config.level)
        return {"info": logging.INFO, "warning": logging.WARNING}.get(notification.severity, logging.ERROR)

    def send(self, notification: AlertNotification) -> None:
        self._logger.log(
            self._level(notification),
            "ALERT %s %s: %s (%s)",
            notification.status, notification.rule, notification.summary, notification.description,
            extra={"alert": notification.to_json()},
        )

    def describe(self) -> str:
        return f"log ({ALERT_LOGGER})"


class WebhookChannel(_SecretsMixin):
    """POSTs ``{"version": "1", "receiver": NAME, "status": ..., "alert": {...}}``."""

    kind = "webhook"

    def __init__(self, name: str, config: WebhookChannelConfig, environment: Mapping[str, str] | None = None) -> None:
        self.name = name
        what = f"channel {name}"
        self._url = config.url or resolve_secret(f"{what} url", config.url_env, config.url_file, environment)
        headers = dict(config.headers)
        secret_headers = {}
        for header, variable in config.headers_env.items():
            secret_headers[header] = resolve_secret(f"{what} header {header}", variable, "", environment)
        for header, path in config.headers_file.items():
            secret_headers[header] = resolve_secret(f"{what} header {header}", "", path, environment)
        headers.update(secret_headers)
        self._headers = headers
        self._timeout = config.timeout_seconds
        self._secrets = tuple(secret_headers.values()) + ((self._url,) if not config.url else ())

    def send(self, notification: AlertNotification) -> None:
        document = {
            "version": "1",
            "receiver": self.name,
            "status": notification.status,
            "alert": notification.to_json(),
        }
        _post_json(self._url, document, self._headers, self._timeout)

    def describe(self) -> str:
        return f"webhook {_safe_url(self._url)}"


class SlackChannel(_SecretsMixin):
    """Posts to a Slack incoming webhook: ``text`` (fallback) and ``blocks``."""

    kind = "slack"

    def __init__(self, name: str, config: SlackChannelConfig, environment: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._url = resolve_secret(f"channel {name} url", config.url_env, config.url_file, environment)
        self._config = config
        self._secrets = (self._url,)

    def payload(self, notification: AlertNotification) -> dict:
        emoji = ":white_check_mark:" if notification.status == "resolved" else _SLACK_EMOJI.get(notification.severity, "")
        title = f"{emoji} {_title(notification)}".strip()
        fields = [
            {"type": "mrkdwn", "text": f"*{key}*\n{value}"}
            for key, value in sorted(notification.labels.items())
            if key not in ("alertname",)
        ][:10]
        document: dict = {
            "text": f"{title}\n{notification.description}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": _title(notification)[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": notification.description or notification.summary}},
                {"type": "section", "fields": fields} if fields else {"type": "divider"},
            ],
        }
        if self._config.channel:
            document["channel"] = self._config.channel
        if self._config.username:
            document["username"] = self._config.username
        return document

    def send(self, notification: AlertNotification) -> None:
        _post_json(self._url, self.payload(notification), {}, self._config.timeout_seconds)

    def describe(self) -> str:
        return f"slack {_safe_url(self._url)}"


class PagerDutyChannel(_SecretsMixin):
    """PagerDuty Events API v2: ``trigger`` when firing, ``resolve`` when resolved, both with
    the alert's ``dedup_key``, so one incident per alert."""

    kind = "pagerduty"

    def __init__(self, name: str, config: PagerDutyChannelConfig, environment: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._routing_key = resolve_secret(
            f"channel {name} routing_key", config.routing_key_env, config.routing_key_file, environment
        )
        self._config = config
        self._secrets = (self._routing_key,)

    def event(self, notification: AlertNotification) -> dict:
        if notification.status == "resolved":
            return {"routing_key": self._routing_key, "event_action": "resolve", "dedup_key": notification.dedup_key}
        return {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": notification.dedup_key,
            "payload": {
                "summary": notification.summary[:1024],
                "source": self._config.source,
                "severity": _PAGERDUTY_SEVERITY.get(notification.severity, "error"),
                "component": notification.labels.get("queue", ""),
                "group": notification.labels.get("service", ""),
                "class": notification.rule,
                "custom_details": {
                    "description": notification.description,
                    "labels": dict(notification.labels),
                    "value": notification.value,
                    **dict(notification.details),
                },
            },
        }

    def send(self, notification: AlertNotification) -> None:
        _post_json(self._config.events_url, self.event(notification), {}, self._config.timeout_seconds)

    def describe(self) -> str:
        return f"pagerduty {_safe_url(self._config.events_url)}"


class EmailChannel(_SecretsMixin):
    """E-mail over SMTP with the standard library (STARTTLS and login when configured)."""

    kind = "email"

    def __init__(self, name: str, config: EmailChannelConfig, environment: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._config = config
        self._password = resolve_secret(
            f"channel {name} password", config.password_env, config.password_file, environment
        )
        self._secrets = (self._password,)

    def message(self, notification: AlertNotification) -> EmailMessage:
        config = self._config
        message = EmailMessage()
        message["Subject"] = f"{config.subject_prefix} {_title(notification)}".strip()
        message["From"] = config.from_address
        message["To"] = ", ".join(config.to)
        lines = [notification.summary, "", notification.description, ""]
        lines += [f"{key}: {value}" for key, value in sorted(notification.labels.items())]
        lines += [f"{key}: {value}" for key, value in sorted(notification.details.items())]
        document = notification.to_json()
        lines += ["", f"started: {document['starts_at']}"]
        if document["ends_at"]:
            lines.append(f"resolved: {document['ends_at']}")
        message.set_content("\n".join(lines) + "\n")
        return message

    def send(self, notification: AlertNotification) -> None:
        config = self._config
        try:
            with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_seconds) as smtp:
                smtp.ehlo()
                if config.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if config.username:
                    smtp.login(config.username, self._password)
                smtp.send_message(self.message(notification))
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"SMTP login refused ({error.smtp_code})", False) from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(f"SMTP {error.smtp_code}", 400 <= error.smtp_code < 500) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("SMTP server refused every recipient", False) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP failed: {type(error).__name__}: {error}", True) from None

    def describe(self) -> str:
        return f"email via {self._config.smtp_host}:{self._config.smtp_port} to {len(self._config.to)} recipient(s)"


def build_channel(name: str, config: ChannelConfig, environment: Mapping[str, str] | None = None) -> Channel:
    """The channel for ``config``, its secrets resolved; raises SecretError naming what is missing."""
    kind = config.kind
    if kind == "log":
        return LogChannel(name, config.log)  # type: ignore[arg-type]
    if kind == "webhook":
        return WebhookChannel(name, config.webhook, environment)  # type: ignore[arg-type]
    if kind == "slack":
        return SlackChannel(name, config.slack, environment)  # type: ignore[arg-type]
    if kind == "pagerduty":
        return PagerDutyChannel(name, config.pagerduty, environment)  # type: ignore[arg-type]
    if kind == "email":
        return EmailChannel(name, config.email, environment)  # type: ignore[arg-type]
    raise ValueError(f"channel {name}: no kind given")
