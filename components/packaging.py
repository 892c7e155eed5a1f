"""Packaging of function code and dependency layers.

Each function's archive holds only what it runs: `functions/__init__.py`, the catalog,
`functions/common/` and its own folder, never caches, so an unchanged function keeps
its code hash and is not redeployed. Third-party packages go into layers built for
arm64 with pip's platform flags (wheels only, no compilation, no `__pycache__`), so
the same requirements always give the same files.

`python -m components.packaging` (or `make layer`) builds the layers; the Pulumi
program builds them on demand before `pulumi up`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

from components.config import LAMBDA_RUNTIME
from functions.catalog import CATALOG, Function

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
RUNTIME_REQUIREMENTS = ROOT / "requirements" / "runtime.txt"
LOCK_FILE = ROOT / "requirements" / "lock.txt"
LAYERS_DIR = ROOT / "build" / "layers"
PIP_PLATFORM = "manylinux2014_aarch64"
SHARED_LAYER = "deps"
_SKIPPED = re.compile(r"(^|/)(__pycache__|\.pytest_cache)(/|$)|\.py[co]$")


def function_files(name: str, root: Path = ROOT, bundles: tuple[str, ...] = ()) -> dict[str, Path]:
    """Archive path -> source file for one function's package, sorted and cache-free."""
    functions = root / "functions"
    sources = [functions / "__init__.py", functions / "catalog.py"]
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


def layer_requirements(catalog: tuple[Function, ...] = CATALOG) -> dict[str, list[str]]:
    """Layer name -> requirement lines: the shared layer, plus one per function that
    bundles extra packages (pyarrow stays out of every other function's cold start)."""
    if not catalog:
        return {}
    shared = [line for line in RUNTIME_REQUIREMENTS.read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    layers = {SHARED_LAYER: shared}
    for fn in catalog:
        if fn.extra_packages:
            layers[fn.name] = [pinned(p) for p in fn.extra_packages]
    return layers


def layer_dir(layer: str, requirements: list[str]) -> Path:
    """Where a layer lives: named by a hash of its requirements, so a change rebuilds it."""
    digest = hashlib.sha256("\n".join([LAMBDA_RUNTIME, PIP_PLATFORM, *requirements]).encode()).hexdigest()[:16]
    return LAYERS_DIR / f"{layer}-{digest}"


def build_layer(layer: str, requirements: list[str]) -> Path:
    """Installs `requirements` for Lambda arm64 into <layer dir>/python (idempotent)."""
    target = layer_dir(layer, requirements)
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    python_version = LAMBDA_RUNTIME.removeprefix("python")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--only-binary=:all:", "--platform", PIP_PLATFORM,
         "--implementation", "cp", "--python-version", python_version,
         "--target", str(target / "python"), *requirements],
        check=True)
    # Caches and console scripts (whose shebang names this machine's Python) would make
    # the archive differ between machines; Lambda needs neither.
    for generated in [*target.rglob("__pycache__"), target / "python" / "bin"]:
        shutil.rmtree(generated, ignore_errors=True)
    (target / ".complete").write_text("\n".join(requirements) + "\n")
    return target


def layer_paths(catalog: tuple[Function, ...] = CATALOG, build: bool = False) -> dict[str, Path]:
    """Layer name -> directory; builds missing layers when `build` is set."""
    make = build_layer if build else layer_dir
    return {name: make(name, reqs) for name, reqs in layer_requirements(catalog).items()}


if __name__ == "__main__":
    for name, path in layer_paths(build=True).items():
        print(f"layer {name}: {path.relative_to(ROOT)}")
