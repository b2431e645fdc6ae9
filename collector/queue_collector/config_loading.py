"""Loads YAML into frozen configuration dataclasses, driven by their type hints.

Every stage's configuration (including ``metric_mapping``'s) is loaded by the same code, so
every stage reports problems the same way: each problem names the full key path and the bad
value, for example ``exporters.traces.max_queue_requests: expected an integer, got 'ten'``, and
all problems in a file are reported together rather than one per attempt.

Supported field types: ``bool`` (only YAML ``true``/``false``), ``int`` (not bool), ``float``
(ints accepted; NaN and infinities refused), ``str``, ``X | None``, ``tuple[X, ...]``,
``Mapping[str, X]`` / ``dict[str, X]``, ``Literal[...]``, ``enum.Enum`` subclasses (by value),
and nested dataclasses. Keys missing from the file keep the value of the ``base``
configuration (normally ``default_config()``).

A dataclass may define ``validation_problems(self)`` yielding ``(key, message)`` pairs for
checks that involve several fields or ranges; ``key`` is relative to that dataclass (empty for
the dataclass itself). The loader calls it after the types are right and prefixes the path.

Pure functions; nothing here touches the network. :func:`load_config_file` reads one file.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import types
import typing
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar, Union

import yaml

__all__ = [
    "ConfigProblem",
    "ConfigError",
    "load_dataclass",
    "load_config_file",
    "apply_overrides",
    "validation_problems",
]

ConfigT = TypeVar("ConfigT")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration: where (dotted key path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ValueError):
    """A configuration has problems; ``problems`` lists every one of them.

    ``config`` is what could be built despite them (each bad value left at its base value),
    for best-effort further checks; None when the file could not be read or parsed.
    """

    def __init__(
        self, problems: Iterable[ConfigProblem], source: str = "", config: Any = None
    ) -> None:
        self.problems = tuple(problems)
        self.source = source
        self.config = config
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s){where}:\n{lines}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: object) -> str:
    if isinstance(value, AbcMapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _convert(value: Any, hint: Any, base: Any, path: str, problems: list[ConfigProblem]) -> Any:
    """Converts one YAML value to ``hint``; on error appends problems and returns ``base``."""
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)

    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if value is None:  # an empty section ("health:") keeps every default
            return base if base is not None else hint()
        return _load(hint, value, base if base is not None else hint(), path, problems)

    if origin in (Union, types.UnionType):
        members = [member for member in arguments if member is not type(None)]
        if value is None:
            if type(None) in arguments:
                return None
            problems.append(ConfigProblem(path, "expected a value, got null"))
            return base
        if len(members) == 1:
            return _convert(value, members[0], base, path, problems)
        for member in members:
            attempt: list[ConfigProblem] = []
            converted = _convert(value, member, None, path, attempt)
            if not attempt:
                return converted
        names = " or ".join(getattr(member, "__name__", str(member)) for member in members)
        problems.append(ConfigProblem(path, f"expected {names}, got {_describe(value)}"))
        return base

    if origin is typing.Literal:
        if value in arguments:
            return value
        allowed = ", ".join(repr(item) for item in arguments)
        problems.append(ConfigProblem(path, f"expected one of {allowed}, got {_describe(value)}"))
        return base

    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(repr(member.value) for member in hint)
            problems.append(
                ConfigProblem(path, f"expected one of {allowed}, got {_describe(value)}")
            )
            return base

    if origin is tuple or hint is tuple:
        if not isinstance(value, list):
            problems.append(ConfigProblem(path, f"expected a list, got {_describe(value)}"))
            return base
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            item_hint = arguments[0]
            before = len(problems)
            items = tuple(
                _convert(item, item_hint, None, f"{path}[{index}]", problems)
                for index, item in enumerate(value)
            )
            return base if len(problems) > before else items
        if arguments and len(arguments) != len(value):
            problems.append(
                ConfigProblem(path, f"expected a list of {len(arguments)} items, got {len(value)}")
            )
            return base
        before = len(problems)
        items = tuple(
            _convert(item, item_hint, None, f"{path}[{index}]", problems)
            for index, (item, item_hint) in enumerate(zip(value, arguments or [Any] * len(value)))
        )
        return base if len(problems) > before else items

    if origin in (dict, AbcMapping) or hint in (dict, Mapping):
        if not isinstance(value, AbcMapping):
            problems.append(ConfigProblem(path, f"expected a mapping, got {_describe(value)}"))
            return base
        key_hint, value_hint = arguments if arguments else (str, Any)
        before = len(problems)
        result = {}
        for key, item in value.items():
            converted_key = _convert(key, key_hint, None, f"{path}.{key}", problems)
            result[converted_key] = _convert(item, value_hint, None, f"{path}.{key}", problems)
        return base if len(problems) > before else result

    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        problems.append(ConfigProblem(path, f"expected true or false, got {_describe(value)}"))
        return base
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problems.append(ConfigProblem(path, f"expected an integer, got {_describe(value)}"))
        return base
    if hint is float:
        return _convert_float(value, base, path, problems)
    if hint is str:
        if isinstance(value, str):
            return value
        problems.append(ConfigProblem(path, f"expected a string, got {_describe(value)}"))
        return base
    raise TypeError(f"{path}: the configuration loader does not support the type {hint!r}")


def _convert_float(value: Any, base: Any, path: str, problems: list[ConfigProblem]) -> Any:
    """A finite float from a YAML int or float; NaN and infinities are refused, because every
    float setting is a duration, ratio or limit that they would silently disable or break."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.append(ConfigProblem(path, f"expected a number, got {_describe(value)}"))
        return base
    if isinstance(value, str):
        # YAML 1.1 reads 1e308 (no dot, unsigned exponent) as a string: say how to write it.
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and math.isfinite(number):
            message = f"expected a number, got the string {value!r} (write {_yaml_float(number)})"
        elif number is not None:
            message = f"expected a finite number, got the string {value!r}"
        else:
            message = f"expected a number, got {value!r}"
        problems.append(ConfigProblem(path, message))
        return base
    try:
        number = float(value)
    except OverflowError:  # an integer literal with hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        shown = "an integer too large for a float" if isinstance(value, int) else _YAML_NON_FINITE[str(number)]
        problems.append(ConfigProblem(path, f"expected a finite number, got {shown}"))
        return base
    return number


