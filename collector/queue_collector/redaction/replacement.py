"""What a secret becomes: the mask text, or a keyed hash of the secret.

The HMAC key is read once, at construction, from a file or an environment variable named in the
config. It is kept only inside :class:`Replacement` (not in its repr) and never logged; errors
name where the key was looked for, never its content.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Mapping

from .config import ACTION_HASH, SECTION, RedactionConfig, RedactionConfigError

__all__ = ["Replacement", "load_hash_key", "MIN_KEY_BYTES"]

#: Shortest HMAC key accepted (bytes).
MIN_KEY_BYTES = 16


def load_hash_key(config: RedactionConfig, environ: Mapping[str, str]) -> bytes:
    """Reads the HMAC key named by ``config.hash``; raises RedactionConfigError naming the source."""
    settings = config.hash
    if settings.key_file:
        key_path = f"{SECTION}.hash.key_file"
        try:
            key = Path(settings.key_file).read_bytes().strip()
        except OSError as error:
            raise RedactionConfigError(
                key_path,
                settings.key_file,
                f"cannot read the HMAC key file {settings.key_file!r}: {error.strerror or error}",
            ) from None
        source = f"the file {settings.key_file!r}"
    else:
        key_path = f"{SECTION}.hash.key_env"
        if settings.key_env not in environ:
            raise RedactionConfigError(
                key_path,
                settings.key_env,
                f"the environment variable {settings.key_env!r} holding the HMAC key is not set",
            )
        key = environ[settings.key_env].strip().encode("utf-8")
        source = f"the environment variable {settings.key_env!r}"
    if len(key) < MIN_KEY_BYTES:
        raise RedactionConfigError(
            key_path,
            settings.key_file or settings.key_env,
            f"the HMAC key in {source} is {len(key)} bytes long; at least {MIN_KEY_BYTES} are required",
        )
    return key


class Replacement:
    """Turns a secret's text into its replacement. Thread-safe (no mutable state)."""

    __slots__ = ("action", "_mask", "_key", "_prefix", "_length")

    def __init__(self, config: RedactionConfig, environ: Mapping[str, str]) -> None:
        self.action = config.action
        self._mask = config.mask
        self._prefix = config.hash.prefix
        self._length = config.hash.length
        self._key = load_hash_key(config, environ) if config.action == ACTION_HASH else b""

    def __repr__(self) -> str:
        return f"Replacement(action={self.action!r})"

    def __call__(self, secret: str) -> str:
        if not self._key:
            return self._mask
        digest = hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return self._prefix + digest.hexdigest()[: self._length]
