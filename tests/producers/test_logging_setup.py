"""Structured logging: OTLP bridge with trace ids, JSON console and files, redaction at the source."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from queue_telemetry.logging_setup import REDACTED, configure_logging


def test_records_are_redacted_and_carry_trace_ids(log_exporter, tmp_path) -> None:
    provider, exporter = log_exporter
    logger = logging.getLogger("test.structured")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    console = io.StringIO()
    setup = configure_logging(
        logger=logger, logger_provider=provider, json_console=True, console_stream=console,
        file_path=str(tmp_path / "app.jsonl"), max_bytes=10_000, backups=2, sensitive_fields=["password", "token"],
    )
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("t")
    try:
        with tracer.start_as_current_span("work") as span:
            logger.info("login user=%s password=%s", "ann", "hunter2", extra={"api_token": "abc", "queue": "q"})
    finally:
        setup.remove()
    line = json.loads(console.getvalue().strip())
    assert "hunter2" not in console.getvalue() and line["api_token"] == REDACTED and line["queue"] == "q"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    on_disk = (tmp_path / "app.jsonl").read_text()
    assert "hunter2" not in on_disk and "abc" not in on_disk
    (record,) = [getattr(item, "log_record", item) for item in exporter.get_finished_logs()]
    assert "hunter2" not in str(record.body)
    assert record.attributes["api_token"] == REDACTED
    assert record.trace_id == span.get_span_context().trace_id


def test_files_rotate_by_size(tmp_path) -> None:
    logger = logging.getLogger("test.rotation")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    setup = configure_logging(logger=logger, logger_provider=None, json_console=False,
                              file_path=str(tmp_path / "r.jsonl"), max_bytes=300, backups=2)
    try:
        for index in range(20):
            logger.info("message number %d", index)
    finally:
        setup.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
