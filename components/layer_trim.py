"""What a layer leaves out of the packages it installs: files the functions never load.

The pyarrow wheel is about 150 MB unzipped and zips to about 50 MB, Lambda's direct-upload
limit. The audit functions (`analytics/`, `functions/stream_processor`,
`functions/compaction`) build tables, write and read Parquet in memory, concatenate,
take and sort: `pyarrow`, `pyarrow.parquet` (which loads `pyarrow.fs` and
`pyarrow.dataset`) and compute kernels. S3 goes through boto3.

Kept on purpose: `libarrow_substrait`, `libarrow_acero`, `libarrow_dataset` and
`libarrow_compute`, because `pyarrow.lib` itself links them (readelf NEEDED), so the
loader refuses `import pyarrow` without them. tests/components/test_layer_trim.py deletes
the same patterns from this machine's pyarrow and runs what the functions run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# Distribution name (as in the requirement) -> glob patterns under the layer's python/.
TRIMS: dict[str, tuple[str, ...]] = {
    "pyarrow": (
        # For compiling against pyarrow, never for running it: C++ headers and sources,
        # Cython sources and declarations.
        "pyarrow/include",
        "pyarrow/includes",
        "pyarrow/src",
        "pyarrow/**/*.pyx",
        "pyarrow/**/*.pxd",
        "pyarrow/**/*.pxi",
        # pyarrow's own test suite.
        "pyarrow/tests",
        "pyarrow/_pyarrow_cpp_tests.*",
        # Arrow Flight (RPC), the largest library after libarrow.
        "pyarrow/*flight*",
        # Arrow's S3 filesystem: `pyarrow.fs` imports it only if present.
        "pyarrow/_s3fs.*",
        "pyarrow/libarrow_s3.so*",
        # Substrait's Python bindings (the C++ library stays: pyarrow.lib links it).
        "pyarrow/_substrait.*",
        "pyarrow/substrait.py",
        # Link-time copies of the Python glue libraries: the loader opens libX.so.NNNN
        # (their SONAME) only.
        "pyarrow/libarrow_python*.so",
        "pyarrow/libarrow_python*.so.*.*.*",
    ),
}


def _distribution(requirement: str) -> str:
    return requirement.split("==")[0].split("[")[0].strip().lower().replace("_", "-")


def patterns_for(requirements: list[str]) -> tuple[str, ...]:
    """The trim patterns that apply to a layer with these requirements."""
    names = {_distribution(r) for r in requirements}
    return tuple(p for name, patterns in sorted(TRIMS.items()) if name in names for p in patterns)


def trim(site: Path, patterns: tuple[str, ...]) -> dict[str, int]:
    """Deletes what `patterns` match under `site`; pattern -> number of paths removed."""
    removed: dict[str, int] = {}
    for pattern in patterns:
        matches = sorted(site.glob(pattern))
        for path in matches:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        removed[pattern] = len(matches)
    return removed
