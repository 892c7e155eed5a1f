"""Findings, how they are printed, and what a run amounts to (its headline and exit code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

# skip: the check could not ask the account (no credentials, denied, not implemented):
# it says nothing about the account, so it is never counted as ok.
OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

# The exit codes (argparse's own usage error is 2).
EXIT_OK = 0              # every check that ran passed (warnings and some skipped checks included)
EXIT_FAILED = 1          # a check failed: the deployment or its first day would break
EXIT_NOTHING_CHECKED = 3  # no check could ask the account: nothing is known, nothing is ok


@dataclass(frozen=True)
class Finding:
    check: str
    status: str          # ok, warn (works, but look), fail (would break the deployment or its first day), skip
    detail: str
    fix: str = ""
    offline: bool = False  # answered from the stack's settings alone, without asking the account


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


def outcome(findings: Iterable[Finding], credentials: bool = True) -> tuple[str, int]:
    """The run's headline and exit code. A failure wins (exit 1) even when little else
    could be checked; otherwise a run in which no check that asks the account got an
    answer checked nothing (exit 3), whatever the offline checks said."""
    rows = list(findings)
    asking = [f for f in rows if not f.offline]
    skipped = [f for f in asking if f.status == SKIP]
    nothing = bool(asking) and len(skipped) == len(asking)
    why = ("no AWS credentials found (a profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or SSO; against "
           "make run's moto any key will do)" if not credentials
           else "the account answered none of its questions (see each line)")
    if failed(rows):
        headline = f"preflight: FAILED: {sum(f.status == FAIL for f in rows)} of {len(rows)} checks failed"
        if nothing:
            headline += f"; the account itself was not checked: {why}"
        elif skipped:
            headline += f"; {len(skipped)} not checked"
        return headline, EXIT_FAILED
    if nothing:
        return f"preflight: CHECKED NOTHING: {why}; {len(skipped)} of {len(rows)} checks could not run", \
            EXIT_NOTHING_CHECKED
    if skipped:
        names = ", ".join(f.check for f in skipped)
        return f"preflight: ok, but {len(skipped)} of {len(rows)} checks were not checked ({names}): " \
               "check those by hand", EXIT_OK
    warned = sum(f.status == WARN for f in rows)
    return f"preflight: ok: {len(rows)} checks" + (f", {warned} with a warning" if warned else ""), EXIT_OK
