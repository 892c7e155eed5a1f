"""Packaging of function code and dependency layers.

Each function's archive holds only what it runs: `functions/__init__.py`,
`functions/common/` and its own folder, never caches or editor and OS litter, so an
unchanged function keeps its code hash and is not redeployed. The catalog
(`functions/catalog.py`) is the program's, not the functions': no function imports it
at run time, so an alarm threshold edited there redeploys nothing. Third-party packages
go into layers built for arm64 with pip's platform flags (wheels only, no compilation,
no `__pycache__`) and the lock file as constraints, trimmed of what the functions never
load (components/layer_trim.py) and zipped reproducibly, so the same requirements always
give the same archive, whose size decides how it is published (components/processing.py).
Functions that bundle the same extra packages share one layer.

`python -m components.packaging` (or `make layer`) builds the layers; the Pulumi
program builds them on demand before `pulumi up`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

from components import layer_trim
from components.config import LAMBDA_RUNTIME
from functions.catalog import CATALOG, Function

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
RUNTIME_REQUIREMENTS = ROOT / "requirements" / "runtime.txt"
LOCK_FILE = ROOT / "requirements" / "lock.txt"
LAYERS_DIR = ROOT / "build" / "layers"
# Lambda runs Python 3.12 and later on Amazon Linux 2023 (glibc 2.34), which loads
# manylinux_2_28 wheels; some packages publish nothing older for aarch64 (pyarrow 26).
# pip accepts a wheel for any of the platforms given. Lambda runtimes and their OS:
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
PIP_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux2014_aarch64")
ARCHIVE_NAME = "layer.zip"
SHARED_LAYER = "deps"
# Caches, OS and editor litter never enter an archive: they would change its hash (and
# redeploy the function) on one machine and not another.
_SKIPPED = re.compile(
    r"(^|/)(__pycache__|\.[a-z_]*cache|\.DS_Store|\.idea|\.vscode|Thumbs\.db)(/|$)"
    r"|\.py[co]$|\.sw[a-p]$|~$|(^|/)\.#|(^|/)#[^/]*#$"
)


def function_files(name: str, root: Path = ROOT, bundles: tuple[str, ...] = ()) -> dict[str, Path]:
    """Archive path -> source file for one function's package, sorted and cache-free."""
    functions = root / "functions"
    sources = [functions / "__init__.py"]
    for folder in (functions / "common", functions / name, *(root / b for b in bundles)):
        if not folder.is_dir():
            raise FileNotFoundError(f"function {name!r}: {folder} does not exist")
        sources.extend(p for p in folder.rglob("*") if p.is_file())
    files = {p.relative_to(root).as_posix(): p for p in sources}
    return {k: files[k] for k in sorted(files) if not _SKIPPED.search(k)}


def function_archive(name: str, bundles: tuple[str, ...] = ()):
    import pulumi

    return pulumi.AssetArchive({k: pulumi.FileAsset(str(p)) for k, p in function_files(name, bundles=bundles).items()})


def pinned(package: str, lock_file: Path = LOCK_FILE) -> str:
    """`package==version` from the lock file, so layers carry what the tests ran against."""
    wanted = _normalise(package)
    for line in lock_file.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and _normalise(name) == wanted:
            return f"{name.strip()}=={version.strip()}"
    raise LookupError(f"{package} is not pinned in {lock_file}")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def extras_layer(fn: Function) -> str | None:
    """The layer of a function's extra packages, named by them: functions bundling the
    same packages (the two audit functions and pyarrow) share one layer, uploaded once."""
    return "-".join(sorted(_normalise(p) for p in fn.extra_packages)) or None


def layer_requirements(catalog: tuple[Function, ...] = CATALOG) -> dict[str, list[str]]:
    """Layer name -> requirement lines: the shared layer, plus one per set of extra
    packages (pyarrow stays out of every other function's cold start)."""
    if not catalog:
        return {}
    shared = [
        line
        for line in RUNTIME_REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    layers = {SHARED_LAYER: shared}
    for fn in catalog:
        extras = extras_layer(fn)
        if extras:
            layers[extras] = [pinned(p) for p in sorted(fn.extra_packages, key=_normalise)]
    return layers


def layer_dir(layer: str, requirements: list[str]) -> Path:
    """Where a layer lives: named by a hash of how it is built, so a change rebuilds it."""
    # The lock file constrains what pip picks for the transitive dependencies: a new pin there
    # is a new build.
    recipe = [
        LAMBDA_RUNTIME,
        *PIP_PLATFORMS,
        *requirements,
        *layer_trim.patterns_for(requirements),
        hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest(),
    ]
    digest = hashlib.sha256("\n".join(recipe).encode()).hexdigest()[:16]
    return LAYERS_DIR / f"{layer}-{digest}"


def layer_archive(directory: Path) -> Path:
    """The zip published for a layer directory (its python/ folder, reproducibly zipped)."""
    return directory / ARCHIVE_NAME


def pip_install_command(requirements: list[str], target: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """The one pip command for a layer: the build runs it, the resolution test runs it with
    `extra` = `--dry-run ...`, so what CI resolves is what `pulumi up` installs. The lock
    file is a constraints file (`-c`): transitive packages are the versions the tests ran
    with, not whatever PyPI holds on the day, so a fresh machine builds the same layer
    (https://pip.pypa.io/en/stable/user_guide/#constraints-files)."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        *(arg for platform in PIP_PLATFORMS for arg in ("--platform", platform)),
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_RUNTIME.removeprefix("python"),
        "--target",
        str(target),
        "-c",
        str(LOCK_FILE),
        *extra,
        *requirements,
    ]


def build_layer(layer: str, requirements: list[str]) -> Path:
    """Installs `requirements` for Lambda arm64 into <layer dir>/python, trims it and
    zips it into <layer dir>/layer.zip (idempotent)."""
    target = layer_dir(layer, requirements)
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    site = target / "python"
    subprocess.run(pip_install_command(requirements, site), check=True)
    # Caches and console scripts (whose shebang names this machine's Python) would make
    # the archive differ between machines; Lambda needs neither.
    for generated in [*target.rglob("__pycache__"), site / "bin"]:
        shutil.rmtree(generated, ignore_errors=True)
    layer_trim.trim(site, layer_trim.patterns_for(requirements))
    zip_tree(target, site, layer_archive(target))
    (target / ".complete").write_text("\n".join(requirements) + "\n")
    return target


def zip_tree(base: Path, top: Path, archive: Path) -> None:
    """Zips `top` with names relative to `base`, sorted, with fixed timestamps and modes
    (0644, or 0755 for executables), so the same files always give the same bytes."""
    files = sorted(p for p in top.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(base).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, out.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def layers_of(fn: Function, built: Iterable[str]) -> tuple[str, ...]:
    """The project's layers a function gets (after AWS's Powertools layer): the shared one,
    then the one of its extra packages if it has some."""
    built, extras = set(built), extras_layer(fn)
    return (SHARED_LAYER, *((extras,) if extras in built else ()))


def layer_paths(catalog: tuple[Function, ...] = CATALOG, build: bool = False) -> dict[str, Path]:
    """Layer name -> directory; builds missing layers when `build` is set."""
    make = build_layer if build else layer_dir
    return {name: make(name, reqs) for name, reqs in layer_requirements(catalog).items()}


if __name__ == "__main__":
    for name, path in layer_paths(build=True).items():
        print(f"layer {name}: {path.relative_to(ROOT)}")
