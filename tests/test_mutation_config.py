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
    assert "--sample $(SAMPLE)" in target and "--seed $(SEED)" in target  # a seeded sample by default
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "mutation" not in test_target and "mutmut" not in test_target


def test_the_sample_depends_on_the_seed_and_the_names_only():
    from mutation.sampling import sample

    names = [f"m.x_f__mutmut_{i}" for i in range(1, 101)]
    drawn = sample(names, 10, seed=18)
    assert len(drawn) == len(set(drawn)) == 10 and set(drawn) <= set(names)
    assert sample(list(reversed(names)) + names[:5], 10, seed=18) == drawn  # order and repeats do not matter
    assert sample(names, 10, seed=19) != drawn
    assert sample(names, 0, seed=18) == sorted(names) == sample(names, 500, seed=18)  # 0 or more: every mutant


@pytest.mark.parametrize("killed, n, low, high", [
    # Newcombe (1998), Table I, method 3 (Wilson's score interval without continuity correction)
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_intervals_match_the_published_values(killed, n, low, high):
    from mutation.sampling import wilson

    assert wilson(killed, n) == pytest.approx((low, high), abs=5e-5)


def test_wilson_intervals_stay_inside_zero_and_one_and_shrink_with_the_sample():
    from mutation.sampling import wilson

    assert wilson(20, 20)[1] == 1.0 and wilson(20, 20)[0] < 1.0
    assert wilson(0, 0) == (0.0, 1.0)
    narrow, wide = wilson(900, 1000), wilson(9, 10)
    assert wide[0] < narrow[0] < 0.9 < narrow[1] < wide[1]


def test_the_total_weights_each_module_by_its_mutants():
    from mutation.sampling import Stratum, stratified, wilson

    # a small module checked whole at 50% and a large one sampled at 100%
    total = stratified([Stratum(population=10, n=10, killed=5), Stratum(population=990, n=60, killed=60)])
    assert total.ratio == pytest.approx(0.995)  # not the pooled 65 of 70
    assert total.low < total.ratio <= total.high <= 1.0
    one = stratified([Stratum(population=500, n=60, killed=54)])
    assert one.ratio == pytest.approx(0.9)
    # one stratum: Wilson on its sample (the effective size is never more than what was checked)
    assert one.n_effective == pytest.approx(60) and (one.low, one.high) == pytest.approx(wilson(54, 60))
    # a small module sampled as much as a large one tells little about the total: fewer
    # effective mutants than checked, and a wider interval than 120 mutants drawn at random
    two = stratified([Stratum(100, 60, 30), Stratum(10_000, 60, 54)])
    assert two.ratio == pytest.approx((100 * 0.5 + 10_000 * 0.9) / 10_100)
    assert 60 < two.n_effective < 70
    as_if_simple = wilson(two.ratio * 120, 120)
    assert two.high - two.low > as_if_simple[1] - as_if_simple[0]
    assert stratified([]).ratio == 0.0 and stratified([Stratum(5, 0, 0)]).n_effective == 0.0
