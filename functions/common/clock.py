"""Timestamps as the contract writes them: ISO 8601, UTC, milliseconds, `Z`."""

from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
