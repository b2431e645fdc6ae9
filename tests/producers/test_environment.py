"""Settings precedence: explicit argument, then environment variable, then default."""

from __future__ import annotations

import logging

import pytest

from queue_telemetry import environment_variables
from queue_telemetry._environment import parse_bool, parse_log_level, read_bool, resolve


def test_every_variable_is_documented_and_namespaced() -> None:
    for name in environment_variables.__all__:
        assert name.startswith("OTEL_PYTHON_QUEUE_")
        assert getattr(environment_variables, name) == name
    source = open(environment_variables.__file__, encoding="utf-8").read()
    for name in environment_variables.__all__:
        assert f".. envvar:: {name}" in source
        assert "Default:" in source.split(f".. envvar:: {name}")[1].split('"""')[0]


@pytest.mark.parametrize("raw, expected", [("true", True), ("TRUE", True), (" false ", False), ("False", False)])
def test_booleans_parse_strictly(raw: str, expected: bool, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_QUEUE_TEST_FLAG", raw)
    assert read_bool("OTEL_PYTHON_QUEUE_TEST_FLAG", not expected) is expected


@pytest.mark.parametrize("raw", ["1", "yes", "on", "t"])
def test_other_boolean_spellings_warn_and_keep_the_default(raw: str, monkeypatch, caplog) -> None:
    monkeypatch.setenv("OTEL_PYTHON_QUEUE_TEST_FLAG", raw)
    with caplog.at_level(logging.WARNING):
        assert read_bool("OTEL_PYTHON_QUEUE_TEST_FLAG", False) is False
    assert "OTEL_PYTHON_QUEUE_TEST_FLAG" in caplog.text


def test_precedence(monkeypatch) -> None:
    monkeypatch.delenv("OTEL_PYTHON_QUEUE_TEST_FLAG", raising=False)
    assert resolve(None, "OTEL_PYTHON_QUEUE_TEST_FLAG", True, parse_bool) is True
    monkeypatch.setenv("OTEL_PYTHON_QUEUE_TEST_FLAG", "false")
    assert resolve(None, "OTEL_PYTHON_QUEUE_TEST_FLAG", True, parse_bool) is False
    assert resolve(True, "OTEL_PYTHON_QUEUE_TEST_FLAG", False, parse_bool) is True


def test_log_levels(caplog) -> None:
    assert parse_log_level("V", "debug", logging.INFO) == logging.DEBUG
    assert parse_log_level("V", "30", logging.INFO) == 30
    with caplog.at_level(logging.WARNING):
        assert parse_log_level("V", "chatty", logging.INFO) == logging.INFO
    assert "chatty" in caplog.text
