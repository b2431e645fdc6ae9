"""Configuration: defaults, the receiver's loader, and errors that name the key and value."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from queue_collector.config_loading import ConfigError, load_dataclass
from queue_collector.redaction import (
    RedactionConfig,
    RedactionConfigError,
    RedactionStage,
    default_config,
)


def test_default_config_is_all_defaults_and_builds() -> None:
    assert default_config() == RedactionConfig()
    stage = RedactionStage(default_config())
    assert stage.name == "redaction"


def test_fields_have_simple_types_and_defaults() -> None:
    allowed = {"bool", "int", "float", "str", "tuple[str, ...]", "dict[str, str]", "DetectorsConfig", "HashConfig"}

    def check(cls) -> None:
        for field in dataclasses.fields(cls):
            assert field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
            assert str(field.type) in allowed, (cls.__name__, field.name, field.type)
            if dataclasses.is_dataclass(field.default_factory):
                check(field.default_factory)

    check(RedactionConfig)


def test_the_receiver_loader_builds_a_partial_section() -> None:
    data = yaml.safe_load(
        """
        action: hash
        blocked_values: ["abc"]
        detectors: {card_number: false}
        hash: {key_env: KEY}
        """
    )
    config = load_dataclass(RedactionConfig, data, path="redaction")
    assert config.action == "hash" and config.blocked_values == ("abc",)
    assert config.detectors.card_number is False and config.detectors.jwt is True


def test_loader_reports_bad_regex_with_key_path() -> None:
    with pytest.raises(ConfigError) as error:
        load_dataclass(RedactionConfig, {"blocked_key_patterns": ["ok", "(unclosed"]}, path="redaction")
    assert "redaction.blocked_key_patterns[1]: invalid regular expression '(unclosed'" in str(error.value)


@pytest.mark.parametrize(
    ("config", "key", "value"),
    [
        (RedactionConfig(blocked_values=("[z-a]",)), "redaction.blocked_values[0]", "[z-a]"),
        (RedactionConfig(allowed_values=("a", "*")), "redaction.allowed_values[1]", "*"),
        (RedactionConfig(action="scramble"), "redaction.action", "scramble"),
        (RedactionConfig(allowed_keys=("a",)), "redaction.allowed_keys", ("a",)),
        (RedactionConfig(max_depth=0), "redaction.max_depth", 0),
        (RedactionConfig(mask=""), "redaction.mask", ""),
        (RedactionConfig(screen_engine="fast"), "redaction.screen_engine", "fast"),
        (RedactionConfig(ignored_keys=("body",)), "redaction.ignored_keys[0]", "body"),
    ],
)
def test_constructor_errors_name_key_and_value(config, key, value) -> None:
    with pytest.raises(RedactionConfigError) as error:
        RedactionStage(config)
    assert error.value.key == key and error.value.value == value
    assert str(error.value).startswith(f"{key}: ")
    assert isinstance(error.value, ValueError)


def test_hash_action_needs_exactly_one_key_source() -> None:
    with pytest.raises(RedactionConfigError, match="exactly one of key_file and key_env"):
        RedactionStage(RedactionConfig(action="hash"))
