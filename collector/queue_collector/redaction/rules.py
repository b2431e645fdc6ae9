"""The compiled rule set: user patterns and detectors, ready to test keys and strings.

Built once at construction (every regex compiled there); afterwards read-only apart from a
bounded per-key decision cache, whose concurrent use is safe (a lost insert only costs a
recomputation). The order rules are tried in, and so which rule an audit count names, is:
``blocked_key_patterns`` then key detectors for keys; ``blocked_values`` then value detectors
for strings (overlapping matches: the earlier-starting, then earlier rule wins).
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Sequence

from .config import RedactionConfig
from .detectors import Detector, build_detectors
from .screen import ASCII_CASE_TWINS, Needle, Probe, RawScreen, needle_probes, required_needles

__all__ = ["RuleSet", "ValueRule", "KeyDecision"]

_log = logging.getLogger(__name__)

#: Distinct keys whose decision is remembered; the cache is cleared when it grows past this.
_KEY_CACHE_SIZE = 4096

#: (label of the key rule replacing the whole value or None, key-context detectors that apply)
KeyDecision = tuple["str | None", tuple[Detector, ...]]
_NO_DECISION: KeyDecision = (None, ())


def _quick_needles(needles: frozenset[Needle] | None) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """Needles usable as a plain ``in`` test on a str: (case-sensitive, lowered) or None."""
    if not needles:
        return None
    exact: list[str] = []
    lowered: list[str] = []
    for needle in needles:
        if not needle.ignore_case:
            exact.append(needle.text)
        elif needle.unicode_case and any(c in ASCII_CASE_TWINS for c in needle.text.lower()):
            return None  # str.lower() does not fold every twin (ı): run the regex itself
        else:
            lowered.append(needle.text.lower())
    return tuple(exact), tuple(lowered)


def _gate_parts(needles: frozenset[Needle] | None) -> tuple[list[str], list[str]] | None:
    """(regex sources searched in the text, lower-case needles looked for in ``text.lower()``)."""
    if not needles:
        return None
    sources: list[str] = []
    lowered: list[str] = []
    for needle in sorted(needles, key=lambda n: n.text):
        if not needle.ignore_case:
            sources.append(re.escape(needle.text))
        elif needle.unicode_case and any(c in ASCII_CASE_TWINS for c in needle.text.lower()):
            sources.append(f"(?i:{re.escape(needle.text)})")  # what the rule itself does
        else:
            lowered.append(needle.text.lower())
    return sources, lowered


class ValueRule:
    """A regex searched in string values; the match (or its ``secret`` group) is replaced."""

    __slots__ = ("label", "regex", "group", "check", "quick", "exact", "lowered", "blocked", "gate")

    def __init__(
        self,
        label: str,
        regex: "re.Pattern[str]",
        *,
        check=None,
        quick: "re.Pattern[str] | None" = None,
        needles: frozenset[Needle] | None = None,
        blocked: bool = False,
    ) -> None:
        self.label = label
        self.regex = regex
        self.group = "secret" if "secret" in regex.groupindex else 0
        self.check = check
        self.quick = quick
        found = _quick_needles(needles) if quick is None else None
        self.exact, self.lowered = found if found is not None else ((), ())
        #: What every match contains, for the combined gate (None: no gate possible).
        self.gate = ([quick.pattern], []) if quick is not None else _gate_parts(needles)
        #: A user ``blocked_values`` rule: values matching ``allowed_values`` are exempt.
        self.blocked = blocked

    def could_match(self, text: str, lowered: list) -> bool:
        """A cheap superset test; ``lowered`` caches ``text.lower()`` across rules."""
        if self.quick is not None:
            return self.quick.search(text) is not None
        if not (self.exact or self.lowered):
            return True
        for needle in self.exact:
            if needle in text:
                return True
        if self.lowered:
            if not lowered:
                lowered.append(text.lower())
            for needle in self.lowered:
                if needle in lowered[0]:
                    return True
        return False


class RuleSet:
    """Every rule of one configuration, and the raw-bytes screens derived from them."""

    def __init__(self, config: RedactionConfig) -> None:
        detectors = build_detectors(config.detectors)
        probes: list[Probe] = []
        unscreenable: list[str] = []

        self._key_regexes: list[tuple[str, re.Pattern[str]]] = []
        for index, pattern in enumerate(config.blocked_key_patterns):
            label = f"blocked_key_patterns[{index}]"
            self._key_regexes.append((label, re.compile(pattern)))
            probes.extend(self._pattern_probes(label, pattern, unscreenable))
        self._key_value_detectors: list[Detector] = []
        for detector in detectors:
            if detector.kind == "key":
                self._key_regexes.append((detector.name, detector.key_regex))  # type: ignore[arg-type]
            elif detector.kind == "key_value":
                self._key_value_detectors.append(detector)
            probes.extend(detector.probes)

        rules: list[ValueRule] = []
        for index, pattern in enumerate(config.blocked_values):
            label = f"blocked_values[{index}]"
            needles = required_needles(pattern)
            rules.append(ValueRule(label, re.compile(pattern), needles=needles, blocked=True))
            probes.extend(self._pattern_probes(label, pattern, unscreenable, needles))
        for detector in detectors:
            if detector.kind == "value":
                rules.append(
                    ValueRule(
                        detector.name,
                        detector.regex,  # type: ignore[arg-type]
                        check=detector.check,
                        quick=detector.quick,
                        needles=None if detector.quick else required_needles(detector.regex.pattern),  # type: ignore[union-attr]
                    )
                )
        self.value_rules: tuple[ValueRule, ...] = tuple(rules)
        gates = [rule.gate for rule in rules]
        #: Checked on each string before any per-rule work: one regex search plus ``in`` tests
        #: on the lowered text (``_gated`` is False when some rule offers no gate).
        self._gated = bool(rules) and all(gate is not None for gate in gates)
        sources = [source for gate in gates if gate for source in gate[0]]
        self._gate_regex = re.compile("|".join(f"(?:{s})" for s in sources)) if sources else None
        self._gate_lowered = tuple(
            dict.fromkeys(needle for gate in gates if gate for needle in gate[1])
        )
        self._allowed = tuple(re.compile(pattern) for pattern in config.allowed_values)
        self._key_cache: dict[str, KeyDecision] = {}

        #: Patterns from which no required literal could be read (they defeat the screen).
        self.unscreenable = tuple(unscreenable)
        #: Answers "could any rule match a string in these bytes?"; never a false negative.
        self.content_screen = RawScreen(
            probes,
            always=bool(unscreenable) or config.match_non_string_values,
            engine=config.screen_engine,
        )

    @staticmethod
    def _pattern_probes(
        label: str,
        pattern: str,
        unscreenable: list[str],
        needles: frozenset[Needle] | None = None,
    ) -> Iterable[Probe]:
        needles = needles if needles is not None else required_needles(pattern)
        if not needles:
            unscreenable.append(label)
            return ()
        return needle_probes(label, needles)

    def key_decision(self, key: str) -> KeyDecision:
        """What the key rules say about ``key`` (cached)."""
        decision = self._key_cache.get(key)
        if decision is not None:
            return decision
        label = None
        for rule_label, regex in self._key_regexes:
            if regex.search(key) is not None:
                label = rule_label
                break
        context = tuple(d for d in self._key_value_detectors if d.key_regex.search(key))  # type: ignore[union-attr]
        decision = (label, context) if label is not None or context else _NO_DECISION
        if len(self._key_cache) >= _KEY_CACHE_SIZE:
            self._key_cache.clear()
        self._key_cache[key] = decision
        return decision

    def _gate_passes(self, text: str) -> bool:
        if self._gate_regex is not None and self._gate_regex.search(text) is not None:
            return True
        if self._gate_lowered:
            lowered = text.lower()
            for needle in self._gate_lowered:
                if needle in lowered:
                    return True
        return False

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping ``(start, end, rule label)`` spans to replace in ``text``, in order."""
        if self._gated and not self._gate_passes(text):
            return []
        hits: list[tuple[int, int, str]] = []
        lowered: list[str] = []
        exempt: bool | None = None
        for rule in self.value_rules:
            if not rule.could_match(text, lowered):
                continue
            for match in rule.regex.finditer(text):
                if rule.check is not None and not rule.check(match.group()):
                    continue
                if rule.blocked:
                    if exempt is None:
                        exempt = any(allowed.search(text) for allowed in self._allowed)
                    if exempt:
                        break
                start, end = match.span(rule.group)
                if end > start:
                    hits.append((start, end, rule.label))
        if len(hits) > 1:
            hits.sort(key=lambda hit: hit[0])  # stable: at equal starts the earlier rule wins
            kept = [hits[0]]
            for hit in hits[1:]:
                last = kept[-1]
                if hit[0] >= last[1]:
                    kept.append(hit)
                elif hit[1] > last[1]:
                    # Overlapping hits are masked as one span covering both, so no part of the
                    # later secret stays readable; it is counted under the first rule.
                    kept[-1] = (last[0], hit[1], last[2])
            hits = kept
        return hits

    def describe(self) -> Sequence[str]:
        """Rule labels in order, for the start-up log line (never values or keys)."""
        return [label for label, _ in self._key_regexes] + [
            detector.name for detector in self._key_value_detectors
        ] + [rule.label for rule in self.value_rules]
