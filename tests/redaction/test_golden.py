"""Golden files: tests/testdata/redaction-<scenario>/{config.yaml, input.json, expected.json}.

Set REGENERATE_GOLDEN=1 to rewrite expected.json from the current behaviour; the run then
fails on purpose, so the switch is never left on. Review the diff before committing.
"""

from __future__ import annotations

import json

import pytest

from .redaction_testkit import REGENERATE, TESTDATA, run_scenario

SCENARIOS = sorted(path for path in TESTDATA.glob("redaction-*") if path.is_dir())
#: The HMAC key of the hashing scenario (test data, not a secret).
GOLDEN_ENVIRON = {"REDACTION_GOLDEN_HMAC_KEY": "golden-file-hmac-key-0123456789"}


def test_there_are_scenarios() -> None:
    assert {path.name for path in SCENARIOS} >= {
        "redaction-every-signal",
        "redaction-detectors",
        "redaction-allow-list",
        "redaction-hashing",
    }


@pytest.mark.parametrize("directory", SCENARIOS, ids=lambda path: path.name)
def test_golden(directory) -> None:
    actual = run_scenario(directory, GOLDEN_ENVIRON)
    expected_path = directory / "expected.json"
    if REGENERATE:
        expected_path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        pytest.fail(f"regenerated {expected_path}; unset REGENERATE_GOLDEN and review the diff")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert actual == expected
