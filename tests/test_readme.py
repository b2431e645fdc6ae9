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


def test_the_library_example_runs_and_exports_its_spans(tmp_path):
    """The README's Python example, run as written, sends its spans over OTLP."""
    import os
    import subprocess
    import sys

    from tests.support.otlp_sink import OtlpSink

    section = README.split("## Instrumenting an application", 1)[1]
    example = section.split("```python", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(example)
    sink = OtlpSink().start()
    try:
        completed = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60,
            env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{sink.endpoint}",
                 "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_SERVICE_NAME": "readme-example"},
        )
        assert completed.returncode == 0, completed.stderr
        assert "handling b'{\"id\": 42}'" in completed.stdout
        names = {span.name for span in sink.spans()}
        assert {"send orders", "receive orders", "process orders", "ack orders"} <= names, names
    finally:
        sink.stop()
