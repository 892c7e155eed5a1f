"""Cold start: each function's import and initialisation in a fresh interpreter, against
the floor every function pays (Python with boto3 and Powertools' Logger, Metrics and
Tracer). Median of several fresh processes; this machine, not Lambda's.

Then where each function's import time goes beyond the floor: `python -X importtime`
(self time of every module the floor does not load), grouped by family."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections import Counter

from functions.catalog import CATALOG

RUNS = 7
FLOOR = ("import boto3\nfrom aws_lambda_powertools import Logger, Metrics, Tracer\n"
         "Logger(); Metrics(namespace='Serenya'); Tracer()")
TARGET = 1.3
ENV = {"SERENYA_ENV": "bench", "TABLE_NAME": "t", "TEMP_BUCKET": "b", "EVENTS_BUCKET": "e", "DATA_KEY_ARN": "k",
       "SIGNING_KEY_ARN": "s", "SECRET_ARN": "x", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a",
       "AWS_SECRET_ACCESS_KEY": "a", "POWERTOOLS_SERVICE_NAME": "serenya"}


def once(code: str) -> float:
    """Seconds `code` takes in a fresh interpreter, after the interpreter's own start."""
    program = f"import time\n_t = time.perf_counter()\n{code}\nprint(time.perf_counter() - _t)"
    out = subprocess.run([sys.executable, "-c", program], env={**os.environ, **ENV}, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def timed(code: str) -> float:
    return statistics.median(once(code) for _ in range(RUNS))


def paired(code: str) -> tuple[float, float, float]:
    """(median of `code`, median of the floor, median of the ratios of each run of `code`
    to the floor's run just before it): on a shared machine the load changes over a bench,
    and a ratio to a floor measured minutes earlier says more about the load than about
    the function."""
    samples, floors = [], []
    for _ in range(RUNS):
        floors.append(once(FLOOR))
        samples.append(once(code))
    ratios = [sample / floor for sample, floor in zip(samples, floors)]
    return statistics.median(samples), statistics.median(floors), statistics.median(ratios)


IMPORTTIME_RUNS = 3
TOP = 4
# Findings of issue 15, before the lazy imports (same method, medians of 3, this machine):
# what each function over the target loaded beyond the floor, in ms of import self time.
BEFORE = """#### Before issue 15

The same breakdown at the start of issue 15 (ms of import self time beyond the floor, median of 3,
measured while the machine was shared, so only the proportions mean much). The functions over
the target loaded pydantic with their request and result models at import, PyJWT with
cryptography (X.509 included) through `common.tokens`, `common.oauth` and `common.crypto`
although only token checks and sealed fields use them, and subscriptions created its
idempotency store's DynamoDB client (loading DynamoDB's service model) at import.

| function | beyond the floor | biggest families |
| --- | --- | --- |
| auth | 173 | pydantic 46; PyJWT + cryptography 41; Powertools event data classes 37 |
| authorizer | 53 | PyJWT + cryptography 33; project code 18; other 1 |
| user_profile | 188 | pydantic 70; project code 30; PyJWT + cryptography 28 |
| upload | 123 | pydantic 46; models (classes built) 26; project code 26 |
| process | 158 | pydantic 81; project code 42; models (classes built) 27 |
| status | 109 | project code 49; Powertools REST resolver 29; Powertools event data classes 29 |
| result | 45 | project code 20; Powertools event data classes 15; Powertools REST resolver 9 |
| cleanup | 48 | project code 25; Powertools event data classes 12; Powertools REST resolver 10 |
| chat_prompts | 31 | project code 13; Powertools event data classes 10; Powertools REST resolver 7 |
| chat_messages | 109 | pydantic 48; models (classes built) 24; project code 15 |
| chat_status | 44 | project code 20; Powertools REST resolver 12; Powertools event data classes 11 |
| doctor_report | 156 | pydantic 47; PyJWT + cryptography 30; project code 27 |
| subscriptions | 232 | DynamoDB client created at import 153; PyJWT + cryptography 27; project code 26 |
| stream_processor | 112 | pyarrow 75; project code 23; Powertools event data classes 11 |
| compaction | 45 | pyarrow 25; project code 19; other 0 |

Since then those load on first use: a route imports its request model where it parses the
body, `common.oauth`, `common.tokens`, `common.crypto` and the store modules import PyJWT and
cryptography inside the calls that verify or seal, and the idempotency store makes its client
with the first notification. Where Lambda prepays the init (provisioned concurrency, SnapStart)
`functions/common/lazy.py` loads them at init instead. The authorizer keeps PyJWT at init: every
invocation verifies a token. What each function may load at init is declared in the catalog
(`heavy_imports`, from `HEAVY_MODULES`) and checked by tests/functions/test_cold_start.py.
"""


def _importtime(code: str) -> dict[str, int]:
    """Self time in microseconds of each module `code` imports, from `python -X importtime`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env={**os.environ, **ENV},
                          capture_output=True, text=True, check=True)
    modules = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _, name = line[len("import time:"):].split("|")
            modules[name.strip()] = int(self_us)
    return modules


def family(module: str) -> str:
    """The group a module's import time is reported under."""
    top = module.split(".")[0]
    if top in ("pydantic", "pydantic_core", "annotated_types", "typing_inspection"):
        return "pydantic"
    if top in ("jwt", "cryptography"):
        return "PyJWT + cryptography"
    for prefix, name in (("aws_lambda_powertools.utilities.data_classes", "Powertools event data classes"),
                         ("aws_lambda_powertools.event_handler", "Powertools REST resolver"),
                         ("aws_lambda_powertools.utilities.", "Powertools utilities")):
        if module.startswith(prefix):
            return name
    if top in ("pyarrow", "numpy"):
        return "pyarrow"
    if top in ("functions", "analytics"):
        return "models (classes built)" if module.endswith((".models", ".results", ".requests")) else "project code"
    return "other"


def beyond_floor(code: str, floor: set[str]) -> dict[str, float]:
    """Milliseconds of import self time by family, for what `code` loads beyond the floor."""
    runs = []
    for _ in range(IMPORTTIME_RUNS):
        groups: Counter = Counter()
        for module, self_us in _importtime(code).items():
            if module not in floor:
                groups[family(module)] += self_us
        runs.append(groups)
    names = {name for groups in runs for name in groups}
    return {name: statistics.median(groups.get(name, 0) for groups in runs) / 1000 for name in names}


def breakdown() -> str:
    floor = set(_importtime(FLOOR))
    lines = ["### Where the import time goes", "",
             f"`python -X importtime`, self time of the modules each handler loads beyond the floor, by family "
             f"(median of {IMPORTTIME_RUNS}; importtime's own overhead inflates it). The {TOP} biggest:", ""]
    for fn in CATALOG:
        groups = beyond_floor(f"import {fn.handler.rsplit('.', 1)[0]}", floor)
        heavy = ", ".join(sorted(fn.heavy_imports)) or "none"
        lines += [f"**{fn.name}**: {sum(groups.values()):.0f} ms beyond the floor; heavy imports declared: {heavy}",
                  "", "| beyond the floor | ms |", "| --- | --- |"]
        lines += [f"| {name} | {ms:.1f} |" for name, ms in sorted(groups.items(), key=lambda g: -g[1])[:TOP]]
        lines.append("")
    return "\n".join(lines + [BEFORE, ""])


def run() -> str:
    rows, floors = [], []
    for fn in CATALOG:
        seconds, floor, ratio = paired(f"import {fn.handler.rsplit('.', 1)[0]}")
        floors.append(floor)
        exempt = "pyarrow" in fn.heavy_imports  # the stream processor and compaction
        verdict = "exempt (pyarrow)" if exempt else ("met" if ratio <= TARGET else "**missed**")
        rows.append(f"| {fn.name} | {seconds * 1000:.0f} | {floor * 1000:.0f} | {ratio:.2f} | {verdict} |")
    lines = ["## Cold start (import and init in a fresh interpreter)", "",
             f"Floor (boto3 + Powertools Logger/Metrics/Tracer): {statistics.median(floors) * 1000:.0f} ms "
             f"(median over the run). Each function is timed {RUNS} times, each run right after one of the floor; "
             f"x floor is the median of those {RUNS} ratios. Target: at most {TARGET}x the floor for every function but "
             f"the two pyarrow ones (stream processor, compaction).", "",
             "| function | ms | floor ms | x floor | target |", "| --- | --- | --- | --- | --- |", *rows]
    return "\n".join(lines) + "\n\n" + breakdown()


if __name__ == "__main__":
    print(run())
