from pathlib import Path

import pytest

from components import packaging
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
    assert command[command.index("--platform") + 1] == "manylinux2014_aarch64"
    assert "--only-binary=:all:" in command and "--no-compile" in command
    assert command[command.index("--python-version") + 1] == "3.13"
    assert not list(target.rglob("__pycache__")) and not (target / "python" / "bin").exists()
    assert (target / "python" / "pkg" / "__init__.py").exists() and (target / ".complete").exists()


def test_function_entries_are_packages_named_by_their_folder():
    assert Function("alpha", "").handler == "functions.alpha.handler.handler"


def test_a_function_can_bundle_a_repository_package():
    from components.packaging import ROOT
    files = packaging.function_files("stream_processor", ROOT, bundles=("analytics",))
    assert "analytics/schema.py" in files and "analytics/events.py" in files
    assert not any(k.startswith("analytics/queries/") and k.endswith(".pyc") for k in files)
    assert "functions/stream_processor/handler.py" in files and "functions/auth/handler.py" not in files
