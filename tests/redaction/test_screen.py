"""The raw-bytes screen: False for clean requests, never False when a rule could match."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest

from queue_collector.redaction import DetectorsConfig, RedactionConfig, RedactionStage
from queue_collector.redaction.screen import (
    ASCII_CASE_TWINS,
    Needle,
    hyperscan_available,
    required_needles,
)

from .redaction_testkit import log_request, trace_request

ENGINES = ["python"] + (["hyperscan"] if hyperscan_available() else [])

#: One string per detector that the detector replaces.
DETECTOR_EXAMPLES = {
    "servicebus_connection_string": "Endpoint=sb://a.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=abc123=",
    "servicebus_sas_token": "SharedAccessSignature sr=a&sig=abc%3D&se=1&skn=k",
    "aws_access_key_id": "ASIAY34FZKBOKMUTVV7A",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "bearer_token": "bearer abcdef",
    "jwt": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    "url_password": "amqps://user:pa55@host",
    "card_number": "378282246310005",
}

#: (config, attributes) pairs: each rule kind with a value it replaces.
RULE_EXAMPLES = {
    "blocked_key_patterns": (RedactionConfig(blocked_key_patterns=("^x-api-secret$",)), {"x-api-secret": "v"}),
    "blocked_key_patterns, nested": (
        RedactionConfig(blocked_key_patterns=("(?i)pin",)),
        {"card": {"PIN": 1234}},
    ),
    "blocked_values": (RedactionConfig(blocked_values=(r"ssn=\d{3}-\d{2}-\d{4}",)), {"m": "ssn=078-05-1120"}),
    "blocked_values, case-insensitive twin": (
        RedactionConfig(blocked_values=("(?i)kilo",)),
        {"m": "\u212ailo"},  # KELVIN SIGN matches k under Unicode (?i)
    ),
    "blocked_values in an array": (RedactionConfig(blocked_values=("secret-[0-9]+",)), {"m": ["a", "secret-42"]}),
    "sensitive key name": (RedactionConfig(), {"Connection-String": "Server=db;"}),
    "aws secret under its key": (
        RedactionConfig(),
        {"aws.secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
    ),
}


def _stage(config: RedactionConfig, engine: str) -> RedactionStage:
    return RedactionStage(replace(config, screen_engine=engine))


def realistic_clean_request():
    return trace_request(
        {
            "messaging.system": "servicebus",
            "messaging.destination.name": "orders",
            "messaging.operation.name": "process",
            "messaging.message.id": "msg-00042",
            "messaging.message.body.size": 1834,
            "server.address": "orders.servicebus.windows.net",
            "order.id": "ord-7731",
        },
        name="process orders",
        resource={"service.name": "orders", "host.name": "node-7", "service.version": "1.4.2"},
        events={"message.retry": {"retry.count": 1}},
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_realistic_clean_request_screens_false(engine: str) -> None:
    stage = _stage(RedactionConfig(blocked_values=("[A-Za-z0-9._%+-]+@example\\.com",)), engine)
    raw = realistic_clean_request().SerializeToString()
    assert stage.screen(raw) is False
    assert stage.audit_snapshot().skipped == 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("detector", sorted(DETECTOR_EXAMPLES))
def test_every_detector_example_screens_true_and_is_replaced(engine: str, detector: str) -> None:
    only = DetectorsConfig(**{name: name == detector for name in DETECTOR_EXAMPLES}, sensitive_key_names=False)
    stage = _stage(RedactionConfig(detectors=only), engine)
    for request in (trace_request({"plain": DETECTOR_EXAMPLES[detector]}), log_request(DETECTOR_EXAMPLES[detector])):
        raw = request.SerializeToString()
        assert stage.screen(raw), detector
    stage.process_traces(trace_request({"plain": DETECTOR_EXAMPLES[detector]}))
    assert sum(stage.audit_snapshot().values.values()) == 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(RULE_EXAMPLES))
def test_every_rule_kind_screens_true_and_replaces(engine: str, case: str) -> None:
    config, attributes = RULE_EXAMPLES[case]
    stage = _stage(config, engine)
    request = trace_request(attributes)
    assert stage.screen(request.SerializeToString()), case
    before = request.SerializeToString()
    stage.process_traces(request)
    assert request.SerializeToString() != before, case


@pytest.mark.parametrize("engine", ENGINES)
def test_screen_never_misses_what_the_walk_changes(engine: str) -> None:
    """Random strings built from rule fragments: whenever the walk changes a request, the
    screen said True (and with the per-item screen, the same for each span)."""
    config = RedactionConfig(
        blocked_key_patterns=("(?i)^pass(word)?$", "token\\b"),
        blocked_values=(r"(?i)\bsecret-[0-9]{2,}", r"[0-9]{3}-[0-9]{2}-[0-9]{4}", "(?i)kiss"),
        allowed_values=("(?i)^public",),
    )
    stage = _stage(config, engine)
    reference = _stage(config, engine)
    reference._item_screen = None  # walks every span: what the per-span screen must not change
    fragments = [
        "secret-", "SECRET-", "Secret-", "ſecret-", "kiss", "KISS", "\u212aiss", "ıss", "4111", "1111",
        " ", "-", "12", "078-05-1120", "Bearer ", "eyJ", "abc.", "AKIA", "ASIA", "ABCDEFGHIJKLMNOP",
        "://", "user", ":", "@", "host", "SharedAccessKey=", "x", "é", "public ", "0",
    ]
    keys = ["msg", "password", "PASS", "token", "my token", "tokens", "aws_secret", "note"]
    rng = random.Random(1234)
    changed = 0
    for _ in range(1500):
        text = "".join(rng.choice(fragments) for _ in range(rng.randrange(1, 10)))
        request = trace_request({rng.choice(keys): text})
        raw = request.SerializeToString()
        unscreened = trace_request({})
        unscreened.CopyFrom(request)
        reference.process_traces(unscreened)
        if unscreened.SerializeToString() != raw:
            changed += 1
            assert stage.screen(raw), text
        stage.process_traces(request)
        assert request == unscreened, text
    assert changed > 100  # the fragments do exercise the rules


def test_allow_list_mode_screens_true_always() -> None:
    stage = RedactionStage(RedactionConfig(allow_all_keys=False, allowed_keys=("a",)))
    assert stage.screen(realistic_clean_request().SerializeToString())


def test_pattern_without_literal_disables_the_screen(caplog) -> None:
    with caplog.at_level("WARNING"):
        stage = RedactionStage(RedactionConfig(blocked_values=(r"\d{9}",)))
    assert stage.screen(b"")
    assert "blocked_values[0]" in caplog.text


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("password", {Needle("password")}),
        ("^secret$", {Needle("secret")}),
        (r"\bfoo\b", {Needle("foo")}),
        ("(?i)Token", {Needle("Token", True, True)}),
        ("(?ai)token", {Needle("token", True, False)}),
        ("(?:ab|cd)ef+", {Needle("ab"), Needle("cd")}),
        ("abc|x", {Needle("abc"), Needle("x")}),
        ("a*", None),
        (r"[0-9]{13}", None),
        ("x(?:yz)?", {Needle("x")}),
        ("(?i)é-mail", {Needle("-mail", True, True)}),
    ],
)
def test_required_needles(pattern: str, expected) -> None:
    found = required_needles(pattern)
    assert (set(found) if found else None) == expected


def test_ascii_case_twins_table_is_complete() -> None:
    """Every non-ASCII character that Unicode (?i) matching equates with an ASCII letter."""
    letters = re.compile("(?i)[a-z]")
    found: dict[str, str] = {}
    for code in range(0x80, 0x110000):
        char = chr(code)
        if letters.match(char):
            letter = next(c for c in "abcdefghijklmnopqrstuvwxyz" if re.match(f"(?i){c}", char))
            found[letter] = found.get(letter, "") + char
    assert found == ASCII_CASE_TWINS


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed")
def test_engines_agree_on_random_bytes() -> None:
    config = RedactionConfig(blocked_values=("(?i)kiss", "abc"), blocked_key_patterns=("pin",))
    python, hyperscan = _stage(config, "python"), _stage(config, "hyperscan")
    rng = random.Random(5)
    alphabet = b"abcKISkis \xe2\x84\xaa0123456789-:/@AKIASeyJpin" + b"0123456789 - " * 3
    for _ in range(3000):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert python.screen(raw) == hyperscan.screen(raw), raw
