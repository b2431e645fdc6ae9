"""Configuration values that used to pass validation and then broke the receiver: non-finite
and unbounded numbers, files that are not UTF-8, and files the exporters cannot write."""

from __future__ import annotations

import textwrap

import pytest

from queue_collector.cli import main
from queue_collector.config import ReceiverConfig, default_config, resolve_config
from queue_collector.config_loading import ConfigError, load_config_file, load_dataclass


def write(tmp_path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def problems_of(data: dict) -> set[str]:
    with pytest.raises(ConfigError) as caught:
        load_dataclass(ReceiverConfig, data)
    return {str(problem) for problem in caught.value.problems}


@pytest.mark.parametrize(
    ("yaml_value", "shown"), [(".nan", ".nan"), (".inf", ".inf"), ("-.inf", "-.inf"), (".NaN", ".nan")]
)
def test_non_finite_numbers_are_refused_with_their_key_path(tmp_path, yaml_value, shown):
    text = textwrap.dedent(
        f"""\
        shutdown_timeout_seconds: {yaml_value}
        health:
          stale_after_seconds: {yaml_value}
        exporters:
          traces:
            retry:
              max_elapsed_seconds: {yaml_value}
        """
    )
    with pytest.raises(ConfigError) as caught:
        load_config_file(ReceiverConfig, write(tmp_path, text), default_config())
    assert {str(problem) for problem in caught.value.problems} == {
        f"shutdown_timeout_seconds: expected a finite number, got {shown}",
        f"health.stale_after_seconds: expected a finite number, got {shown}",
        f"exporters.traces.retry.max_elapsed_seconds: expected a finite number, got {shown}",
    }


def test_an_integer_too_large_for_a_float_is_refused():
    assert problems_of({"health": {"cache_seconds": 10**400}}) == {
        "health.cache_seconds: expected a finite number, got an integer too large for a float"
    }


def test_an_integer_literal_python_will_not_read_is_a_yaml_problem(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config_file(ReceiverConfig, write(tmp_path, "shutdown_timeout_seconds: " + "9" * 5000 + "\n"))
    assert str(caught.value.problems[0]).startswith("not valid YAML: ")


def test_a_number_yaml_reads_as_a_string_says_how_to_write_it(tmp_path):
    path = write(tmp_path, "health:\n  cache_seconds: 1e3\n  stale_after_seconds: 1e400\n  window_seconds: '2.5e-1'\n")
    with pytest.raises(ConfigError) as caught:
        load_config_file(ReceiverConfig, path)
    assert {str(problem) for problem in caught.value.problems} == {
        "health.cache_seconds: expected a number, got the string '1e3' (write 1000.0)",
        "health.stale_after_seconds: expected a finite number, got the string '1e400'",
        "health.window_seconds: expected a number, got the string '2.5e-1' (write 0.25)",
    }
    assert problems_of({"shutdown_timeout_seconds": "1e308"}) == {
        "shutdown_timeout_seconds: expected a number, got the string '1e308' (write 1.0e+308)"
    }


def test_shutdown_timeout_has_an_upper_bound():
    assert problems_of({"shutdown_timeout_seconds": 1.0e12}) == {
        "shutdown_timeout_seconds: must be at most 86400 (a day), got 1000000000000.0"
    }
    assert load_dataclass(ReceiverConfig, {"shutdown_timeout_seconds": 86400}).shutdown_timeout_seconds == 86400.0


def test_a_file_that_is_not_utf8_is_named_with_the_byte_offset(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("log_level: INFO\n# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config_file(ReceiverConfig, path)
    assert str(caught.value.problems[0]) == (
        "not valid UTF-8: byte 0xe9 at byte offset 21 (line 2); save the file as UTF-8"
    )
    assert str(path) in str(caught.value)

    assert main(["validate-config", str(path)]) == 1
    assert capsys.readouterr().out == f"{path}: not valid UTF-8: byte 0xe9 at byte offset 21 (line 2); save the file as UTF-8\n"

    with pytest.raises(ConfigError):  # start-up reads the file the same way
        resolve_config({}, {}, str(path))
    assert main(["--config", str(path)]) == 2
    assert "byte offset 21" in capsys.readouterr().err


def test_validate_config_names_trace_and_log_files_that_cannot_be_written(tmp_path, capsys):
    text = textwrap.dedent(
        f"""\
        exporters:
          traces:
            file: {tmp_path / "missing" / "traces.jsonl"}
          logs:
            file: {tmp_path}
        """
    )
    assert main(["validate-config", write(tmp_path, text)]) == 1
    output = capsys.readouterr().out.splitlines()
    assert output == [
        f"{tmp_path / 'config.yaml'}: exporters.traces.file: cannot create "
        f"'{tmp_path / 'missing' / 'traces.jsonl'}': the directory '{tmp_path / 'missing'}' does not exist",
        f"{tmp_path / 'config.yaml'}: exporters.logs.file: '{tmp_path}' is a directory; name a file",
    ]
    assert not (tmp_path / "missing").exists()

    good = f"exporters:\n  traces:\n    file: {tmp_path / 'traces.jsonl'}\n  logs:\n    file: {tmp_path / 'logs.jsonl'}\n"
    assert main(["validate-config", write(tmp_path, good, "good.yaml")]) == 0
    assert capsys.readouterr().out == "ok\n"
    assert not (tmp_path / "traces.jsonl").exists()  # looked at, not created


def test_validate_config_also_checks_what_loaded_when_other_keys_are_wrong(tmp_path, capsys):
    text = textwrap.dedent(
        f"""\
        otlp:
          worker_threads: many
        exporters:
          traces:
            file: {tmp_path / "missing" / "traces.jsonl"}
          logs:
            timeout_seconds: .inf
            file: {tmp_path / "missing" / "logs.jsonl"}
        metric_mapping:
          rule_files: [{tmp_path / "no-such-rules.yaml"}]
        alerting:
          rule_files: [{tmp_path / "no-such-alerts.yaml"}]
        """
    )
    assert main(["validate-config", write(tmp_path, text)]) == 1
    output = capsys.readouterr().out
    assert "otlp.worker_threads: expected an integer, got 'many'" in output
    assert "exporters.logs.timeout_seconds: expected a finite number, got .inf" in output
    assert "exporters.traces.file: cannot create" in output
    assert f"metric_mapping: {tmp_path / 'no-such-rules.yaml'}: cannot read rule file" in output
    assert f"alerting.rule_files: {tmp_path / 'no-such-alerts.yaml'}: cannot read" in output
    # A section that already has a problem is not checked again (logs.file is not named).
    assert "exporters.logs.file" not in output
    assert output.count("\n") == 5


def test_validate_config_builds_nothing_when_the_file_is_not_a_mapping(tmp_path, capsys):
    assert main(["validate-config", write(tmp_path, "- a\n- list\n")]) == 1
    assert capsys.readouterr().out.count("\n") == 1
