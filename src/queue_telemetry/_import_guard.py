"""Importing the OpenTelemetry modules that read standard variables while they load.

``opentelemetry.propagate`` builds the global propagator from ``OTEL_PROPAGATORS`` when it is
first imported, and ``opentelemetry.sdk.trace`` reads ``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``; both
raise on a value they cannot use (``OTEL_PROPAGATORS=b3`` without the B3 package,
``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=-1``), which would make ``import queue_telemetry`` fail.

:func:`import_sdk_modules` runs first when the package is imported. When one of these imports
fails while its variable is set, the module is imported again with the variable hidden, the
variable is restored at once, and a warning names it and the value. The module then keeps
its defaults for the rest of the process: the W3C ``tracecontext`` and ``baggage``
propagators, the SDK's default limit. A failure with the variable unset is not ours to
handle and propagates.

Threading: it runs at import time, under the interpreter's import lock; while a module is
imported again, the variable is absent from :data:`os.environ` for other threads too.
"""

from __future__ import annotations

import importlib
import logging
import os

from opentelemetry.environment_variables import OTEL_PROPAGATORS
from opentelemetry.sdk.environment_variables import OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT

_logger = logging.getLogger(__name__)

#: (module, the variable it reads while loading, what applies when the variable is ignored).
_READ_WHILE_LOADING = (
    ("opentelemetry.propagate", OTEL_PROPAGATORS, "the W3C tracecontext and baggage propagators"),
    ("opentelemetry.sdk.trace", OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, "the SDK's default limit"),
)


def import_sdk_modules() -> None:
    """Import the modules of :data:`_READ_WHILE_LOADING`, ignoring their variable if it breaks them."""
    for module, variable, fallback in _READ_WHILE_LOADING:
        _import_ignoring_on_failure(module, variable, fallback)


def _import_ignoring_on_failure(module: str, variable: str, fallback: str) -> None:
    try:
        importlib.import_module(module)
        return
    except Exception as error:  # noqa: BLE001 - a propagator entry point may raise anything
        if variable not in os.environ:
            raise
        failure = error
    raw = os.environ.pop(variable)
    try:
        importlib.import_module(module)
    finally:
        os.environ[variable] = raw
    _logger.warning(
        "Invalid value %r for %s (%s: %s); ignoring it: using %s.",
        raw, variable, type(failure).__name__, failure, fallback,
    )
