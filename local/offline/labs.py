"""Rule-based lab-value extraction from the text of a lab report (the offline analyser).

Each line that starts with a known test name (lab_catalogue.json: common tests, their
LOINC codes, units, adult reference ranges and critical limits) and then a value is read
as one result: the value, and after it, in any order, the unit, the reference range and
the laboratory's own flag (H, L, HH, LL, A, *, "High (H)", ...), as labs print them.

- A value printed as a bound (`<0.5`, `>2000`) has no exact value: `value` is None and
  `value_text` keeps the bound; its flag is given only when every value under the bound
  falls on the same side of the range.
- The unit is kept as printed. Units that name the same quantity (10^3/uL, 10*3/uL,
  x10E9/L, K/uL; mIU/L, uIU/mL) count as the catalogue's when comparing with its range
  and critical limits. A molar unit (umol/L, mmol/L) on a test catalogued by mass gets the
  molar LOINC code when the catalogue has one; a unit of another kind than the
  catalogue's (mass vs molar, count vs %) is not read at all rather than coded wrongly.
- The flag compares the value with the printed range, or the catalogue's when none is
  printed and the units agree; critical limits come from the catalogue, or from the
  laboratory's HH/LL. The laboratory's flag decides when nothing can be compared, and a
  flag that contradicts the comparison makes it "unknown".
- Commas are decimal separators in a report that prints decimal commas, thousands
  separators otherwise (150,000).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

# [0-9], not \d: \d matches any Unicode digit, and float() reads "1٣" (mixed scripts) as 13.
_NUMBER = r"[0-9]+(?:[.,][0-9]+)*"
_COMPARATOR = r"<=|>=|[<>≤≥]"
# A value: a whole token, or a number with its unit or flag glued on ("11.2g/dL", "6.8L").
_LEADING_VALUE = re.compile(rf"(?P<cmp>{_COMPARATOR})?\s*(?P<value>{_NUMBER})(?=\s|$|[A-Za-zµ%(*])")
_RANGE = re.compile(rf"(?P<low>{_NUMBER})\s*(?:-|–|to)\s*(?P<high>{_NUMBER})")
_UPPER = re.compile(rf"(?:<=|<|≤|up to)\s*(?P<high>{_NUMBER})", re.I)
_LOWER = re.compile(rf"(?:>=|>|≥)\s*(?P<low>{_NUMBER})")
# Words allowed between the test name and its value ("Glucose, Fasting", "Vitamin D, 25-OH",
# "LDL Cholesterol (calculated)"): a parenthesised group, or up to three words with a letter.
_NAME_WORDS = 3
# The laboratory's flags: direction and severity ("abnormal": no direction).
_FLAGS = {
    "H": "high",
    "L": "low",
    "HH": "critical_high",
    "LL": "critical_low",
    "A": "abnormal",
    "N": "normal",
    "*": "abnormal",
    "!": "abnormal",
}
_FLAG_WORDS = {"high": "high", "low": "low", "abnormal": "abnormal", "normal": "normal"}
_NO_SLASH_UNITS = {"%", "fl", "pg", "ratio", "sec", "s", "index"}

# Units that name the same quantity, in the catalogue's spelling (see _canonical_unit).
_SAME_UNITS = {
    "10^3/ul": "10*3/uL",
    "k/ul": "10*3/uL",
    "thou/ul": "10*3/uL",
    "10^9/l": "10*3/uL",
    "/nl": "10*3/uL",
    "10^6/ul": "10*6/uL",
    "m/ul": "10*6/uL",
    "mill/ul": "10*6/uL",
    "10^12/l": "10*6/uL",
    "/pl": "10*6/uL",
    "miu/l": "mIU/L",
    "uiu/ml": "mIU/L",
    "mu/l": "mIU/L",
    "ng/ml": "ng/mL",
    "ug/l": "ng/mL",
    "pg/ml": "pg/mL",
    "ng/l": "pg/mL",
    "iu/l": "U/L",
    "u/l": "U/L",
    "ml/min/1.73m2": "mL/min/1.73m2",
    "ml/min/1.73": "mL/min/1.73m2",
    "ml/min/1.73m^2": "mL/min/1.73m2",
}


@lru_cache(maxsize=1)
def catalogue() -> dict:
    return json.loads((Path(__file__).parent / "lab_catalogue.json").read_text())


@lru_cache(maxsize=1)
def _aliases() -> list[tuple[re.Pattern, dict]]:
    pairs = [(alias, test) for test in catalogue()["tests"] for alias in test["aliases"]]
    pairs.sort(key=lambda pair: -len(pair[0]))  # "hemoglobin a1c" before "hemoglobin"
    return [(re.compile(rf"^\s*[-*•]?\s*{re.escape(alias)}(?![a-z0-9])", re.I), test) for alias, test in pairs]


def _number(text: str, decimal_comma: bool | None = None) -> float:
    if "," in text and "." not in text:
        thousands = re.fullmatch(r"[1-9][0-9]{0,2}(,[0-9]{3})+", text) is not None
        if thousands and not decimal_comma:  # 150,000 (unless the report writes 4,210 for 4.21)
            return float(text.replace(",", ""))
        return float(text.replace(",", "."))
    return float(text.replace(",", ""))  # 1,240.5


def _canonical_unit(unit: str | None) -> str:
    key = (unit or "").lower().replace("µ", "u").replace("μ", "u").replace(" ", "").replace(",", ".")
    key = re.sub(r"^[x×]", "", key)
    key = re.sub(r"10(?:\^|\*|e)([0-9]+)", r"10^\1", key)  # 10^3, 10*3, 10E3
    return _SAME_UNITS.get(key, key)


def _unit_kind(unit: str | None) -> str | None:
    """count, mass, molar, ratio (mmol/mol), units (U/L, mIU/L) or percent; None for any
    other unit (fL, mL/min/1.73m2, mEq/L) or none."""
    key = _canonical_unit(unit).lower()
    if key in ("10*3/ul", "10*6/ul") or re.fullmatch(r"10\^[0-9]+/u?l|/u?l", key):
        return "count"
    for kind, pattern in (
        ("ratio", r"[munp]?mol/mol"),
        ("molar", r"[munp]?mol/[dmu]?l"),
        ("mass", r"[kmunp]?g/[dmu]?l"),
        ("units", r"[mu]?i?u/[dmu]?l"),
        ("percent", "%"),
    ):
        if re.fullmatch(pattern, key):
            return kind
    return None


def _value_and_rest(after_name: str) -> tuple[str | None, str, str, str] | None:
    """(comparator, number, the value as printed, what follows it) once the words that
    still belong to the name are skipped; None when no value follows the name."""
    rest = after_name
    for _ in range(_NAME_WORDS + 1):
        rest = rest.lstrip(" \t:=,-")
        if value := _LEADING_VALUE.match(rest):
            return value["cmp"], value["value"], f"{value['cmp'] or ''}{value['value']}", rest[value.end() :]
        if rest.startswith("("):
            close = rest.find(")")
            if close < 0:
                return None
            rest = rest[close + 1 :]
            continue
        token, _, rest = rest.partition(" ")
        if not re.search(r"[A-Za-z]", token):
            return None
    return None


def _lab_flags(rest: str) -> set[str]:
    """The laboratory's own flags printed after the value ("H", "LL", "(L)!", "Low (L)")."""
    found = set()
    for token in rest.split():
        bare = token.strip("()[]!") or token
        if bare in _FLAGS:
            found.add(_FLAGS[bare])
        elif bare.lower() in _FLAG_WORDS and bare[:1].isupper():
            found.add(_FLAG_WORDS[bare.lower()])
        if token.endswith("!") and bare != token:
            found.add("abnormal")
    return found


