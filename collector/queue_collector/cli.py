"""The ``queue-collector`` command: run the receiver, or ``validate-config FILE``.

Exit codes: 0 clean shutdown or valid config; 1 invalid config (validate-config) or a start-up
failure such as a port in use; 2 bad command line or invalid configuration at start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

from queue_collector import environment_variables as variables
from queue_collector.config import ReceiverConfig, default_config, resolve_config
from queue_collector.config_loading import ConfigError, ConfigProblem, load_config_file

__all__ = ["main"]

_logger = logging.getLogger("queue_collector")

_VALIDATE_COMMAND = "validate-config"

_RUN_DESCRIPTION = """\
Run the queue-aware OTLP receiver: OTLP gRPC in (traces, metrics, logs), unified queue metrics
and health on the admin HTTP server, traces and logs out to an OTLP endpoint or a file.

Other command:
  queue-collector validate-config FILE   check a configuration file and name every problem
"""

_RUN_EPILOG = f"""\
precedence: flags > environment variables > configuration file > defaults.

environment variables:
  {variables.QUEUE_COLLECTOR_CONFIG:<34}--config
  {variables.QUEUE_COLLECTOR_OTLP_ENDPOINT:<34}--otlp-endpoint   (default 127.0.0.1:4317)
  {variables.QUEUE_COLLECTOR_ADMIN_ENDPOINT:<34}--admin-endpoint  (default 127.0.0.1:9464)
  {variables.QUEUE_COLLECTOR_TRACES_ENDPOINT:<34}--traces-endpoint (default: none, write the file)
  {variables.QUEUE_COLLECTOR_TRACES_FILE:<34}--traces-file     (default queue-collector-traces.jsonl)
  {variables.QUEUE_COLLECTOR_LOGS_ENDPOINT:<34}--logs-endpoint   (default: none, write the file)
  {variables.QUEUE_COLLECTOR_LOGS_FILE:<34}--logs-file       (default queue-collector-logs.jsonl)

