"""``opentelemetry-instrument`` finds and applies the instrumentors with no code change.

The library's configurator sets up the SDK from the ``OTEL_*`` variables; an application that
sets up its own SDK opts out with ``OTEL_PYTHON_CONFIGURATOR`` naming another configurator, and
the instrumentors' tracers (taken from the global proxy at start-up) follow its provider.
The entry points are declared in a throwaway ``*.dist-info`` on ``PYTHONPATH`` (the same
declarations the project's ``pyproject.toml`` makes), so the test does not depend on how the
package was installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .conftest import clean_environment, run_python

ENTRY_POINTS = """\
[opentelemetry_configurator]
queue_telemetry = queue_telemetry.auto_configuration:QueueTelemetryConfigurator

[opentelemetry_instrumentor]
queue_telemetry_sqs = queue_telemetry.sqs:SqsInstrumentor
queue_telemetry_servicebus = queue_telemetry.servicebus:ServiceBusInstrumentor
"""

APP = """
import boto3, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
provider = TracerProvider()  # the application's own SDK setup; no instrumentation code
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(provider)
client = boto3.client("sqs", endpoint_url=sys.argv[1])
url = client.create_queue(QueueName="zero-code")["QueueUrl"]
client.send_message(QueueUrl=url, MessageBody="hello")
message = client.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]
print("CARRIED", "traceparent" in message.get("MessageAttributes", {}))
"""


@pytest.fixture
def entry_points(tmp_path: Path) -> Path:
    info = tmp_path / "queue_telemetry_zero_code-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: queue-telemetry-zero-code\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return tmp_path


def test_opentelemetry_instrument_applies_the_sqs_instrumentor(entry_points, moto_endpoint) -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = clean_environment(
        PYTHONPATH=os.pathsep.join([str(entry_points), src]),
        OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="zero-code", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="botocore",
        OTEL_PYTHON_CONFIGURATOR="the-application-configures-itself",
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
    )
    launcher = Path(sys.executable).with_name("opentelemetry-instrument")
    code = f"import runpy, sys; sys.argv = ['opentelemetry-instrument', {sys.executable!r}, '-c', {APP!r}, {moto_endpoint!r}]; runpy.run_path({str(launcher)!r}, run_name='__main__')"
    result = run_python(code, env=env, timeout=120)
    assert "CARRIED True" in result.stdout, result.stdout + result.stderr
    assert '"name": "send zero-code"' in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert '"name": "receive zero-code"' in result.stdout


UNTOUCHED_APP = """
import boto3, sys
client = boto3.client("sqs", endpoint_url=sys.argv[1])  # no telemetry code at all
url = client.create_queue(QueueName="untouched")["QueueUrl"]
client.send_message(QueueUrl=url, MessageBody="hello")
print("SENT")
"""


def test_opentelemetry_instrument_configures_the_sdk_through_the_library(
    entry_points, moto_endpoint, tmp_path
) -> None:
    """With no SDK set-up in the application, the library's configurator exports over OTLP."""
    from tests.support.otlp_sink import OtlpSink

    sink = OtlpSink().start()
    try:
        src = str(Path(__file__).resolve().parents[2] / "src")
        env = clean_environment(
            PYTHONPATH=os.pathsep.join([str(entry_points), src]),
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{sink.endpoint}", OTEL_EXPORTER_OTLP_INSECURE="true",
            OTEL_SERVICE_NAME="untouched", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="botocore",
            OTEL_PYTHON_CONFIGURATOR="queue_telemetry",
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
        )
        launcher = Path(sys.executable).with_name("opentelemetry-instrument")
        code = (f"import runpy, sys; sys.argv = ['opentelemetry-instrument', {sys.executable!r}, '-c', "
                f"{UNTOUCHED_APP!r}, {moto_endpoint!r}]; runpy.run_path({str(launcher)!r}, run_name='__main__')")
        result = run_python(code, env=env, timeout=120)
        assert "SENT" in result.stdout, result.stdout + result.stderr
        sink.wait_for(lambda current: any(s.name == "send untouched" for s in current.spans()), timeout=30)
        resource = sink.trace_requests[0].resource_spans[0].resource
        keys = {attribute.key for attribute in resource.attributes}
        assert "service.instance.id" in keys, "the span came through the library's configure()"
    finally:
        sink.stop()
