"""Configuration of the redaction stage (the ``redaction:`` section of the receiver config).

Only simple field types, so the receiver's generic YAML loader builds it from a partial section.
:meth:`RedactionConfig.validation_problems` reports everything that can be checked without the
environment (regexes, ranges, combinations); the HMAC key itself is read when the stage is
constructed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

__all__ = [
    "DetectorsConfig",
    "HashConfig",
    "RedactionConfig",
    "RedactionConfigError",
    "default_config",
    "ACTION_MASK",
    "ACTION_HASH",
]

#: Replace a secret with :attr:`RedactionConfig.mask`.
ACTION_MASK = "mask"
#: Replace a secret with a keyed hash (HMAC-SHA256), so equal secrets stay correlatable.
ACTION_HASH = "hash"

_ACTIONS = (ACTION_MASK, ACTION_HASH)
_ENGINES = ("auto", "hyperscan", "python")
_DEFAULT_MASK = "****"
_DEFAULT_HASH_PREFIX = "hmac:"
_DEFAULT_HASH_LENGTH = 16
_MIN_HASH_LENGTH = 8
_MAX_HASH_LENGTH = 64
_DEFAULT_MAX_DEPTH = 32
#: Protobuf's decoder refuses messages nested deeper than 100 levels; a deeper cap means nothing.
_MAX_MAX_DEPTH = 100

#: The section name, used to build the key paths in error messages.
SECTION = "redaction"


class RedactionConfigError(ValueError):
    """The redaction configuration is invalid.

    ``key`` is the full key path (``redaction.blocked_values[2]``) and ``value`` the offending
    value (never the HMAC key: for a bad key only its source is named).
    """

    def __init__(self, key: str, value: object, problem: str) -> None:
        self.key = key
        self.value = value
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class DetectorsConfig:
    """Built-in secret detectors, each on by default and switchable on its own."""

    #: ``SharedAccessKey=…`` in Azure Service Bus / Event Hubs connection strings: only the key
    #: value is replaced, the endpoint and key name stay readable (default = ``true``).
    servicebus_connection_string: bool = True
    #: The ``sig=…`` part of ``SharedAccessSignature sr=…&sig=…`` SAS tokens (default = ``true``).
    servicebus_sas_token: bool = True
    #: AWS access key ids: ``AKIA``/``ASIA`` followed by 16 upper-case letters or digits
    #: (default = ``true``).
    aws_access_key_id: bool = True
    #: AWS secret access keys: 40 base64 characters, only where a key name says so (the value of
    #: an attribute whose key mentions "secret" and "aws"/"access", or text such as
    #: ``aws_secret_access_key=…``), so arbitrary 40-character hashes stay (default = ``true``).
    aws_secret_access_key: bool = True
    #: The token after ``Bearer `` (default = ``true``).
    bearer_token: bool = True
    #: JSON Web Tokens: three base64url segments, the first starting ``eyJ`` (default = ``true``).
    jwt: bool = True
    #: The password in ``scheme://user:password@host`` (only the password) (default = ``true``).
    url_password: bool = True
    #: Payment card numbers: 13-19 digits, optionally grouped by spaces or dashes, in a known
    #: issuer range and length that pass the Luhn check (so most order ids are kept)
    #: (default = ``true``).
    card_number: bool = True
    #: The whole value of keys whose name contains password, passwd, secret, api_key/apikey,
    #: access_token, auth_token, refresh_token, session_token, authorization, credential,
    #: private_key or connection_string (case-insensitive) (default = ``true``).
    sensitive_key_names: bool = True


@dataclass(frozen=True)
class HashConfig:
    """The keyed hash used when ``action: hash``. The key is never written in the config."""

    #: Path of a file holding the HMAC key (surrounding whitespace stripped; at least 16 bytes).
    #: Exactly one of ``key_file`` and ``key_env`` is required with ``action: hash``
    #: (default = ``""``).
    key_file: str = ""
    #: Name of an environment variable holding the HMAC key (at least 16 bytes)
    #: (default = ``""``).
    key_env: str = ""
    #: Text put before the hex digest, so readers see a value was hashed (default = ``"hmac:"``).
    prefix: str = _DEFAULT_HASH_PREFIX
    #: Hex characters of the HMAC-SHA256 digest kept, 8..64 (default = ``16``).
    length: int = _DEFAULT_HASH_LENGTH


@dataclass(frozen=True)
class RedactionConfig:
    """Settings of the redaction stage. Every field has a default (see README.md)."""

    #: Turns the stage off entirely; nothing is screened, walked or counted (default = ``true``).
    enabled: bool = True
    #: What happens to a secret: ``mask`` (replace with ``mask``) or ``hash`` (replace with
    #: ``hash.prefix`` + a truncated HMAC-SHA256 hex digest) (default = ``"mask"``).
    action: str = ACTION_MASK
    #: The replacement text for masked secrets; must not be empty (default = ``"****"``).
    mask: str = _DEFAULT_MASK
    #: When false, only the top-level attribute keys listed in ``allowed_keys`` (and
    #: ``ignored_keys``) survive; an empty list then drops every attribute (default = ``true``).
    allow_all_keys: bool = True
    #: Attribute keys that survive when ``allow_all_keys`` is false (exact names). Setting it
    #: while ``allow_all_keys`` is true is an error, so a list never silently has no effect
    #: (default = ``[]``).
    allowed_keys: tuple[str, ...] = ()
    #: Keys or dotted paths never touched by any rule: a top-level attribute key
    #: (``messaging.message.id``), a path into a map-valued attribute (``http.request.user``),
    #: or a path into a log body starting ``body.`` (``body.user.id``) (default = ``[]``).
    ignored_keys: tuple[str, ...] = ()
    #: Regexes searched in keys at every level (attribute keys and keys inside map values and
    #: log bodies); the whole value of a matching key is replaced, nested values included
    #: (default = ``[]``).
    blocked_key_patterns: tuple[str, ...] = ()
    #: Regexes searched in string values (attribute values, log bodies, span, event and status
    #: texts); only the matching part is replaced (default = ``[]``).
    blocked_values: tuple[str, ...] = ()
    #: Regexes searched in string values; a value matching any of them is exempt from
    #: ``blocked_values`` (the detectors still apply; switch a detector off to silence it)
    #: (default = ``[]``).
    allowed_values: tuple[str, ...] = ()
    #: Also match value rules and detectors against the text of int, double, bool and bytes
    #: values (a hit turns the value into a string). The raw-bytes screen cannot see numbers,
    #: so every request is walked while this is on (default = ``false``).
    match_non_string_values: bool = False
    #: Add ``redaction.masked.count`` / ``redaction.dropped.count`` to each span and log record
    #: that had values replaced or attributes dropped; never added to metric points
    #: (default = ``false``).
    summary_attribute: bool = False
    #: How the raw-bytes screen searches: ``auto`` (Hyperscan when the optional ``hyperscan``
    #: package is installed, else Python), ``hyperscan`` (required: an error when missing) or
    #: ``python``. The answers are the same; only the speed differs (default = ``"auto"``).
    screen_engine: str = "auto"
    #: Nesting depth of maps and arrays walked, 1..100; a deeper value is replaced whole when
    #: the screen says it could hold a match (fail closed) (default = ``32``).
    max_depth: int = _DEFAULT_MAX_DEPTH
    #: Built-in detectors (default = all on).
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    #: The keyed hash used with ``action: hash``.
    hash: HashConfig = field(default_factory=HashConfig)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        """``(key, message)`` for every problem; keys are relative to the ``redaction`` section."""
        if self.action not in _ACTIONS:
            yield "action", f"expected one of {', '.join(map(repr, _ACTIONS))}, got {self.action!r}"
        if not self.mask:
            yield "mask", "must not be empty"
        if self.allow_all_keys and self.allowed_keys:
            yield (
                "allowed_keys",
                "has no effect while allow_all_keys is true; set allow_all_keys: false to "
                f"enforce it (got {list(self.allowed_keys)!r})",
            )
        for index, key in enumerate(self.allowed_keys):
            if not key:
                yield f"allowed_keys[{index}]", "must not be empty"
        for index, key in enumerate(self.ignored_keys):
            if not key or key.startswith(".") or key.endswith(".") or key == "body":
                yield f"ignored_keys[{index}]", f"expected a key or dotted path, got {key!r}"
        for name in ("blocked_key_patterns", "blocked_values", "allowed_values"):
            for index, pattern in enumerate(getattr(self, name)):
                problem = regex_problem(pattern)
                if problem is not None:
                    yield f"{name}[{index}]", problem
        if self.screen_engine not in _ENGINES:
            yield (
                "screen_engine",
                f"expected one of {', '.join(map(repr, _ENGINES))}, got {self.screen_engine!r}",
            )
        if not 1 <= self.max_depth <= _MAX_MAX_DEPTH:
            yield "max_depth", f"expected 1..{_MAX_MAX_DEPTH}, got {self.max_depth!r}"
        if not _MIN_HASH_LENGTH <= self.hash.length <= _MAX_HASH_LENGTH:
            yield (
                "hash.length",
                f"expected {_MIN_HASH_LENGTH}..{_MAX_HASH_LENGTH}, got {self.hash.length!r}",
            )
        if self.action == ACTION_HASH:
            if bool(self.hash.key_file) == bool(self.hash.key_env):
                yield (
                    "hash",
                    "action 'hash' needs exactly one of key_file and key_env, got "
                    f"key_file={self.hash.key_file!r}, key_env={self.hash.key_env!r}",
                )


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid regex (quoting it), or None."""
    try:
        re.compile(pattern)
    except re.error as error:
        return f"invalid regular expression {pattern!r}: {error}"
    return None


def first_problem(config: RedactionConfig) -> RedactionConfigError | None:
    """The first validation problem as an exception naming the full key path, or None."""
    for key, message in config.validation_problems():
        value: object = config
        for part in key.replace("[", ".[").split("."):
            if part.startswith("["):
                value = value[int(part[1:-1])]  # type: ignore[index]
            elif part:
                value = getattr(value, part)
        return RedactionConfigError(f"{SECTION}.{key}", value, message)
    return None


def default_config() -> RedactionConfig:
    """The configuration used when the receiver config has no ``redaction:`` section."""
    return RedactionConfig()