On SIGTERM or Ctrl-C the receiver stops accepting requests, finishes those in flight, drains
its exporters (up to shutdown_timeout_seconds each) and exits 0.
"""

#: Which configuration key each flag sets.
_FLAG_KEYS = {
    "otlp_endpoint": "otlp.endpoint",
    "admin_endpoint": "admin.endpoint",
    "traces_endpoint": "exporters.traces.endpoint",
    "traces_file": "exporters.traces.file",
    "logs_endpoint": "exporters.logs.endpoint",
    "logs_file": "exporters.logs.file",
}


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queue-collector",
        description=_RUN_DESCRIPTION,
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML configuration file")
    parser.add_argument("--otlp-endpoint", metavar="HOST:PORT", help="OTLP gRPC listen address")
    parser.add_argument("--admin-endpoint", metavar="HOST:PORT", help="admin HTTP listen address")
    parser.add_argument(
        "--traces-endpoint", metavar="URL",
        help="forward traces over OTLP gRPC to URL (http://HOST:PORT, https://HOST:PORT or HOST:PORT)",
    )
    parser.add_argument("--traces-file", metavar="PATH", help="OTLP-JSON lines file for traces")
    parser.add_argument("--logs-endpoint", metavar="URL", help="forward logs over OTLP gRPC to URL")
    parser.add_argument("--logs-file", metavar="PATH", help="OTLP-JSON lines file for logs")
    return parser


def _validate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"queue-collector {_VALIDATE_COMMAND}",
        description="Check a queue-collector configuration file. Prints every problem with its "
        "key path and exits 1, or prints 'ok' and exits 0.",
    )
    parser.add_argument("file", metavar="FILE", help="YAML configuration file")
    return parser


def _file_problem(file: str) -> str | None:
    """Why the file exporter could not open ``file`` for appending, or None.

    Looks only: nothing is created. Mirrors the exporter, which appends to the file and does
    not create directories.
    """
    path = Path(file)
    if path.is_dir():
        return f"{file!r} is a directory; name a file"
    if path.exists():
        if not os.access(path, os.W_OK):
            return f"{file!r} is not writable"
        return None
    directory = path.parent
    if not directory.is_dir():
        return f"cannot create {file!r}: the directory {str(directory)!r} does not exist"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"cannot create {file!r}: the directory {str(directory)!r} is not writable"
    return None


def _deep_problems(config: ReceiverConfig, checked: Sequence[ConfigProblem] = ()) -> list[ConfigProblem]:
    """Problems only found when the components are built or the files looked at (unreadable
    rule files, a missing hash key, a trace file that cannot be created).

    ``checked`` are the problems already found; a section with one of them is not built, so
    no problem is reported twice, and nothing is built when the file as a whole is wrong.
    """
    from queue_collector.metric_mapping import MetricMappingStage
    from queue_collector.redaction import RedactionStage

    def has_problems(section: str) -> bool:
        return any(
            problem.path == section or problem.path.startswith((f"{section}.", f"{section}["))
            for problem in checked
        )

    if any(not problem.path for problem in checked):
        return []
    problems = []
    builders: tuple[tuple[str, Callable[[], object]], ...] = (
        ("redaction", lambda: RedactionStage(config.redaction)),
        ("metric_mapping", lambda: MetricMappingStage(config.metric_mapping)),
    )
    for section, build in builders:
        if has_problems(section):
            continue
        try:
            build()
        except (ValueError, OSError) as error:
            problems.append(ConfigProblem(section, str(error)))
    for name, exporter in (("traces", config.exporters.traces), ("logs", config.exporters.logs)):
        section = f"exporters.{name}"
        if exporter.endpoint or not exporter.file or has_problems(section):
            continue
        message = _file_problem(exporter.file)
        if message is not None:
            problems.append(ConfigProblem(f"{section}.file", message))
    return problems


def validate_config(path: str) -> int:
    """Prints every problem of the file (exit code 1) or ``ok`` (exit code 0).

    When the file has problems of its own, what could still be built from it is checked too,
    so one run names as many problems as it can.
    """
    try:
        config = load_config_file(ReceiverConfig, path, default_config())
        problems: list[ConfigProblem] = []
    except ConfigError as error:
        config = error.config
        problems = list(error.problems)
    if config is not None:
        problems.extend(_deep_problems(config, problems))
    for problem in problems:
        print(f"{path}: {problem}")
    if problems:
        return 1
    print("ok")
    return 0


def _configure_logging(level: int) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run(arguments: argparse.Namespace, environment: dict[str, str]) -> int:
    """Runs the receiver until SIGTERM or SIGINT; returns the exit code."""
    from queue_collector.app import ReceiverApp
    from queue_collector.endpoints import AddressBindError

    flag_values = {key: getattr(arguments, name) for name, key in _FLAG_KEYS.items()}
    try:
        config = resolve_config(flag_values, environment, arguments.config)
    except ConfigError as error:
        print(f"queue-collector: {error}", file=sys.stderr)
        return 2
    _configure_logging(config.python_log_level)

    try:
        app = ReceiverApp(config)
    except (ValueError, OSError) as error:
        print(f"queue-collector: {error}", file=sys.stderr)
        return 1
    stop_requested = threading.Event()

    def request_stop(signal_number: int, _frame: object) -> None:
        if stop_requested.is_set():
            _logger.warning("already stopping; send SIGKILL to exit without draining")
            return
        _logger.info("received %s", signal.Signals(signal_number).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        app.start()
    except AddressBindError as error:
        print(f"queue-collector: {error}", file=sys.stderr)
        return 1
    print("queue-collector is running; where to look:", flush=True)
    for line in app.describe():
        print(f"  {line}", flush=True)
    while not stop_requested.wait(3600):
        pass
    app.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``queue-collector`` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == _VALIDATE_COMMAND:
        parsed = _validate_parser().parse_args(arguments[1:])
        return validate_config(parsed.file)
    parsed = _run_parser().parse_args(arguments)
    return run(parsed, dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
