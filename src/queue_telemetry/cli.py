"""The ``queue-telemetry`` command.

``queue-telemetry demo [--duration SECONDS] [--rate MSGS_PER_S] [--summary-file PATH]`` runs
:func:`queue_telemetry.demo.run_demo`, exporting to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default
``http://localhost:4317``), and prints the summary JSON on stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from queue_telemetry.demo import DEFAULT_SERVICE_NAME, DemoSettings, run_demo

__all__ = ["main", "build_parser"]

_DEFAULTS = DemoSettings()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queue-telemetry",
        description="Tools of the queue_telemetry producer library.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="run a realistic workload over instrumented in-memory queues",
        description=(
            "Run producers and consumers over three instrumented in-memory queues (orders with "
            "failures, rejections and dead-lettering; payments with sessions; notifications "
            "with batches), export traces, metrics and logs over OTLP/gRPC to "
            "OTEL_EXPORTER_OTLP_ENDPOINT, and print the workload's own per-queue counts as JSON. "
            f"The service is named {DEFAULT_SERVICE_NAME!r} unless OTEL_SERVICE_NAME says otherwise."
        ),
    )
    demo.add_argument(
        "--duration", type=_non_negative_float, default=_DEFAULTS.duration_seconds, metavar="SECONDS",
        help=f"how long producers send (default: {_DEFAULTS.duration_seconds:g})",
    )
    demo.add_argument(
        "--rate", type=_positive_float, default=_DEFAULTS.rate, metavar="MSGS_PER_S",
        help=f"messages per second over all queues (default: {_DEFAULTS.rate:g})",
    )
    demo.add_argument(
        "--summary-file", type=Path, default=None, metavar="PATH",
        help="also write the summary JSON to PATH (default: stdout only)",
    )
    demo.add_argument(
        "--drain-timeout", type=_non_negative_float, default=_DEFAULTS.drain_timeout_seconds,
        metavar="SECONDS",
        help="longest wait for consumers to settle everything after producers stop "
        f"(default: {_DEFAULTS.drain_timeout_seconds:g})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    arguments = build_parser().parse_args(argv)
    # Warnings and errors on stderr; stdout carries only the summary JSON. The library's INFO
    # records are exported as telemetry, not printed.
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(console)
    if arguments.command == "demo":
        settings = DemoSettings(
            duration_seconds=arguments.duration,
            rate=arguments.rate,
            summary_file=arguments.summary_file,
            drain_timeout_seconds=arguments.drain_timeout,
        )
        summary = run_demo(settings)
        settled = all(
            counts["acknowledged"] + counts["dead_lettered"] == counts["sent"]
            for counts in summary["queues"].values()
        )
        return 0 if settled else 1
    return 2


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
