"""Rule-based lab-value extraction from the text of a lab report (the offline analyser).

Each line that starts with a known test name (lab_catalogue.json: common tests, their
LOINC codes, units, adult reference ranges and critical limits) and then a number is
read as one result: value, unit, and the reference range printed on the line. The flag
compares the value with the printed range, or the catalogue's when none is printed and
the units agree; critical limits come from the catalogue.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Optional

_NUMBER = r"\d+(?:[.,]\d+)*"
# After the name: separators, a parenthesis or up to three qualifier words ("fasting"), the value.
_VALUE = re.compile(rf"^[\s:=\-,]*(?:\(.*?\)[\s:=\-,]*)?(?:[A-Za-z]+[,.]?\s+){{0,3}}?(?P<cmp>[<>]=?|≤|≥)?\s*(?P<value>{_NUMBER})(?![\d/])\s*(?P<rest>.*)$")
_RANGE = re.compile(rf"(?P<low>{_NUMBER})\s*(?:-|–|to)\s*(?P<high>{_NUMBER})")
_UPPER = re.compile(rf"(?:<|≤|<=|up to)\s*(?P<high>{_NUMBER})", re.I)
_LOWER = re.compile(rf"(?:>|≥|>=)\s*(?P<low>{_NUMBER})")
_FLAG_WORDS = {"h", "l", "hh", "ll", "high", "low", "normal", "n", "a", "abnormal", "*", "!", "critical"}
_NOISE = re.compile(r"\b(?:ref(?:erence)?(?: range| interval)?|normal(?: range)?|range)\b[:.]?|[()\[\]]", re.I)


@lru_cache(maxsize=1)
def catalogue() -> dict:
    return json.loads((Path(__file__).parent / "lab_catalogue.json").read_text())


@lru_cache(maxsize=1)
def _aliases() -> list[tuple[re.Pattern, dict]]:
    pairs = [(alias, test) for test in catalogue()["tests"] for alias in test["aliases"]]
    pairs.sort(key=lambda pair: -len(pair[0]))  # "hemoglobin a1c" before "hemoglobin"
    return [(re.compile(rf"^\s*[-*•]?\s*{re.escape(alias)}(?![a-z0-9])", re.I), test) for alias, test in pairs]


def _number(text: str) -> float:
    if re.fullmatch(r"\d{1,3}(,\d{3})+", text):  # thousands separators: 150,000
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))


def _unit_key(unit: Optional[str]) -> str:
    return re.sub(r"[\s x^*e]", "", (unit or "").lower().replace("µ", "u").replace("μ", "u"))


def _parse_unit(text: str) -> Optional[str]:
    for token in text.split():
        if token.lower().strip(".:") in _FLAG_WORDS or re.fullmatch(_NUMBER, token):
            continue
        if re.search(r"[a-zA-Z%µμ]", token):
            return token.strip(",;")
        break
    return None


def _flag(value: Optional[float], low: Optional[float], high: Optional[float],
          critical_low: Optional[float], critical_high: Optional[float]) -> str:
    if value is None:
        return "unknown"
    if critical_low is not None and value < critical_low:
        return "critical_low"
    if critical_high is not None and value > critical_high:
        return "critical_high"
    if low is not None and value < low:
        return "low"
    if high is not None and value > high:
        return "high"
    return "normal" if (low is not None or high is not None) else "unknown"


def read_line(line: str) -> Optional[dict]:
    """One observation (the contract's shape) from one line, or None."""
    for pattern, test in _aliases():
        match = pattern.match(line)
        if not match:
            continue
        value_match = _VALUE.match(line[match.end():])
        if not value_match:
            return None
        value = _number(value_match["value"])
        value_text = f"{value_match['cmp'] or ''}{value_match['value']}"
        rest = value_match["rest"]
        unit = _parse_unit(_NOISE.sub(" ", rest))
        low = high = None
        range_text = None
        if found := _RANGE.search(rest):
            low, high, range_text = _number(found["low"]), _number(found["high"]), found[0]
        elif found := _UPPER.search(rest):
            high, range_text = _number(found["high"]), found[0]
        elif found := _LOWER.search(rest):
            low, range_text = _number(found["low"]), found[0]
        same_unit = unit is None or _unit_key(unit) == _unit_key(test["unit"])
        if range_text is None and same_unit:
            low, high = test["low"], test["high"]
        critical = (test["critical_low"], test["critical_high"]) if same_unit else (None, None)
        return {
            "name": test["name"], "loinc": test["loinc"], "value": value, "value_text": value_text,
            "unit": unit or (test["unit"] if range_text is None else None),
            "reference_range": {"low": low, "high": high, "text": range_text},
            "flag": _flag(value, low, high, *critical),
        }
    return None


def extract(text: str) -> list[dict]:
    """Every recognised result of a report, once per test (the first one printed)."""
    found: dict[str, dict] = {}
    for line in text.splitlines():
        observation = read_line(line)
        if observation and observation["loinc"] not in found:
            found[observation["loinc"]] = observation
    return list(found.values())
