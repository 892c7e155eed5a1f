"""Cold start: each function's import and initialisation in a fresh interpreter, against
the floor every function pays (Python with boto3 and Powertools' Logger, Metrics and
Tracer). Median of several fresh processes; this machine, not Lambda's."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from functions.catalog import CATALOG

RUNS = 5
FLOOR = ("import boto3\nfrom aws_lambda_powertools import Logger, Metrics, Tracer\n"
         "Logger(); Metrics(namespace='Serenya'); Tracer()")
TARGET = 1.3
ENV = {"SERENYA_ENV": "bench", "TABLE_NAME": "t", "TEMP_BUCKET": "b", "EVENTS_BUCKET": "e", "DATA_KEY_ARN": "k",
       "SIGNING_KEY_ARN": "s", "SECRET_ARN": "x", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a",
       "AWS_SECRET_ACCESS_KEY": "a", "POWERTOOLS_SERVICE_NAME": "serenya"}


def timed(code: str) -> float:
    program = f"import time\n_t = time.perf_counter()\n{code}\nprint(time.perf_counter() - _t)"
    samples = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", program], env={**os.environ, **ENV}, capture_output=True,
                             text=True, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def run() -> str:
    floor = timed(FLOOR)
    lines = ["## Cold start (import and init in a fresh interpreter)", "",
             f"Floor (boto3 + Powertools Logger/Metrics/Tracer): {floor * 1000:.0f} ms, median of {RUNS}. "
             f"Target: at most {TARGET}x the floor for every function but the two pyarrow ones "
             f"(stream processor, compaction).", "",
             "| function | ms | x floor | target |", "| --- | --- | --- | --- |"]
    for fn in CATALOG:
        seconds = timed(f"import {fn.handler.rsplit('.', 1)[0]}")
        ratio = seconds / floor
        exempt = "pyarrow" in fn.heavy_imports  # the stream processor and compaction
        verdict = "exempt (pyarrow)" if exempt else ("met" if ratio <= TARGET else "**missed**")
        lines.append(f"| {fn.name} | {seconds * 1000:.0f} | {ratio:.2f} | {verdict} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
