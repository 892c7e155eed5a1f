"""What `make run` prints: one line per request (local/server.py's access log) and the
functions' errors, readable; everything the functions print or log (their JSON log
lines, EMF) and the program's deployment advice go to a log file, shown on the console
too with --verbose.

The metric store is fed from each function's output before it is echoed
(local/isolation.py `output`), so where the echo goes changes no metric."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import TextIO

ERROR_LEVELS = ("ERROR", "CRITICAL")


def error_line(line: str) -> str | None:
    """A readable line for a function's JSON log line at ERROR or above, else None. Only
    the function, the route and the message: the log's own fields, nothing of the event."""
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("level") not in ERROR_LEVELS:
        return None
    where = " ".join(str(record[k]) for k in ("function_name", "route") if record.get(k))
    exception = f" ({record['exception_name']})" if record.get("exception_name") else ""
    return f"{record['level'].lower()} {where}: {record.get('message', '')}{exception}"


class FunctionLog(io.TextIOBase):
    """The functions' echoed output: every line to `file`; to `console`, every line
    (verbose) or a readable line per error."""

    def __init__(self, file: TextIO, console: TextIO, verbose: bool):
        self._file, self._console, self._verbose = file, console, verbose
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._file.write(text)
            if text.endswith("\n"):
                self._file.flush()
            if self._verbose:
                self._console.write(text)
            else:
                for line in text.split("\n"):  # a log record is written whole, in one write
                    readable = error_line(line)
                    if readable:
                        self._console.write(readable + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._file.flush()
            self._console.flush()

    def writable(self) -> bool:
        return True


def open_log(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")
