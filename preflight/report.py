"""Findings and how they are printed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Finding:
    check: str
    status: str          # ok, warn (works, but look), fail (would break the deployment or its first day)
    detail: str
    fix: str = ""


def render(findings: Iterable[Finding]) -> str:
    rows = list(findings)
    width = max((len(f.check) for f in rows), default=0)
    lines = []
    for f in rows:
        lines.append(f"{f.status:<4}  {f.check:<{width}}  {f.detail}")
        if f.fix and f.status != OK:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {f.fix}")
    return "\n".join(lines)


def failed(findings: Iterable[Finding]) -> bool:
    return any(f.status == FAIL for f in findings)
