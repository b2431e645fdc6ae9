"""The raw-bytes screen: could any rule match anything in this serialized request?

Protobuf carries every string (keys, values, names, bodies) verbatim as UTF-8, so a rule that
matches some string in the decoded request also finds its *required text* in the raw bytes.
The screen therefore looks only for required text, never runs the rules themselves:

- a user regex contributes the literal strings one of which every match must contain
  (:func:`required_needles`, read from the regex's parse tree); a regex with no such literal
  makes the screen answer True for every request (it cannot be screened);
- a built-in detector contributes its own hand-written probe (see ``detectors.py``).

The answer may be a false positive (text found outside a string, or a string the full rule then
rejects), never a false negative. Case-insensitive needles are compared on ASCII-lowered bytes;
the four non-ASCII characters that Python's Unicode ``(?i)`` matching equates with ASCII letters
(``İ ı`` ~ i, ``ſ`` ~ s, ``K`` (Kelvin) ~ k) are handled with a small bytes regex.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

try:  # Python 3.11+
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
    from re import _parser as _sre_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parser  # type: ignore[no-redef]

__all__ = [
    "Needle",
    "Probe",
    "RawScreen",
    "ENGINES",
    "required_needles",
    "needle_probes",
    "hyperscan_available",
    "ASCII_CASE_TWINS",
]

#: Non-ASCII characters that Python's Unicode case-insensitive matching treats as equal to an
#: ASCII letter (checked against every code point by the tests).
ASCII_CASE_TWINS: dict[str, str] = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}

_LITERAL = _sre_constants.LITERAL
_SUBPATTERN = _sre_constants.SUBPATTERN
_BRANCH = _sre_constants.BRANCH
_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT}
_REPEATS.update(
    getattr(_sre_constants, name) for name in ("POSSESSIVE_REPEAT",) if hasattr(_sre_constants, name)
)
_ATOMIC_GROUP = getattr(_sre_constants, "ATOMIC_GROUP", None)
_IGNORECASE = _sre_constants.SRE_FLAG_IGNORECASE
_ASCII = _sre_constants.SRE_FLAG_ASCII


@dataclass(frozen=True)
class Needle:
    """A literal every match of some rule contains; ``twins`` when Unicode case folding applies."""

    text: str
    ignore_case: bool = False
    #: Case-insensitive under Unicode rules (not ``(?a)``): the ASCII twins also match.
    unicode_case: bool = False

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


def required_needles(pattern: str) -> frozenset[Needle] | None:
    """Literals one of which every match of ``pattern`` contains, or None when none can be named.

    Reads the parse tree: runs of literal characters, alternations (one needle per branch) and
    repeats of at least one. Anchors, classes, lookarounds and back references contribute
    nothing. Of the candidates in a sequence the one with the longest shortest needle wins.
    """
    parsed = _sre_parser.parse(pattern)
    return _sequence(list(parsed), parsed.state.flags)


def _sequence(items: Sequence[tuple[object, object]], flags: int) -> frozenset[Needle] | None:
    candidates: list[frozenset[Needle]] = []
    run: list[str] = []
    run_flags = [flags]

    def flush() -> None:
        if run:
            ignore_case = bool(run_flags[0] & _IGNORECASE)
            unicode_case = ignore_case and not run_flags[0] & _ASCII
            candidates.append(frozenset((Needle("".join(run), ignore_case, unicode_case),)))
            run.clear()

    for op, argument in items:
        if op is _LITERAL:
            char = chr(argument)  # type: ignore[arg-type]
            if flags & _IGNORECASE and not char.isascii():
                flush()  # non-ASCII case folding is not modelled: no needle from this character
                continue
            if run and run_flags[0] != flags:
                flush()
            run_flags[0] = flags
            run.append(char)
            continue
        flush()
        found: frozenset[Needle] | None = None
        if op is _SUBPATTERN:
            _group, add_flags, del_flags, sub = argument  # type: ignore[misc]
            found = _sequence(list(sub), (flags | add_flags) & ~del_flags)
        elif _ATOMIC_GROUP is not None and op is _ATOMIC_GROUP:
            found = _sequence(list(argument), flags)  # type: ignore[arg-type]
        elif op in _REPEATS:
            minimum, _maximum, sub = argument  # type: ignore[misc]
            if minimum >= 1:
                found = _sequence(list(sub), flags)
        elif op is _BRANCH:
            _unused, branches = argument  # type: ignore[misc]
            union: set[Needle] = set()
            for branch in branches:
                needles = _sequence(list(branch), flags)
                if needles is None:
                    union.clear()
                    break
                union.update(needles)
            found = frozenset(union) if union else None
        if found:
            candidates.append(found)
    flush()
    if not candidates:
        return None
    return max(candidates, key=lambda needles: (min(n.size for n in needles), -len(needles)))


class Probe:
    """One check on the raw bytes; True means "a rule may match somewhere in this request".

    Exactly one of: ``literal`` (bytes present as they are), ``lowered`` (present after ASCII
    lowering), ``regex`` (a bytes regex finds something), ``digits`` (a run of at least this
    many ASCII digits once spaces and dashes are removed) or ``check`` (a function of the raw
    bytes, run in Python after the other probes; it must never answer False where a rule could
    match).
    """

    __slots__ = ("literal", "lowered", "regex", "digits", "check", "label")

    def __init__(
        self,
        label: str,
        *,
        literal: bytes | None = None,
        lowered: bytes | None = None,
        regex: "re.Pattern[bytes] | None" = None,
        digits: int | None = None,
        check: "Callable[[bytes], bool] | None" = None,
    ) -> None:
        self.label = label
        self.literal = literal
        self.lowered = lowered
        self.regex = regex
        self.digits = digits
        self.check = check


def _escape(data: bytes) -> bytes:
    """``data`` as a regex matching exactly those bytes, for both ``re`` and Hyperscan."""
    return b"".join(
        bytes((byte,)) if chr(byte).isalnum() and byte < 0x80 else b"\\x%02x" % byte
        for byte in data
    )


def needle_probes(label: str, needles: Iterable[Needle]) -> list[Probe]:
    """Probes finding any of ``needles`` in raw UTF-8 bytes."""
    probes = []
    for needle in needles:
        encoded = needle.text.encode("utf-8")
        if not needle.ignore_case:
            probes.append(Probe(label, literal=encoded))
        elif needle.unicode_case and any(c in ASCII_CASE_TWINS for c in needle.text.lower()):
            parts = []
            for char in needle.text:
                if not char.isalpha():
                    parts.append(_escape(char.encode("utf-8")))
                    continue
                options = [char.lower().encode(), char.upper().encode()]
                options.extend(twin.encode("utf-8") for twin in ASCII_CASE_TWINS.get(char.lower(), ""))
                parts.append(b"(?:" + b"|".join(_escape(option) for option in options) + b")")
            probes.append(Probe(label, regex=re.compile(b"".join(parts))))
        else:
            probes.append(Probe(label, lowered=encoded.lower()))
    return probes


def _shortest_covering(needles: Iterable[bytes]) -> tuple[bytes, ...]:
    """Drops every needle that contains another one: finding the shorter one already says yes."""
    unique = sorted(set(needles), key=len)
    kept: list[bytes] = []
    for needle in unique:
        if not any(shorter in needle for shorter in kept):
            kept.append(needle)
    return tuple(kept)


#: Maps every ASCII digit to "0" (and every other byte to itself); spaces and dashes are deleted.
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0000000000")


def _stop_scan(*_arguments: object) -> bool:
    return True  # the first hit answers the question: stop Hyperscan (it raises ScanTerminated)


class _HyperscanEngine:
    """Every probe in one Hyperscan database: one pass over the bytes, whatever the probe count.

    Hyperscan scratch space must not be shared between threads, so each thread gets its own.
    """

    def __init__(self, probes: Sequence[Probe]) -> None:
        import hyperscan

        self._hyperscan = hyperscan
        expressions: list[bytes] = []
        flags: list[int] = []
        for probe in probes:
            if probe.check is not None:
                continue  # run in Python by RawScreen
            flag = hyperscan.HS_FLAG_SINGLEMATCH
            if probe.literal is not None:
                expressions.append(_escape(probe.literal))
            elif probe.lowered is not None:
                expressions.append(_escape(probe.lowered))
                flag |= hyperscan.HS_FLAG_CASELESS
            elif probe.regex is not None:
                expressions.append(probe.regex.pattern)
                flag |= hyperscan.HS_FLAG_DOTALL
            else:
                # The same question as the Python engine: N digits once spaces and dashes are gone.
                expressions.append(b"[0-9](?:[ \\-]*[0-9]){%d}" % (probe.digits - 1))  # type: ignore[operator]
            flags.append(flag)
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._database.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=flags,
        )
        self._local = threading.local()

    def __call__(self, raw: bytes) -> bool:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hyperscan.Scratch(self._database)
        try:
            self._database.scan(raw, match_event_handler=_stop_scan, scratch=scratch)
        except self._hyperscan.ScanTerminated:
            return True
        return False


def hyperscan_available() -> bool:
    """Whether the optional ``hyperscan`` package can be imported."""
    try:
        importlib.import_module("hyperscan")
    except ImportError:
        return False
    return True


#: Screen engines: ``auto`` uses Hyperscan when installed, else plain Python byte searches.
ENGINES = ("auto", "hyperscan", "python")


class RawScreen:
    """All probes of a rule set. Stateless (per-thread scratch aside) and thread-safe.

    With the ``python`` engine each probe is one C-level search (``in``, ``bytes.lower``,
    ``bytes.translate``, a compiled regex); with ``hyperscan`` all of them run in one pass.
    """

    def __init__(self, probes: Iterable[Probe], *, always: bool = False, engine: str = "python") -> None:
        probes = list(probes)
        self.always = always
        self._literals = _shortest_covering(p.literal for p in probes if p.literal is not None)
        self._lowered = _shortest_covering(p.lowered for p in probes if p.lowered is not None)
        self._regexes = tuple(p.regex for p in probes if p.regex is not None)
        digits = [p.digits for p in probes if p.digits is not None]
        self._digit_run = b"0" * min(digits) if digits else None
        self._checks = tuple(p.check for p in probes if p.check is not None)
        self.labels = tuple(dict.fromkeys(p.label for p in probes))
        self._hyperscan: _HyperscanEngine | None = None
        if engine == "hyperscan" or (engine == "auto" and hyperscan_available()):
            if not always and any(p.check is None for p in probes):
                self._hyperscan = _HyperscanEngine(probes)
        self.engine = "hyperscan" if self._hyperscan is not None else "python"

    @property
    def empty(self) -> bool:
        return not (self._literals or self._lowered or self._regexes or self._digit_run or self._checks)

    def __call__(self, raw: bytes) -> bool:
        if self.always:
            return True
        if self._hyperscan is not None:
            return self._hyperscan(raw) or any(check(raw) for check in self._checks)
        for literal in self._literals:
            if literal in raw:
                return True
        if self._lowered:
            lowered = raw.lower()
            for literal in self._lowered:
                if literal in lowered:
                    return True
        if self._digit_run is not None:
            if self._digit_run in raw.translate(_DIGITS_TO_ZERO, b" -"):
                return True
        for regex in self._regexes:
            if regex.search(raw) is not None:
                return True
        return any(check(raw) for check in self._checks)


# --- payment card numbers ----------------------------------------------------------------------

#: Maps every byte to its shape: ASCII digits to "0", space and dash to themselves, anything
#: else to "x". Card-number shapes are then plain substrings, found at memory-search speed.
_SHAPE_TABLE = bytes(
    0x30 if 0x30 <= byte <= 0x39 else byte if byte in (0x20, 0x2D) else 0x78 for byte in range(256)
)
#: The detector's grouped forms as shapes, without their word boundaries: 4-4-4 digits with one
#: repeated separator (then 1-7 more digits), or 4-6 digits with any separators (then 4-5 more).
_GROUPED_SHAPES = (
    (b"0000 0000 0000 0", 12, range(1, 8)),
    (b"0000-0000-0000-0", 12, range(1, 8)),
    (b"0000 000000 0", 10, range(4, 6)),
    (b"0000 000000-0", 10, range(4, 6)),
    (b"0000-000000 0", 10, range(4, 6)),
    (b"0000-000000-0", 10, range(4, 6)),
)
_THIRTEEN_DIGITS = b"0" * 13


def _is_ascii_letter(byte: int) -> bool:
    return 65 <= byte <= 90 or 97 <= byte <= 122


def card_number_candidates(raw: bytes, is_card_number: Callable[[str], bool]) -> bool:
    """Whether ``raw`` (a serialized OTLP message) may hold a card number the detector masks.

    The detector masks 13-19 digits (or the grouped forms) with no letter or digit directly
    around them in the string. Protobuf frames each string with a tag and a length byte before
    it and the next field's tag after it, so a contiguous card number shows in the raw bytes as a
    maximal run of digits that is the card itself, or the card with one digit-valued length byte
    before it (at most two for safety) and any digit-valued bytes after it. Two consequences let
    most runs be ruled out without walking anything:

    * a run with an ASCII letter directly on both sides cannot hold a maskable card: both
      letters would have to come from outside the string (else the card touches a letter), which
      means the string is only the card, whose length byte (13-19) is not a letter;
    * otherwise the card is one of the run's prefixes of 13-19 digits starting at offset 0, 1 or
      2, and ``is_card_number`` (issuer ranges and Luhn) must accept it.

    Grouped forms (``4111 1111 1111 1111``) start exactly where their shape starts; their digits
    must pass the same check for some allowed length of the last group.

    Random hexadecimal or UUID message ids, whose digit runs sit between letters or fail the
    issuer and Luhn checks, are thereby told apart from card numbers at C speed.
    """
    shape = raw.translate(_SHAPE_TABLE)
    size = len(raw)
    for grouped, head_digits, tail_lengths in _GROUPED_SHAPES:
        start = shape.find(grouped)
        while start != -1:
            # The shape starts exactly where a card would (its groups are exactly 4 digits); the
            # tail may run on into digit-valued framing bytes, so every allowed length is tried.
            tail_start = start + len(grouped) - 1
            tail_end = tail_start
            while tail_end < size and shape[tail_end] == 0x30 and tail_end - tail_start < 7:
                tail_end += 1
            head = bytes(byte for byte in raw[start:tail_start] if 0x30 <= byte <= 0x39).decode("ascii")
            tail = raw[tail_start:tail_end].decode("ascii")
            if len(head) == head_digits and any(
                is_card_number(head + tail[:length]) for length in tail_lengths if length <= len(tail)
            ):
                return True
            start = shape.find(grouped, start + 1)
    size = len(raw)
    start = shape.find(_THIRTEEN_DIGITS)
    while start != -1:
        end = start + 13
        while end < size and shape[end] == 0x30:
            end += 1
        if not (0 < start and end < size and _is_ascii_letter(raw[start - 1]) and _is_ascii_letter(raw[end])):
            run = raw[start:end].decode("ascii")
            for offset in (0, 1, 2):
                for length in range(13, 20):
                    if offset + length > len(run):
                        break
                    if is_card_number(run[offset:offset + length]):
                        return True
        start = shape.find(_THIRTEEN_DIGITS, end)
    return False
