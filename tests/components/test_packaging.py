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
                 "functions/beta/handler.py",
                 # OS and editor litter, tool caches
                 "functions/.DS_Store", "functions/alpha/.DS_Store", "functions/common/.http.py.swp",
                 "functions/alpha/handler.py~", "functions/alpha/.#handler.py", "functions/alpha/#handler.py#",
                 "functions/.mypy_cache/3.11/x.json", "functions/alpha/.ruff_cache/x",
                 "functions/common/.pytest_cache/v/x"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)
    return root


def test_archive_holds_shared_code_and_its_own_folder_only(tmp_path):
    files = packaging.function_files("alpha", make_tree(tmp_path))
    assert list(files) == sorted(files)
    # No catalog: it is the program's; an alarm threshold edited there redeploys nothing.
    assert set(files) == {"functions/__init__.py", "functions/common/__init__.py",
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
    assert set(layers) == {"deps", "pyarrow"}
    assert "PyJWT==2.15.1" in layers["deps"] and not any(l.startswith("#") for l in layers["deps"])
    assert layers["pyarrow"] == [packaging.pinned("pyarrow")]


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
    assert "analytics/writer.py" in files and not any(k.endswith((".pyc", ".sql")) for k in files)
    assert "functions/stream_processor/handler.py" in files and "functions/auth/handler.py" not in files


def test_functions_bundling_the_same_packages_share_one_layer():
    from functions.catalog import CATALOG, by_name

    layers = packaging.layer_requirements(CATALOG)
    assert set(layers) == {"deps", "pyarrow", "pillow-pypdf"}  # pyarrow once, for both audit functions
    functions = by_name(CATALOG)
    assert packaging.layers_of(functions["stream_processor"], layers) == \
        packaging.layers_of(functions["compaction"], layers) == ("deps", "pyarrow")
    assert packaging.layers_of(functions["process"], layers) == ("deps", "pillow-pypdf")
    assert packaging.layers_of(functions["auth"], layers) == ("deps",)


def test_the_offline_analysers_ocr_reaches_no_layer():
    """OCR is the local stack's (requirements/dev.txt, local/offline/ocr.py): its models and
    native libraries (about 360 MB installed) must never be packaged for Lambda."""
    from functions.catalog import CATALOG

    def names(lines):
        return {packaging._normalise(line.partition("==")[0]) for line in lines if "==" in line}

    ocr = {"rapidocr", "onnxruntime", "opencv-python-headless", "numpy"}
    requirements = packaging.ROOT / "requirements"
    layered = [line for lines in packaging.layer_requirements(CATALOG).values() for line in lines]
    assert names(layered) and not names(layered + (requirements / "runtime.txt").read_text().splitlines()) & ocr
    assert {"rapidocr", "onnxruntime"} <= names((requirements / "dev.txt").read_text().splitlines())


def test_layers_install_with_the_lock_file_as_constraints():
    """Without `-c`, pip picks the newest transitive packages of the day: a fresh machine
    would publish a new layer version (https://pip.pypa.io/en/stable/user_guide/#constraints-files)."""
    command = packaging.pip_install_command(["PyJWT==2.15.1"], Path("/tmp/x"))
    assert command[command.index("-c") + 1] == str(packaging.LOCK_FILE)
    assert packaging.LOCK_FILE.is_file() and "cffi==" in packaging.LOCK_FILE.read_text()


def test_the_lock_file_is_part_of_a_layers_recipe(monkeypatch, tmp_path):
    before = packaging.layer_dir("deps", ["PyJWT==2.15.1"])
    lock = tmp_path / "lock.txt"
    lock.write_text(packaging.LOCK_FILE.read_text().replace("cffi==", "cffi==0.0.0+"))
    monkeypatch.setattr(packaging, "LOCK_FILE", lock)
    assert packaging.layer_dir("deps", ["PyJWT==2.15.1"]) != before


def _imports_of_functions(path: Path) -> set[str]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.split(".")[0] == "functions"}


def test_every_function_archive_holds_what_its_code_imports_and_not_the_catalog():
    """Each `functions.*` module the archive's code imports is in the archive; the catalog
    is not, so editing it (an alarm threshold) changes no function's code hash."""
    from functions.catalog import CATALOG

    for fn in CATALOG:
        files = packaging.function_files(fn.name, bundles=fn.bundles)
        assert "functions/catalog.py" not in files, fn.name
        modules = {k.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                   for k in files if k.endswith(".py")}
        for path in (p for k, p in files.items() if k.endswith(".py")):
            for module in _imports_of_functions(path):
                # `from functions.common import x` names a module or a name inside one.
                assert module in modules or module.rsplit(".", 1)[0] in modules, (fn.name, path.name, module)


# -- only the product: every archived file is something a function runs ----------------
# Derived from the import graph, not from a list of what to keep out: an archive may hold
# a module only if some catalog function's handler reaches it by imports (lazy ones and
# `lazy.preload` names included; not an import under an `if` on the environment, which a
# deployed function never takes: that is how the offline analyser once rode along), and a
# data file only if a reached module names it, or names its folder and its stem (prompts/
# read as f"{name}.{version}.md"). What only the local stack, the tests or a CLI use (the
# offline analyser, the DuckDB runner, named queries) is thus refused wherever it is put.

def _module_path(root: Path, name: str):
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


_ENVIRONMENT = {"environ", "getenv", "settings"}


