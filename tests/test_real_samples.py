"""Every real-format sample is fed to the code that consumes its kind of event by some
test: the test modules' `real_text(...)`/`real_json(...)` calls (tests/fixtures/real_samples.py)
are found by parsing them, and must name every sample in tests/fixtures/real_events and
nothing else (a parametrized test counts for the sample paths it names). The README records each sample's provenance."""

import ast
import filecmp
from pathlib import Path

import pytest

from tests.fixtures.real_samples import ROOT, sample_paths

TESTS = Path(__file__).resolve().parent
READERS = {"real_text", "real_json"}
SHARED = Path("/work/shared/samples/real-events")


def samples_read_by_tests() -> dict[str, set[str]]:
    """sample -> the test modules (test_*.py) that read it: the literal arguments of the
    readers, and, in a module that reads samples named by a variable (a parametrized
    test), its string constants that are the path of a sample."""
    read: dict[str, set[str]] = {}
    samples = sample_paths()
    for module in TESTS.rglob("test_*.py"):
        tree = ast.parse(module.read_text(), str(module))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", getattr(n.func, "attr", None)) in READERS and n.args]
        named = {c.args[0].value for c in calls if isinstance(c.args[0], ast.Constant)}
        if any(not isinstance(c.args[0], ast.Constant) for c in calls):
            named |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in samples}
        for sample in named:
            read.setdefault(sample, set()).add(module.relative_to(TESTS).as_posix())
    return read


def test_every_sample_is_read_by_a_test_and_every_read_names_a_sample():
    read = samples_read_by_tests()
    assert sorted(sample_paths() - read.keys()) == [], "samples no test feeds to their consumer"
    assert sorted(read.keys() - sample_paths()) == [], "tests reading samples that do not exist"


def test_the_readme_gives_every_samples_provenance():
    readme = (ROOT / "README.md").read_text()
    assert sorted(p for p in sample_paths() if f"`{p}`" not in readme) == []


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared samples exist only on the team's machines")
def test_the_repository_holds_the_shared_samples_byte_for_byte():
    shared = {p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*") if p.is_file() and p.name != "README.md"}
    assert sorted(shared - sample_paths()) == [], "copy them into tests/fixtures/real_events with their provenance"
    assert [p for p in shared if not filecmp.cmp(SHARED / p, ROOT / p, shallow=False)] == []
