"""Time in tests: a clock the test sets by hand, and polling until a condition holds."""

from __future__ import annotations

import time
from typing import Callable

import pytest


class FakeClock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(condition: Callable[[], object], timeout: float = 10.0, message: str = "condition") -> object:
    """Polls ``condition`` until it returns something truthy; fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        time.sleep(0.02)
