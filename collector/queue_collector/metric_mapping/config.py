"""Configuration of the metric mapping stage (the ``metric_mapping:`` section of the receiver config)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MetricMappingConfig", "MappingConfigError", "default_config"]

_DEFAULT_STREAM_EXPIRY_SECONDS = 300.0


class MappingConfigError(ValueError):
    """The mapping configuration or a rule file is invalid; the message names the problem and where."""


@dataclass(frozen=True)
class MetricMappingConfig:
    """Settings of the metric mapping stage.

    Every field has a default so the receiver's generic YAML loader can build it from a partial
    section; :func:`default_config` returns the all-defaults instance.
    """

    #: Extra YAML rule files, loaded in order after the built-in rules derived from the catalog
    #: (default = ``()``, no extra rules).
    rule_files: tuple[str, ...] = ()
    #: A stream (one producer process's series of points) with no update for this many seconds is
    #: forgotten: a counter's or histogram's contribution stays in the totals, a gauge's value
    #: leaves the aggregate (default = ``300.0``; must be > 0).
    stream_expiry_seconds: float = _DEFAULT_STREAM_EXPIRY_SECONDS


def default_config() -> MetricMappingConfig:
    """The configuration used when the receiver config has no ``metric_mapping:`` section."""
    return MetricMappingConfig()