def _on_the_environment(test) -> bool:
    import ast

    return any(isinstance(n, ast.Name) and n.id in _ENVIRONMENT or isinstance(n, ast.Attribute) and n.attr in
               _ENVIRONMENT for n in ast.walk(test))


def _nodes(tree, skip_environment_branches: bool = True):
    """The nodes of `tree`, but those under an `if` on the environment (os.environ, getenv,
    settings) when `skip_environment_branches`; else (node, under such an if)."""
    import ast

    todo = [(tree, False)]
    while todo:
        node, conditional = todo.pop()
        if conditional and skip_environment_branches:
            continue
        yield node if skip_environment_branches else (node, conditional)
        inside = conditional or isinstance(node, ast.If | ast.IfExp) and _on_the_environment(node.test)
        todo += [(child, inside) for child in ast.iter_child_nodes(node)]


def _reached(root: Path, entries) -> tuple[set[Path], set[str]]:
    """The repository modules `entries` reach by imports, and the string constants in them."""
    import ast

    todo, modules, strings = list(entries), set(), set()
    while todo:
        name = todo.pop()
        path = _module_path(root, name)
        if path is None or path in modules:
            continue
        modules.add(path)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        package = name if path.name == "__init__.py" else ".".join(parts[:-1])
        for node in _nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                todo += [base, *(f"{base}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
                if node.value.startswith("functions."):  # lazy.preload("functions.process.tasks")
                    todo.append(node.value)
    return modules, strings


def _strays(root: Path, catalog) -> dict[str, list[str]]:
    """Function -> archived files no function runs, and reached modules its archive lacks."""
    handlers = [fn.handler.rpartition(".")[0] for fn in catalog]
    product, strings = _reached(root, handlers)
    found = {}
    for fn in catalog:
        files = packaging.function_files(fn.name, root, bundles=fn.bundles)
        stray = [k for k, p in files.items() if (p not in product if k.endswith(".py") else
                 not (p.name in strings or p.parent.name in strings and p.name.split(".")[0] in strings))]
        own, _ = _reached(root, [fn.handler.rpartition(".")[0]])
        stray += [f"missing {p.relative_to(root)}" for p in own if p.relative_to(root).as_posix() not in files]
        if stray:
            found[fn.name] = sorted(stray)
    return found


def test_every_lambda_archive_holds_only_what_the_functions_run():
    from functions.catalog import CATALOG

    assert _strays(packaging.ROOT, CATALOG) == {}


def test_a_module_or_data_file_no_function_reaches_is_found(tmp_path):
    """The check above can fail: a stand-in, its data and a folder of queries shipped by a
    function or a bundle are found, and so is a reached module left out of the archive."""
    tree = {
        "functions/__init__.py": "",
        "functions/common/__init__.py": "",
        "functions/common/shared.py": "NAME = 'table.json'\nPROMPTS, LAB = 'prompts', 'lab'\n",
        "functions/common/table.json": "{}",
        "functions/alpha/__init__.py": "",
        "functions/alpha/handler.py": "import os\nfrom functions.common import shared\nfrom lake import writer\n"
                                      "from tools import helper\n"
                                      "if os.environ.get('AI_PROVIDER') == 'offline':\n"
                                      "    from functions.alpha import offline\n",
        "functions/alpha/offline.py": "",
        "functions/alpha/prompts/lab.v1.md": "read as prompts/{name}.v1.md",
        "functions/alpha/prompts/table.v1.json": "a data file copied beside the prompts",
        "functions/common/catalogue.json": "{}",
        "functions/alpha/prompts/one.md": "read by nobody",
        "functions/alpha/standin.py": "from functions.alpha import catalogue_reader\n",
        "functions/alpha/catalogue_reader.py": "PATH = 'catalogue.json'\n",
        "functions/alpha/catalogue.json": "{}",
        "lake/__init__.py": "", "lake/writer.py": "",
        "lake/runner.py": "QUERIES = 'queries'\n", "lake/queries/one.sql": "select 1",
        "tools/__init__.py": "", "tools/helper.py": "",
    }
    for path, text in tree.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    strays = _strays(tmp_path, (Function("alpha", "", bundles=("lake",)),))
    assert strays == {"alpha": ["functions/alpha/catalogue.json", "functions/alpha/catalogue_reader.py",
                                "functions/alpha/offline.py", "functions/alpha/prompts/one.md",
                                "functions/alpha/prompts/table.v1.json", "functions/alpha/standin.py",
                                "functions/common/catalogue.json",
                                "lake/queries/one.sql", "lake/runner.py",
                                "missing tools/__init__.py", "missing tools/helper.py"]}


def test_no_product_module_imports_on_a_condition_of_the_environment():
    """What a deployed function runs does not depend on a variable: a stand-in imported
    under `if os.environ...` rode in the process archive once, out of the import graph's
    sight. The product's environment-conditional imports (there are none) would be here."""
    import ast

    found = []
    for path in [p for package in ("functions", "analytics") for p in packaging.ROOT.joinpath(package).rglob("*.py")]:
        for node, conditional in _nodes(ast.parse(path.read_text()), skip_environment_branches=False):
            if conditional and isinstance(node, ast.Import | ast.ImportFrom):
                found.append(f"{path.relative_to(packaging.ROOT)}:{node.lineno}")
    assert found == []
    sample = "import os\nif os.environ.get('X'):\n    import json\nif True:\n    import re\n"
    flagged = [n for n, c in _nodes(ast.parse(sample), skip_environment_branches=False)
               if c and isinstance(n, ast.Import)]
    assert [a.name for n in flagged for a in n.names] == ["json"]
