"""Standard OTEL_* variables the SDK rejects never stop the application.

Each case runs the whole life of a producer (import, configure(), one send, shutdown()) in a
fresh interpreter with one bad variable, exporting to a local sink; the cases run in parallel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .conftest import clean_environment, run_python

PRODUCER = """
    import logging
    logging.basicConfig(level=logging.WARNING)
    import queue_telemetry as qt

    handle = qt.configure("producer")
    client = qt.InstrumentedQueueClient(qt.InMemoryBroker().client())
    client.send("orders", qt.OutgoingMessage(b"1"))
    [message] = client.receive("orders")
    carried = "traceparent" in message.properties
    stats = qt.shutdown()
    print("OK", handle.tracer_provider is not None, handle.meter_provider is not None,
          handle.logger_provider is not None, carried, stats.spans.exported)
"""

#: (variable, bad value), one per variable. The first two broke ``import queue_telemetry``.
BAD_VALUES = [
    ("OTEL_PROPAGATORS", "b3"),
    ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "-1"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1"),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "abc"),
    ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
    ("OTEL_BSP_MAX_QUEUE_SIZE", "-1"),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100000"),
    ("OTEL_BSP_SCHEDULE_DELAY", "-1"),
    ("OTEL_BLRP_MAX_QUEUE_SIZE", "-1"),
    ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "abc"),
]


def _run_with(sink_endpoint: str, variable: str, value: str) -> tuple[str, str, object]:
    environment = clean_environment(
        OTEL_EXPORTER_OTLP_ENDPOINT=sink_endpoint,
        OTEL_EXPORTER_OTLP_TIMEOUT="1",  # the ENDPOINT case falls back to an unreachable default
    )
    environment[variable] = value
    return variable, value, run_python(PRODUCER, env=environment, timeout=60)


def test_bad_standard_variables_are_ignored_with_a_warning_naming_them(sink) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda case: _run_with(sink.endpoint, *case), BAD_VALUES))

    failures = []
    for variable, value, result in results:
        lines = result.stdout.split()
        if result.returncode != 0 or lines[:5] != ["OK", "True", "True", "True", "True"]:
            failures.append(f"{variable}={value!r}: rc={result.returncode} {result.stdout!r}\n{result.stderr}")
        elif not any(variable in line and "WARNING" in line for line in result.stderr.splitlines()):
            failures.append(f"{variable}={value!r}: no warning names it\n{result.stderr}")
        elif "Traceback" in result.stderr:
            failures.append(f"{variable}={value!r}: a traceback was printed\n{result.stderr}")
    assert not failures, "\n\n".join(failures)


def test_the_valid_variables_are_kept_when_another_is_ignored(sink) -> None:
    code = """
        import json
        import queue_telemetry as qt
        handle = qt.configure()
        stats = qt.shutdown()
        print(json.dumps({"queue": stats.span_queue_size, "exported": stats.spans.exported}))
    """
    result = run_python(code, env=clean_environment(
        OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,  # valid: still used after the fallback
        OTEL_EXPORTER_OTLP_TIMEOUT="abc",
        OTEL_BSP_MAX_QUEUE_SIZE="4096",
        OTEL_BSP_SCHEDULE_DELAY="-1",
    ))
    assert result.returncode == 0, result.stderr
    assert '"queue": 4096' in result.stdout
    assert "OTEL_EXPORTER_OTLP_TIMEOUT" in result.stderr and "OTEL_BSP_SCHEDULE_DELAY" in result.stderr
    assert "OTEL_BSP_MAX_QUEUE_SIZE" not in result.stderr


def test_a_signal_that_cannot_be_set_up_is_disabled_with_a_warning(sink) -> None:
    code = """
        import queue_telemetry as qt
        from opentelemetry.sdk.trace import export

        class Broken(export.BatchSpanProcessor):
            def __init__(self, *args, **kwargs):
                raise ValueError("cannot start")

        import queue_telemetry.configuration as configuration
        configuration.BatchSpanProcessor = Broken
        handle = qt.configure()
        client = qt.InstrumentedQueueClient(qt.InMemoryBroker().client())
        client.send("orders", qt.OutgoingMessage(b"1"))
        print(handle.enabled, handle.tracer_provider is None, handle.meter_provider is not None)
        qt.shutdown()
    """
    result = run_python(code, env=clean_environment(OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True"]
    assert "traces are disabled" in result.stderr


def test_an_invalid_explicit_interval_still_raises() -> None:
    code = """
        import queue_telemetry as qt
        for interval in (0, -1.5, float("nan")):
            try:
                qt.configure(metric_export_interval_seconds=interval)
            except ValueError as error:
                print("raised", "metric_export_interval_seconds" in str(error))
    """
    result = run_python(code, env=clean_environment())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["raised True"] * 3
