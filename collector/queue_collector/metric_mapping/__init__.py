"""The receiver's metric mapping stage: producer metrics -> the catalog's unified Prometheus metrics.

Usage::

    stage = MetricMappingStage(default_config())
    registry.register(stage.prometheus_collector())
    pipeline = Pipeline([..., stage, ...], exporters)

See README.md in this package for the settings, the rule file schema and the semantics.
"""

from .config import (
    CardinalityConfig,
    MappingConfigError,
    MetricLimits,
    MetricMappingConfig,
    ShippedRulesConfig,
    SpanMetricsConfig,
    default_config,
)
from .rules import LabelSource, MappingRule
from .stage import MetricMappingStage

__all__ = [
    "MappingConfigError",
    "MetricMappingConfig",
    "ShippedRulesConfig",
    "CardinalityConfig",
    "MetricLimits",
    "SpanMetricsConfig",
    "default_config",
    "MetricMappingStage",
    "MappingRule",
    "LabelSource",
]