def _reference_range(rest: str, decimal_comma: bool | None):
    """(low, high, the range as printed, the rest without it)."""
    if found := _RANGE.search(rest):
        low, high = _number(found["low"], decimal_comma), _number(found["high"], decimal_comma)
    elif found := _UPPER.search(rest):
        low, high = None, _number(found["high"], decimal_comma)
    elif found := _LOWER.search(rest):
        low, high = _number(found["low"], decimal_comma), None
    else:
        return None, None, None, rest
    return low, high, found[0], rest[: found.start()] + " " + rest[found.end() :]


def _printed_unit(rest: str) -> str | None:
    tokens = re.sub(r"\s*/\s*", "/", rest).split()  # "mg / dL" is one unit, not "/"
    for i, token in enumerate(tokens):
        token = token.strip(",;()[]")
        if token in ("x", "×") and i + 1 < len(tokens) and tokens[i + 1].startswith("10"):
            return f"{token} {tokens[i + 1]}"  # "x 10^9/L"
        if "/" in token or token.lower() in _NO_SLASH_UNITS:
            return token
    return None


def _compared(number: float, cmp: str | None, low, high, critical_low, critical_high) -> str:
    """The flag a comparison with the range gives; for a bound, only what holds for every
    value under it (results are never negative)."""
    if cmp is None:
        if critical_low is not None and number < critical_low:
            return "critical_low"
        if critical_high is not None and number > critical_high:
            return "critical_high"
        if low is not None and number < low:
            return "low"
        if high is not None and number > high:
            return "high"
        return "normal" if (low is not None or high is not None) else "unknown"
    strict = cmp in ("<", ">")
    if cmp in ("<", "<=", "≤"):  # every value is in [0, number)
        if critical_low is not None and (number < critical_low or (strict and number == critical_low)):
            return "critical_low"
        if low is not None and (number < low or (strict and number == low)):
            return "low"
        if (low is not None or high is not None) and (low is None or low <= 0) and (high is None or number <= high):
            return "normal"
        return "unknown"
    if critical_high is not None and (number > critical_high or (strict and number == critical_high)):
        return "critical_high"
    if high is not None and (number > high or (strict and number == high)):
        return "high"
    if low is not None and high is None and number >= low:
        return "normal"
    return "unknown"


