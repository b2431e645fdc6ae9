"""Channel secrets from environment variables or files, resolved once at start-up.

A missing variable or unreadable file is an error naming the variable or path (never the
value). Values are stripped of surrounding whitespace (files usually end with a newline).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

__all__ = ["SecretError", "resolve_secret"]


class SecretError(ValueError):
    """A secret could not be read; the message names where it was looked for."""


def resolve_secret(
    what: str, variable: str, path: str, environment: Mapping[str, str] | None = None
) -> str:
    """The value of ``variable`` (when set) or the content of ``path``; raises SecretError."""
    environment = os.environ if environment is None else environment
    if variable:
        value = environment.get(variable, "").strip()
        if not value:
            raise SecretError(f"{what}: environment variable {variable} is not set or empty")
        return value
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SecretError(f"{what}: cannot read {path}: {error.strerror or error}") from None
        if not value:
            raise SecretError(f"{what}: {path} is empty")
        return value
    return ""
