"""Reading settings with the documented precedence: argument, environment variable, default.

All functions read :data:`os.environ` at call time; none of them raise on a bad value. A bad
value logs a warning naming the variable and the default that applies instead.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, TypeVar

_logger = logging.getLogger(__name__)

T = TypeVar("T")


def resolve(explicit: T | None, variable: str, default: T, parse: Callable[[str, str, T], T]) -> T:
    """``explicit`` when given, else the parsed environment variable when set, else ``default``."""
    if explicit is not None:
        return explicit
    raw = os.environ.get(variable)
    if raw is None or raw.strip() == "":
        return default
    return parse(variable, raw, default)


def parse_bool(variable: str, raw: str, default: bool) -> bool:
    """Strict boolean: ``true`` or ``false`` (case-insensitive); anything else warns."""
    value = raw.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    _logger.warning(
        "Invalid value %r for %s: expected 'true' or 'false'; using %s.", raw, variable,
        str(default).lower(),
    )
    return default


def parse_log_level(variable: str, raw: str, default: int) -> int:
    """A :mod:`logging` level name (``INFO``) or number (``20``)."""
    value = raw.strip()
    if value.isdigit():
        return int(value)
    level = logging.getLevelName(value.upper())
    if isinstance(level, int):
        return level
    _logger.warning(
        "Invalid value %r for %s: expected a logging level name; using %s.", raw, variable,
        logging.getLevelName(default),
    )
    return default


def read_bool(variable: str, default: bool) -> bool:
    """The strict boolean value of ``variable``, or ``default`` when unset or invalid."""
    return resolve(None, variable, default, parse_bool)
