"""Photos for the model: time and peak memory of `images.prepare` (functions/process/images.py)
on generated phone photos and a screenshot (tests/fixtures/photos.py), and the image
tokens Claude would count before and after (about width x height / 750,
https://docs.claude.com/en/docs/vision).

Each case runs in a fresh interpreter limited to the process function's memory size
(RLIMIT_AS = the catalog's memory_mb, a stricter cap than Lambda's, which counts
resident memory only), so the figures are the function's own: peak resident memory
(VmHWM, as getrusage's ru_maxrss, restarted once the code is imported and the upload
read) above the resident memory at that point, and CPU time. Lambda gives a 1024 MB function about 0.58 of a vCPU (one full
vCPU at 1,769 MB, https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html),
so its time there is about CPU time / 0.58.

`python -m bench.photos` prints this section alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from functions.catalog import CATALOG
from tests.fixtures import photos

RUNS = 5
LAMBDA_VCPU_AT_1769_MB = 1769
ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """
import json, resource, statistics, sys, time
memory_mb, path, declared, no_draft = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024, memory_mb * 1024 * 1024))
import functions.process.handler
from functions.process import images
from PIL import JpegImagePlugin
if no_draft:
    JpegImagePlugin.JpegImageFile.draft = lambda self, mode, size: None


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024


body = open(path, "rb").read()
# Imports peak above what stays resident: start the high-water mark (VmHWM, what
# getrusage's ru_maxrss reports) afresh here (Linux: "5" > /proc/PID/clear_refs).
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
baseline = status("VmRSS")
cpu0 = time.process_time()
walls = []
for _ in range(int(sys.argv[5])):
    started = time.perf_counter()
    out = images.prepare(body, declared)
    walls.append(time.perf_counter() - started)
print(json.dumps({"first_s": walls[0], "median_s": statistics.median(walls[1:] or walls),
                  "cpu_s": (time.process_time() - cpu0) / len(walls), "baseline_mb": baseline,
                  "peak_mb": status("VmHWM"), "size": out.size, "source_size": out.source_size,
                  "bytes": len(out.data), "format": out.format}))
"""


def measure(body: bytes, declared: str, memory_mb: int, no_draft: bool = False) -> dict:
    with tempfile.NamedTemporaryFile(suffix=f".{declared}") as upload:
        upload.write(body)
        upload.flush()
        env = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1", "POWERTOOLS_SERVICE_NAME": "serenya"}
        done = subprocess.run([sys.executable, "-c", PROGRAM, str(memory_mb), upload.name, declared,
                               "1" if no_draft else "0", str(RUNS + 1)],
                              capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> str:
    from functions.process.images import tokens

    memory_mb = next(fn.memory_mb for fn in CATALOG if fn.name == "process")
    vcpu = memory_mb / LAMBDA_VCPU_AT_1769_MB
    cases = [("12 MP phone photo (JPEG)", photos.phone_photo(), "jpeg", False),
             ("12 MP photo held upright (EXIF orientation 6, GPS)", photos.phone_photo(orientation=6, gps=True),
              "jpeg", False),
             ("12 MP phone photo, decoded at full size (no draft)", photos.phone_photo(), "jpeg", True),
             ("phone screenshot 1290 x 2796 (PNG)", photos.screenshot(), "png", False)]
    lines = [f"## Photos for the model (process function, {memory_mb} MB)", "",
             f"`images.prepare` in a fresh interpreter capped at {memory_mb} MB of address space; median of "
             f"{RUNS} runs after the first. Peak memory is resident memory above the interpreter with the "
             f"process function imported and the upload read. Lambda time is CPU time / {vcpu:.2f} vCPU "
             f"(the share of a vCPU a {memory_mb} MB function gets).", "",
             "| upload | bytes in | sent | bytes sent | first run ms | median ms | CPU ms | est. Lambda ms "
             "| peak memory MB |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    token_rows = []
    for label, body, declared, no_draft in cases:
        m = measure(body, declared, memory_mb, no_draft)
        w, h = m["size"]
        lines.append(f"| {label} | {len(body):,} | {w} x {h} {m['format'].upper()} | {m['bytes']:,} | "
                     f"{m['first_s'] * 1000:.0f} | {m['median_s'] * 1000:.0f} | {m['cpu_s'] * 1000:.0f} | "
                     f"{m['cpu_s'] / vcpu * 1000:.0f} | {m['peak_mb'] - m['baseline_mb']:.0f} |")
        if not no_draft:
            sw, sh = m["source_size"]
            token_rows.append((label, (sw, sh), (w, h)))
    lines += ["", "Image tokens (width x height / 750) as uploaded and as sent. As uploaded, a 6.6 MB photo "
              "is refused by Bedrock (over 3.75 MB); one small enough to pass would be scaled down by the model "
              "service to about 1,600 tokens itself, after the upload of every byte and with a longer time "
              "to first token.", "",
              "| upload | as uploaded | tokens | as sent | tokens | saved |", "| --- | --- | --- | --- | --- | --- |"]
    for label, source, sent in token_rows:
        before, after = tokens(source), tokens(sent)
        lines.append(f"| {label} | {source[0]} x {source[1]} | {before:,} | {sent[0]} x {sent[1]} | {after:,} | "
                     f"{before - after:,} ({(before - after) / before:.0%}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
