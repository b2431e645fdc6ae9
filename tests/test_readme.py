"""The README documents every metric, flag and environment variable the code defines."""

from pathlib import Path

import queue_collector.environment_variables as collector_variables
import queue_telemetry.environment_variables as producer_variables
from queue_telemetry import catalog

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_unified_metric_is_documented():
    missing = [m.name for m in catalog.UNIFIED_METRICS if f"`{m.name}`" not in README]
    assert not missing


def test_every_environment_variable_is_documented():
    names = [
        value
        for module in (collector_variables, producer_variables)
        for key, value in vars(module).items()
        if key.isupper() and isinstance(value, str) and value == key
    ]
    assert len(names) >= 10
    assert [name for name in names if f"`{name}`" not in README] == []


def test_the_quickstart_has_exactly_the_two_commands():
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = quickstart.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
