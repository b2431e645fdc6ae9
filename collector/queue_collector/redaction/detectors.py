"""The built-in secret detectors.

Each detector is a regex plus, where the regex alone is too eager, a check on the match (the
Luhn check for card numbers) or on the key the value sits under (AWS secret keys). Every
detector also names a *probe*: text or a bytes regex that its matches always contain, so the
raw-bytes screen can rule it out (see ``screen.py``). All regexes use ``(?a)``: ASCII classes and
ASCII-only case folding, so the screen's ASCII lowering covers their case-insensitive literals.

Masking replaces the named group ``secret`` when the regex has one (the key of a connection
string, the password of a URL), otherwise the whole match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .config import DetectorsConfig
from .screen import Probe, card_number_candidates, needle_probes, required_needles

__all__ = ["Detector", "build_detectors", "luhn_valid", "card_number_valid"]

_SENSITIVE_KEY_WORDS = (
    r"password|passwd|secret|api[_.-]?key|access[_.-]?token|auth[_.-]?token|refresh[_.-]?token"
    r"|session[_.-]?token|authorization|credential|private[_.-]?key|connection[_.-]?string"
)


def _sensitive_key_needles() -> list[str]:
    """Text every key ``_SENSITIVE_KEY_WORDS`` matches contains one of (lower case): each
    spelling with "[_.-]?" expanded, the token words folded into "token", "passw" for both
    password spellings (fewer needles make the Python screen faster)."""
    needles = ["token", "passw"]
    for word in _SENSITIVE_KEY_WORDS.split("|"):
        head, _, tail = word.partition("[_.-]?")
        if tail == "token" or head.startswith("passw"):
            continue
        if tail:
            needles.extend(head + joint + tail for joint in ("", "_", ".", "-"))
        else:
            needles.append(head)
    return needles


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment card numbers."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_number_valid(digits: str) -> bool:
    """Whether ``digits`` could be a payment card number: an issuer range with its lengths
    (Visa, Mastercard, American Express, Discover, JCB, Diners, UnionPay, Maestro) and Luhn."""
    length = len(digits)
    if not 13 <= length <= 19:
        return False
    first, two, four = digits[0], int(digits[:2]), int(digits[:4])
    if first == "4":
        issuer = length in (13, 16, 19)
    elif first == "5":
        issuer = length == 16 if 51 <= two <= 55 else True  # others: Maestro, 13..19
    elif first == "2":
        issuer = 2221 <= four <= 2720 and length == 16
    elif first == "3":
        if two in (34, 37):
            issuer = length == 15
        elif two in (30, 36, 38, 39):
            issuer = length >= 14
        else:
            issuer = 3528 <= four <= 3589 and length >= 16
    else:
        issuer = first == "6"  # Discover, UnionPay, Maestro
    return issuer and luhn_valid(digits)


def _could_hold_card_number(raw: bytes) -> bool:
    return card_number_candidates(raw, card_number_valid)


def _card_check(matched: str) -> bool:
    return card_number_valid(matched.replace(" ", "").replace("-", ""))


@dataclass(frozen=True)
class Detector:
    """One built-in rule.

    ``kind`` is ``"value"`` (search ``regex`` in any string value), ``"key"`` (a key matching
    ``key_regex`` has its whole value replaced) or ``"key_value"`` (a string value that fully
    matches ``regex`` under a key matching ``key_regex`` is replaced whole).
    """

    name: str
    kind: str
    regex: "re.Pattern[str] | None"
    key_regex: "re.Pattern[str] | None" = None
    #: Accepts or rejects a match found by ``regex`` (the text of the whole match).
    check: Callable[[str], bool] | None = None
    #: A cheaper regex every match also matches, tried on each string before ``regex``.
    quick: "re.Pattern[str] | None" = None
    #: Raw-bytes probes (see ``screen.py``).
    probes: tuple[Probe, ...] = ()


def _derived_probes(name: str, pattern: "re.Pattern[str]") -> tuple[Probe, ...]:
    needles = required_needles(pattern.pattern)
    if not needles:  # a detector without a probe would disable the screen: a bug, fail loudly
        raise AssertionError(f"detector {name}: no required literal in {pattern.pattern!r}")
    return tuple(needle_probes(name, needles))


def _value(name: str, pattern: str, **extra: object) -> Detector:
    regex = re.compile(pattern)
    probes = extra.pop("probes", None) or _derived_probes(name, regex)
    return Detector(name, "value", regex, probes=probes, **extra)  # type: ignore[arg-type]


def build_detectors(config: DetectorsConfig) -> list[Detector]:
    """The enabled detectors, in the order they are applied (key detectors before value ones)."""
    detectors: list[Detector] = []
    if config.sensitive_key_names:
        key_regex = re.compile(rf"(?ai){_SENSITIVE_KEY_WORDS}")
        detectors.append(
            Detector(
                "sensitive_key_names",
                "key",
                None,
                key_regex=key_regex,
                probes=tuple(
                    Probe("sensitive_key_names", lowered=word.encode())
                    for word in _sensitive_key_needles()
                ),
            )
        )
    if config.aws_secret_access_key:
        # The key names the value: "aws.secret_access_key", "AWS_SECRET", "secretAccessKey".
        key_regex = re.compile(r"(?ai)secret(?=.*(?:access|aws))|aws.*secret")
        detectors.append(
            Detector(
                "aws_secret_access_key",
                "key_value",
                re.compile(r"(?a)[A-Za-z0-9/+=]{40}"),
                key_regex=key_regex,
                probes=tuple(needle_probes("aws_secret_access_key", required_needles("(?ai)secret") or ())),
            )
        )
        # Inside text: aws_secret_access_key=..., "SecretAccessKey": "...".
        detectors.append(
            _value(
                "aws_secret_access_key",
                r"(?ai)secret[_.-]?access[_.-]?key[\"']?\s*[:=]\s*[\"']?"
                r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
            )
        )
    if config.servicebus_connection_string:
        detectors.append(
            _value(
                "servicebus_connection_string",
                r"(?ai)(?<![a-z])sharedaccesskey\s*=\s*(?P<secret>[^;\"'\s]+)",
            )
        )
    if config.servicebus_sas_token:
        detectors.append(
            _value(
                "servicebus_sas_token",
                r"(?ai)sharedaccesssignature\s+(?:[^\s\"';]*?&)?sig=(?P<secret>[^&\s\"';]+)",
            )
        )
    if config.aws_access_key_id:
        detectors.append(
            _value(
                "aws_access_key_id",
                r"(?a)(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])",
                probes=(Probe("aws_access_key_id", literal=b"AKIA"), Probe("aws_access_key_id", literal=b"ASIA")),
            )
        )
    if config.bearer_token:
        detectors.append(
            _value("bearer_token", r"(?ai)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]+=*)")
        )
    if config.jwt:
        detectors.append(
            _value(
                "jwt",
                r"(?a)(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
            )
        )
    if config.url_password:
        # The bytes probe is the same shape with "*" quantifiers: any str match is a bytes match
        # (the excluded characters are ASCII, so multi-byte UTF-8 passes both the same way).
        detectors.append(
            _value(
                "url_password",
                r"(?a)[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^/\s:@\x00-\x1f]*:(?P<secret>[^/\s@\x00-\x1f]+)@",
                quick=re.compile("://"),
                probes=(
                    Probe(
                        "url_password",
                        regex=re.compile(rb"://[^/\s:@\x00-\x1f]*:[^/\s@\x00-\x1f]*@"),
                    ),
                ),
            )
        )
    if config.card_number:
        detectors.append(
            _value(
                "card_number",
                # Not inside a longer word (hex ids, "v2-…"): only digits, spaces and dashes around.
                r"(?a)(?<![0-9A-Za-z])(?:[0-9]{13,19}"
                r"|[0-9]{4}(?P<separator>[ \-])[0-9]{4}(?P=separator)[0-9]{4}(?P=separator)[0-9]{1,7}"
                r"|[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4,5})(?![0-9A-Za-z])",
                check=_card_check,
                quick=re.compile(r"[0-9][0-9 \-]{12}"),
                # Grouped forms anywhere, or contiguous runs that could be a valid card.
                probes=(Probe("card_number", check=_could_hold_card_number),),
            )
        )
    return detectors
