"""`make mutate`'s configuration (mutation/modules.py) names what exists, and mutmut reads
the configuration the runner writes as intended. Fast: nothing is mutated here."""

from pathlib import Path

import pytest

from mutation import __main__ as runner
from mutation.modules import ALSO_COPY, AUDIT_MUTANTS, MODULES, SOURCE_PACKAGES, module_of

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", MODULES)
def test_every_module_exists_and_holds_python(module):
    path = ROOT / module
    assert path.exists(), module
    files = [path] if path.is_file() else list(path.rglob("*.py"))
    assert files and all(f.suffix == ".py" for f in files)
    assert module.split("/")[0] in SOURCE_PACKAGES  # only what mutmut copies can be mutated


@pytest.mark.parametrize("module", MODULES)
def test_every_module_names_existing_tests(module):
    assert MODULES[module]
    for test in MODULES[module]:
        assert (ROOT / test).exists(), test
        assert test.startswith("tests/")


def test_everything_copied_for_the_tests_exists():
    for name in (*SOURCE_PACKAGES, *ALSO_COPY):
        assert (ROOT / name).exists(), name


@pytest.mark.parametrize("mutant", AUDIT_MUTANTS, ids=lambda m: m.name)
def test_every_hand_mutant_still_applies_once_and_names_existing_tests(mutant):
    text = (ROOT / mutant.path).read_text()
    assert text.count(mutant.old) == 1, f"{mutant.name}: the code changed, update mutation/modules.py"
    assert mutant.old != mutant.new
    assert mutant.tests and all((ROOT / t).exists() for t in mutant.tests)
    assert mutant.why


def test_hand_mutant_names_are_unique():
    names = [m.name for m in AUDIT_MUTANTS]
    assert len(names) == len(set(names))


def test_module_of_matches_folders_and_files_only_on_boundaries():
    assert module_of("functions/upload/handler.py") == "functions/upload"
    assert module_of("components/iam.py") == "components/iam.py"
    assert module_of("functions/uploads/handler.py") is None
    assert module_of("components/api.py") is None


def test_mutmut_reads_the_configuration_the_runner_writes(tmp_path, monkeypatch):
    from mutmut import configuration

    monkeypatch.setattr(runner, "BUILD", tmp_path)
    work = runner._workdir("functions/upload")
    assert all((work / name).resolve() == (ROOT / name).resolve() for name in SOURCE_PACKAGES)
    monkeypatch.chdir(work)
    configuration.reset_config()
    try:
        config = configuration.config()
        assert [str(p) for p in config.source_paths] == list(SOURCE_PACKAGES)
        assert config.pytest_add_cli_args_test_selection == list(MODULES["functions/upload"])
        assert config.should_mutate("functions/upload/handler.py")
        assert not config.should_mutate("functions/common/crypto.py")
        assert not config.should_mutate("components/iam.py")
        assert Path("local") in config.also_copy and Path("tests/") in config.also_copy
    finally:
        configuration.reset_config()


def test_make_mutate_runs_the_runner_and_make_test_does_not():
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\nmutate:", 1)[1].split("\n\n", 1)[0]
    assert "-m mutation" in target and "--max-children 2" in target
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "mutation" not in test_target and "mutmut" not in test_target