def _flag(compared: str, printed: set[str]) -> str:
    """The comparison's flag checked against the laboratory's marks."""
    marks = printed - {"abnormal"}
    sides = {mark.replace("critical_", "") for mark in marks}
    if len(sides) > 1:
        return "unknown"  # the laboratory's own marks disagree
    side = next(iter(sides), None)
    if compared == "unknown":  # nothing to compare with: the laboratory's reading
        if side is None:
            return "unknown"
        return f"critical_{side}" if f"critical_{side}" in marks else side
    if compared == "normal":
        return "normal" if not printed or printed == {"normal"} else "unknown"
    compared_side = compared.replace("critical_", "")
    if side is not None and side != compared_side:
        return "unknown"  # the laboratory reads it the other way: the range was misread
    return f"critical_{compared_side}" if f"critical_{compared_side}" in marks else compared


def read_line(line: str, decimal_comma: bool | None = None) -> dict | None:
    """One observation (the contract's shape) from one line, or None."""
    for pattern, test in _aliases():
        match = pattern.match(line)
        if not match:
            continue
        parsed = _value_and_rest(line[match.end() :])
        if parsed is None:
            return None
        cmp, number_text, value_text, rest = parsed
        number = _number(number_text, decimal_comma)
        low, high, range_text, rest = _reference_range(rest, decimal_comma)
        unit = _printed_unit(rest)
        loinc, same_unit = test["loinc"], unit is None or _canonical_unit(unit) == _canonical_unit(test["unit"])
        kind, catalogued = _unit_kind(unit), _unit_kind(test["unit"])
        if kind and catalogued and kind != catalogued:
            if not (kind == "molar" and catalogued == "mass" and test.get("molar_loinc")):
                return None  # another quantity than the catalogue's: its code would be wrong
            loinc = test["molar_loinc"]
        if range_text is None and same_unit:
            low, high = test["low"], test["high"]
        critical = (test["critical_low"], test["critical_high"]) if same_unit else (None, None)
        return {
            "name": test["name"],
            "loinc": loinc,
            "value": number if cmp is None else None,
            "value_text": value_text,
            "unit": unit or (test["unit"] if range_text is None else None),
            "reference_range": {"low": low, "high": high, "text": range_text},
            "flag": _flag(_compared(number, cmp, low, high, *critical), _lab_flags(rest)),
        }
    return None


def _uses_decimal_commas(text: str) -> bool:
    """Whether the report writes 13,9 for 13.9: a number with one, two or four and more
    digits after a comma, and none with a decimal point."""
    return (
        re.search(r"(?<![0-9.,])[0-9]+,(?:[0-9]{1,2}|[0-9]{4,})(?![0-9.,])", text) is not None
        and re.search(r"(?<![0-9.,])[0-9]+\.[0-9]+(?![0-9.,])", text) is None
    )


# Cells of a laid-out line are apart by at least this many spaces (provider.pdf_text).
_CELL_GAP = re.compile(r" {3,}")


def side_by_side(line: str, decimal_comma: bool | None = None) -> list[str]:
    """A laid-out line cut into the results it holds side by side (a page printed in two
    columns): cut before every cell, after a gap, that starts a result of its own. A
    cell whose first word has a slash is a unit ("mg/dL", "K/uL": Magnesium's and
    Potassium's abbreviations, then a range that reads as a value), never a test name."""
    cuts = [0]
    for gap in _CELL_GAP.finditer(line):
        cell = line[gap.end() :]
        if "/" not in cell.split(maxsplit=1)[0] and read_line(cell, decimal_comma) is not None:
            cuts.append(gap.end())
    return [line[start:end] for start, end in zip(cuts, [*cuts[1:], len(line)], strict=True)]


def extract(text: str) -> list[dict]:
    """Every recognised result of a report, once per test (the first one printed); a
    line holding results side by side gives each of them."""
    decimal_comma = _uses_decimal_commas(text)
    found: dict[str, dict] = {}
    for line in text.splitlines():
        for piece in side_by_side(line, decimal_comma):
            observation = read_line(piece, decimal_comma)
            if observation and observation["loinc"] not in found:
                found[observation["loinc"]] = observation
    return list(found.values())
