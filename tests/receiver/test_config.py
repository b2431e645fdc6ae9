"""Configuration: loading errors with key paths, precedence, and the validate-config command."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from queue_collector.cli import main
from queue_collector.config import ReceiverConfig, default_config, resolve_config
from queue_collector.config_loading import ConfigError, load_config_file, load_dataclass

BAD_CONFIG = textwrap.dedent(
    """\
    otlp:
      endpoint: nowhere
      worker_threads: 0
    exporters:
      traces:
        max_queue_requests: ten
        max_queu_requests: 3
        compression: brotli
        retry:
          multiplier: 0.5
    health:
      stale_after_seconds: 600
    metric_mapping:
      stream_expiry_seconds: soon
      rule_files: not-a-list
    colour: blue
    """
)


def write(tmp_path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config_file(ReceiverConfig, write(tmp_path, BAD_CONFIG), default_config())
    problems = {str(problem) for problem in caught.value.problems}
    assert "exporters.traces.max_queue_requests: expected an integer, got 'ten'" in problems
    assert "metric_mapping.stream_expiry_seconds: expected a number, got 'soon'" in problems
    assert "metric_mapping.rule_files: expected a list, got 'not-a-list'" in problems
    assert "exporters.traces.compression: expected one of 'gzip', 'none', got 'brotli'" in problems
    assert any(p.startswith("exporters.traces.max_queu_requests: unknown key; did you mean 'max_queue_requests'") for p in problems)
    assert any(p.startswith("colour: unknown key") for p in problems)
    assert any(p.startswith("otlp.endpoint: 'nowhere'") for p in problems)
    assert "otlp.worker_threads: must be at least 1, got 0" in problems
    assert "exporters.traces.retry.multiplier: must be at least 1, got 0.5" in problems
    assert any(p.startswith("health.unhealthy_after_seconds: must be at least stale_after_seconds") for p in problems)
    assert len(problems) == 10
    assert str(tmp_path / "config.yaml") in str(caught.value)


def test_partial_file_keeps_defaults_and_types_are_strict(tmp_path):
    config = load_config_file(ReceiverConfig, write(tmp_path, "health:\n  stale_after_seconds: 30\nexporters:\n  traces:\n    headers: {x-tenant: a}\n"))
    assert config.health.stale_after_seconds == 30.0
    assert config.health.unhealthy_after_seconds == 300.0
    assert config.exporters.traces.headers == {"x-tenant": "a"}
    assert config.exporters.logs.file == "queue-collector-logs.jsonl"
    with pytest.raises(ConfigError) as caught:
        load_dataclass(ReceiverConfig, {"exporters": {"traces": {"fsync": "yes", "timeout_seconds": True}}})
    assert {str(p) for p in caught.value.problems} == {
        "exporters.traces.fsync: expected true or false, got 'yes'",
        "exporters.traces.timeout_seconds: expected a number, got True",
    }


def test_precedence_flags_over_variables_over_file_over_defaults(tmp_path):
    path = write(tmp_path, "otlp:\n  endpoint: 127.0.0.1:1111\nadmin:\n  endpoint: 127.0.0.1:2222\nexporters:\n  traces:\n    file: from-file.jsonl\n")
    environment = {"QUEUE_COLLECTOR_CONFIG": path, "QUEUE_COLLECTOR_ADMIN_ENDPOINT": "127.0.0.1:3333",
                   "QUEUE_COLLECTOR_OTLP_ENDPOINT": "127.0.0.1:4444", "QUEUE_COLLECTOR_LOGS_FILE": ""}
    config = resolve_config({"otlp.endpoint": "127.0.0.1:5555", "admin.endpoint": None}, environment)
    assert config.otlp.endpoint == "127.0.0.1:5555"  # flag beats variable and file
    assert config.admin.endpoint == "127.0.0.1:3333"  # variable beats file
    assert config.exporters.traces.file == "from-file.jsonl"  # file beats default
    assert config.exporters.logs.file == "queue-collector-logs.jsonl"  # empty variable: default
    assert resolve_config({}, {}) == default_config()
    with pytest.raises(ConfigError) as caught:
        resolve_config({"exporters.traces.endpoint": "ftp://jaeger:4317"}, {})
    assert "exporters.traces.endpoint" in str(caught.value)


def test_validate_config_exit_codes(tmp_path, capsys):
    assert main(["validate-config", write(tmp_path, BAD_CONFIG)]) == 1
    output = capsys.readouterr().out
    assert "exporters.traces.max_queue_requests: expected an integer, got 'ten'" in output
    assert output.count("\n") == 10
    assert main(["validate-config", write(tmp_path, "otlp:\n  endpoint: 0.0.0.0:4317\n", "good.yaml")]) == 0
    assert capsys.readouterr().out == "ok\n"
    assert main(["validate-config", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().out


def test_console_script_help_and_validate_config(tmp_path):
    for arguments in (["--help"], ["validate-config", "--help"]):
        result = subprocess.run([sys.executable, "-m", "queue_collector", *arguments],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "usage: queue-collector" in result.stdout
    result = subprocess.run([sys.executable, "-m", "queue_collector", "validate-config", write(tmp_path, BAD_CONFIG)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "otlp.worker_threads" in result.stdout
