"""Timestamps as the contract writes them: ISO 8601, UTC, milliseconds, `Z`; and the
clocks a function that waits reads (`Clock`)."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Clock:
    """The clocks and the pause of a function that waits (the process function's backoff).
    Lambda runs the real ones; a process that runs the function itself (the local stack,
    tests) gives it others through the handler module's `use_clock`."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
