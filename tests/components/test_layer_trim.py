"""The pyarrow trim leaves what the audit functions run.

The layer is built for aarch64, whose libraries cannot load here; this machine's pyarrow
(same version, same file layout) is copied, trimmed with the same patterns, and the
functions' pyarrow work runs against the copy in a fresh interpreter."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components import layer_trim, packaging

SCRIPT = r"""
import sys
import pyarrow as pa
import pyarrow.parquet
assert pa.__file__.startswith(sys.argv[1]), pa.__file__  # the trimmed copy, not the venv's
# What the functions import, with this pyarrow.
import functions.stream_processor.handler, functions.compaction.handler
from analytics import writer
from analytics.events import derive
from tests.fixtures.stream import profile, record

U = "11111111-1111-1111-1111-111111111111"
events = derive(record("INSERT", U, new=profile(U))) + derive(record("REMOVE", U, old=profile(U)))
read = writer.read(writer.parquet_bytes(writer.table(events)))  # stream_processor writes, compaction reads
merged = pa.concat_tables([read, read])                           # compaction merges,
merged = merged.take(pa.array(range(len(events)))).sort_by([("event_time", "ascending")])  # dedups, sorts
assert merged.num_rows == len(events) and merged.schema == read.schema
assert writer.read(writer.parquet_bytes(merged)).num_rows == len(events)
# Absence is checked without importing the modules (no side effects).
import importlib.util
for gone in ("pyarrow._flight", "pyarrow._s3fs", "pyarrow._substrait"):
    if importlib.util.find_spec(gone) is not None:
        raise AssertionError(gone + " is still there: the trim did not apply")
print("ok", flush=True)
# Leave without interpreter finalization: pyarrow's thread pools now and then abort the
# process there ("terminate called without an active exception"), with or without the
# trim; a Lambda container is never finalized between invocations.
import os
os._exit(0)
"""


def _copy(src: Path, dst: Path) -> None:
    # Hard links when possible: ~150 MB copied in milliseconds, and deleting a link in the
    # copy leaves the venv's file alone.
    try:
        shutil.copytree(src, dst, copy_function=os.link)
    except OSError:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)


def test_the_trimmed_pyarrow_still_runs_what_the_functions_run(tmp_path):
    spec = importlib.util.find_spec("pyarrow")
    site = tmp_path / "python"
    _copy(Path(spec.origin).parent, site / "pyarrow")
    removed = layer_trim.trim(site, layer_trim.patterns_for([packaging.pinned("pyarrow")]))
    # A pattern that matches nothing means pyarrow's layout changed: review the trim.
    assert all(removed.values()), {p: n for p, n in removed.items() if not n}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(packaging.ROOT)])}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(site)], env=env, cwd=packaging.ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_the_trim_keeps_the_libraries_pyarrow_lib_links(tmp_path):
    # pyarrow.lib links libarrow_substrait, _acero, _dataset, _compute and libparquet
    # (readelf -d): deleting any of them makes `import pyarrow` fail on Lambda.
    site = tmp_path / "python"
    kept = ["libarrow.so.2600", "libarrow_substrait.so.2600", "libarrow_acero.so.2600",
            "libarrow_dataset.so.2600", "libarrow_compute.so.2600", "libparquet.so.2600",
            "libarrow_python.so.2600", "libarrow_python_parquet_encryption.so.2600",
            "lib.cpython-313-aarch64-linux-gnu.so", "_compute.cpython-313-aarch64-linux-gnu.so"]
    dropped = ["libarrow_flight.so.2600", "libarrow_python_flight.so.2600", "libarrow_python.so",
               "libarrow_python.so.2600.1.0", "libarrow_s3.so.2600", "_s3fs.cpython-313-aarch64-linux-gnu.so",
               "_flight.cpython-313-aarch64-linux-gnu.so", "lib.pyx", "lib.pxd", "table.pxi"]
    for name in kept + dropped:
        (site / "pyarrow" / name).parent.mkdir(parents=True, exist_ok=True)
        (site / "pyarrow" / name).write_bytes(b"")
    layer_trim.trim(site, layer_trim.patterns_for(["pyarrow==26.0.1"]))
    assert sorted(p.name for p in (site / "pyarrow").iterdir()) == sorted(kept)


@pytest.mark.parametrize("requirements, expected", [
    (["pyarrow==26.0.1"], layer_trim.TRIMS["pyarrow"]),
    (["PyJWT==2.15.1", "cryptography==50.0.2"], ()),
])
def test_trims_apply_to_the_layers_that_install_the_package(requirements, expected):
    assert layer_trim.patterns_for(requirements) == expected