#: How YAML spells the non-finite floats, for messages.
_YAML_NON_FINITE = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}


def _yaml_float(number: float) -> str:
    """``number`` as YAML 1.1 reads a float: a dot in the mantissa, a sign on the exponent."""
    text = repr(number)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent[0] not in "+-":
        exponent = "+" + exponent
    return f"{mantissa}e{exponent}"


def _load(
    cls: type[ConfigT], data: Any, base: ConfigT, path: str, problems: list[ConfigProblem]
) -> ConfigT:
    if not isinstance(data, AbcMapping):
        where = path or "the configuration"
        problems.append(ConfigProblem(path, f"expected a mapping for {where}, got {_describe(data)}"))
        return base
    hints = typing.get_type_hints(cls)
    fields = {item.name: item for item in dataclasses.fields(cls) if item.init}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in data.items():
        key_path = _join(path, str(key))
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint_text = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(fields))
            problems.append(ConfigProblem(key_path, f"unknown key{hint_text} (known keys: {known})"))
            continue
        current = getattr(base, key)
        changes[key] = _convert(value, hints[key], current, key_path, problems)
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]


def validation_problems(config: Any, path: str = "") -> list[ConfigProblem]:
    """Runs every ``validation_problems()`` method in the dataclass tree under ``config``,
    including dataclasses held in mappings (``dict[str, X]``, path ``key.NAME``) and tuples
    (``tuple[X, ...]``, path ``key[INDEX]``)."""
    problems: list[ConfigProblem] = []
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return problems
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        key_path = _join(path, item.name)
        if isinstance(value, AbcMapping):
            for key, entry in value.items():
                problems.extend(validation_problems(entry, f"{key_path}.{key}"))
        elif isinstance(value, tuple):
            for index, entry in enumerate(value):
                problems.extend(validation_problems(entry, f"{key_path}[{index}]"))
        else:
            problems.extend(validation_problems(value, key_path))
    checker = getattr(config, "validation_problems", None)
    if callable(checker):
        for key, message in checker():
            problems.append(ConfigProblem(_join(path, key), message))
    return problems


def load_dataclass(
    cls: type[ConfigT],
    data: Any,
    base: ConfigT | None = None,
    path: str = "",
    validate: bool = True,
) -> ConfigT:
    """Builds ``cls`` from parsed YAML ``data`` on top of ``base`` (default: ``cls()``).

    Raises :class:`ConfigError` listing every type problem and (unless ``validate`` is false,
    for callers that apply overrides first) every validation problem. ``data`` of None (an
    empty file) yields ``base`` unchanged.
    """
    problems: list[ConfigProblem] = []
    start = base if base is not None else cls()
    config = start if data is None else _load(cls, data, start, path, problems)
    # Values with the wrong type fell back to ``base``, so the remaining checks still run and
    # every problem is reported at once.
    if validate:
        problems.extend(validation_problems(config, path))
    if problems:
        raise ConfigError(problems, config=config)
    return config


def load_config_file(
    cls: type[ConfigT], file_path: str | Path, base: ConfigT | None = None, validate: bool = True
) -> ConfigT:
    """Reads and loads one YAML file; raises :class:`ConfigError` naming the file.

    Unreadable files and YAML syntax errors are reported as ConfigError too, so callers have a
    single error type to handle.
    """
    source = str(file_path)
    try:
        raw = Path(file_path).read_bytes()
    except OSError as error:
        raise ConfigError([ConfigProblem("", f"cannot read {source}: {error.strerror or error}")], source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        message = (
            f"not valid UTF-8: byte 0x{raw[error.start]:02x} at byte offset {error.start} "
            f"(line {line}); save the file as UTF-8"
        )
        raise ConfigError([ConfigProblem("", message)], source) from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as error:  # ValueError: an integer of over 4300 digits
        raise ConfigError([ConfigProblem("", f"not valid YAML: {error}")], source) from None
    try:
        return load_dataclass(cls, data, base, validate=validate)
    except ConfigError as error:
        raise ConfigError(error.problems, source, error.config) from None


def apply_overrides(config: ConfigT, overrides: Mapping[str, Any]) -> ConfigT:
    """Returns ``config`` with dotted keys replaced (``{"otlp.endpoint": "0.0.0.0:4317"}``).

    Used for flags and environment variables, which beat the file. Values are taken as they are
    (they must already have the field's type); unknown paths raise KeyError naming them.
    """
    result = config
    for dotted, value in overrides.items():
        result = _replace_path(result, dotted.split("."), value, dotted)
    return result


def _replace_path(config: Any, keys: list[str], value: Any, dotted: str) -> Any:
    names = {item.name for item in dataclasses.fields(config)}
    head = keys[0]
    if head not in names:
        raise KeyError(f"no configuration key {dotted!r}")
    if len(keys) == 1:
        return dataclasses.replace(config, **{head: value})
    return dataclasses.replace(config, **{head: _replace_path(getattr(config, head), keys[1:], value, dotted)})
