import os
import zipfile
from pathlib import Path

import pytest

from components import layer_trim, packaging
from functions.catalog import Function
from tests.conftest import SAMPLE_CATALOG


def make_tree(root: Path) -> Path:
    for path in ["functions/__init__.py", "functions/catalog.py", "functions/common/__init__.py",
                 "functions/common/http.py", "functions/common/__pycache__/http.cpython-311.pyc",
                 "functions/alpha/__init__.py", "functions/alpha/handler.py",
                 "functions/alpha/prompts/v1.txt", "functions/alpha/__pycache__/handler.cpython-311.pyc",
                 "functions/beta/handler.py"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)
    return root


def test_archive_holds_shared_code_and_its_own_folder_only(tmp_path):
    files = packaging.function_files("alpha", make_tree(tmp_path))
    assert list(files) == sorted(files)
    assert set(files) == {"functions/__init__.py", "functions/catalog.py", "functions/common/__init__.py",
                          "functions/common/http.py", "functions/alpha/__init__.py",
                          "functions/alpha/handler.py", "functions/alpha/prompts/v1.txt"}


def test_a_function_without_a_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="gamma"):
        packaging.function_files("gamma", make_tree(tmp_path))


def test_layer_directory_follows_its_requirements():
    a = packaging.layer_dir("deps", ["PyJWT==2.15.1"])
    assert a == packaging.layer_dir("deps", ["PyJWT==2.15.1"])
    assert a != packaging.layer_dir("deps", ["PyJWT==2.15.0"])
    assert a.parent == packaging.LAYERS_DIR


def test_layers_shared_plus_one_per_function_with_extras():
    layers = packaging.layer_requirements(SAMPLE_CATALOG)
    assert set(layers) == {"deps", "streamer"}
    assert "PyJWT==2.15.1" in layers["deps"] and not any(l.startswith("#") for l in layers["deps"])
    assert layers["streamer"] == [packaging.pinned("pyarrow")]


def test_no_functions_no_layers():
    assert packaging.layer_requirements(()) == {}


def test_extras_are_pinned_from_the_lock_file(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# comment\npyarrow==26.0.1\naws_lambda_powertools==3.37.0\n")
    assert packaging.pinned("pyarrow", lock) == "pyarrow==26.0.1"
    assert packaging.pinned("aws-lambda-powertools", lock) == "aws_lambda_powertools==3.37.0"
    with pytest.raises(LookupError, match="numpy"):
        packaging.pinned("numpy", lock)


def test_layer_build_is_skipped_when_complete(monkeypatch, tmp_path):
    monkeypatch.setattr(packaging, "LAYERS_DIR", tmp_path)
    target = packaging.layer_dir("deps", ["x==1"])
    (target / "python").mkdir(parents=True)
    (target / ".complete").write_text("x==1\n")
    monkeypatch.setattr(packaging.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    assert packaging.build_layer("deps", ["x==1"]) == target


def test_layer_build_asks_pip_for_arm64_wheels_only(monkeypatch, tmp_path):
    monkeypatch.setattr(packaging, "LAYERS_DIR", tmp_path)
    calls = []

    def fake_pip(command, check):
        calls.append(command)
        site = Path(command[command.index("--target") + 1])
        (site / "pkg" / "__pycache__").mkdir(parents=True)
        (site / "pkg" / "__init__.py").write_text("")
        (site / "bin").mkdir()
        (site / "bin" / "tool").write_text("#!/home/someone/.venv/bin/python\n")

    monkeypatch.setattr(packaging.subprocess, "run", fake_pip)
    target = packaging.build_layer("deps", ["x==1"])
    command = calls[0]
    assert command == packaging.pip_install_command(["x==1"], target / "python")
    # Python 3.12+ runs on Amazon Linux 2023 (glibc 2.34), so manylinux_2_28 wheels load;
    # pyarrow 26 ships no older aarch64 wheel. https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms == ["manylinux_2_28_aarch64", "manylinux2014_aarch64"]
    assert "--only-binary=:all:" in command and "--no-compile" in command
    assert command[command.index("--python-version") + 1] == "3.13"
    assert not list(target.rglob("__pycache__")) and not (target / "python" / "bin").exists()
    assert (target / "python" / "pkg" / "__init__.py").exists() and (target / ".complete").exists()
    with zipfile.ZipFile(packaging.layer_archive(target)) as archive:
        assert archive.namelist() == ["python/pkg/__init__.py"]  # Lambda extracts python/ into /opt


def test_layer_build_trims_and_the_trim_is_part_of_the_layers_name(monkeypatch, tmp_path):
    monkeypatch.setattr(packaging, "LAYERS_DIR", tmp_path)

    def fake_pip(command, check):
        site = Path(command[command.index("--target") + 1])
        for name in ("pyarrow/__init__.py", "pyarrow/include/arrow/api.h", "pyarrow/lib.pyx",
                     "pyarrow/libarrow_flight.so.2600", "pyarrow/libarrow.so.2600"):
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_text(name)

    monkeypatch.setattr(packaging.subprocess, "run", fake_pip)
    target = packaging.build_layer("arrow", ["pyarrow==26.0.1"])
    with zipfile.ZipFile(packaging.layer_archive(target)) as archive:
        assert archive.namelist() == ["python/pyarrow/__init__.py", "python/pyarrow/libarrow.so.2600"]
    monkeypatch.setitem(layer_trim.TRIMS, "pyarrow", ("pyarrow/include",))
    assert packaging.layer_dir("arrow", ["pyarrow==26.0.1"]) != target


def test_layer_archives_are_reproducible(tmp_path):
    site = tmp_path / "python"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "b.py").write_text("b")
    (site / "pkg" / "a.so").write_bytes(b"\x7fELF")
    (site / "pkg" / "a.so").chmod(0o755)
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    packaging.zip_tree(tmp_path, site, first)
    os.utime(site / "pkg" / "b.py", (0, 0))  # a rebuild gives new mtimes
    packaging.zip_tree(tmp_path, site, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["python/pkg/a.so", "python/pkg/b.py"]
        assert archive.getinfo("python/pkg/a.so").external_attr >> 16 == 0o100755


def test_function_entries_are_packages_named_by_their_folder():
    assert Function("alpha", "").handler == "functions.alpha.handler.handler"


def test_a_function_can_bundle_a_repository_package():
    from components.packaging import ROOT
    files = packaging.function_files("stream_processor", ROOT, bundles=("analytics",))
    assert "analytics/schema.py" in files and "analytics/events.py" in files
    assert not any(k.startswith("analytics/queries/") and k.endswith(".pyc") for k in files)
    assert "functions/stream_processor/handler.py" in files and "functions/auth/handler.py" not in files
