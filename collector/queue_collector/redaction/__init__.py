"""The receiver's redaction stage: no secret leaves the receiver.

Usage::

    stage = RedactionStage(config)            # config: the ``redaction:`` section
    registry.register(stage.prometheus_collector())
    pipeline = Pipeline([stage, ...], exporters)   # first, before metric_mapping

See README.md in this package for the settings, the built-in detectors and the precedence of
the rules.
"""

from .audit import DROPPED_COUNT_ATTRIBUTE, MASKED_COUNT_ATTRIBUTE
from .config import (
    DetectorsConfig,
    HashConfig,
    RedactionConfig,
    RedactionConfigError,
    default_config,
)
from .stage import RedactionStage

__all__ = [
    "RedactionConfig",
    "DetectorsConfig",
    "HashConfig",
    "RedactionConfigError",
    "default_config",
    "RedactionStage",
    "MASKED_COUNT_ATTRIBUTE",
    "DROPPED_COUNT_ATTRIBUTE",
]
