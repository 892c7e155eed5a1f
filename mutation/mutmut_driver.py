"""mutmut's command line, run by path from a module's scratch folder (so that only the
mutated copy of the code is importable), with two additions:

--whole-selection: every function the selected tests reach is checked against all of
them. mutmut picks a mutant's tests from which test was running when the function was
called; the Pulumi program under mocks runs once per session (session fixtures), inside
the first test that asks for it, so without this only that one test would check every
component function and most component mutants would survive for the wrong reason.

--sample N --seed S --record FILE: `mutmut run` checks N of the module's mutants, drawn
with seed S once mutmut has generated them all (mutation/sampling.py), and FILE receives
how many were generated and which were drawn. N = 0 checks every mutant.

The runner gives every run a fresh scratch folder, so mutmut always collects its stats
first: a run of the selected tests on the unmutated code that must pass. Its "clean
tests" run that follows would run the same tests on the same code again (minutes per
module here), so it is skipped once the stats pass has passed in this process.
"""

import argparse
import json
import sys
from pathlib import Path

import mutmut.__main__ as mutmut_main
from mutmut.state import state
from mutmut.stats import save_stats

import sampling  # mutation/sampling.py: this script's folder is sys.path[0]


def _widen(collect):
    def collect_then_widen(runner, tests=None):
        collect(runner, tests)
        everything = set(state().duration_by_test)
        for name in list(state().tests_by_mangled_function_name):
            state().tests_by_mangled_function_name[name] |= everything
        save_stats()
    return collect_then_widen


_stats_passed = False


def _remember_stats(collect):
    def collect_and_remember(runner, tests=None):
        global _stats_passed
        collect(runner, tests)  # exits the process unless the selected tests passed
        _stats_passed = True
    return collect_and_remember


def _clean_run_once(get_runner):
    def get_runner_without_second_clean_run(*args, **kwargs):
        runner = get_runner(*args, **kwargs)
        run_clean_tests = runner.run_clean_tests
        runner.run_clean_tests = lambda tests: 0 if _stats_passed else run_clean_tests(tests)
        return runner
    return get_runner_without_second_clean_run


def _sampled(collect, size: int, seed: int, record: Path):
    """mutmut reads the mutants to check through `collect_source_file_mutation_data`, after
    generating them: keep a seeded sample of them (unless mutants were named)."""
    def collect_sample(*, mutant_names):
        mutants, by_path = collect(mutant_names=mutant_names)
        population = [name for _, name, _ in mutants]
        chosen = set(population if mutant_names else sampling.sample(population, size, seed))
        record.write_text(json.dumps({"generated": len(set(population)), "size": size, "seed": seed,
                                      "sample": sorted(chosen)}, indent=1))
        return [m for m in mutants if m[1] in chosen], by_path
    return collect_sample


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="mutmut_driver.py")
    parser.add_argument("--whole-selection", action="store_true")
    parser.add_argument("--sample", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", type=Path)
    parser.add_argument("mutmut", nargs=argparse.REMAINDER, help="mutmut's own command line")
    args = parser.parse_args(argv)
    if args.whole_selection:
        mutmut_main.run_stats_collection = _widen(mutmut_main.run_stats_collection)
    mutmut_main.run_stats_collection = _remember_stats(mutmut_main.run_stats_collection)
    mutmut_main.get_mutant_runner = _clean_run_once(mutmut_main.get_mutant_runner)
    if args.record:
        mutmut_main.collect_source_file_mutation_data = _sampled(
            mutmut_main.collect_source_file_mutation_data, args.sample, args.seed, args.record.resolve())
    mutmut_main.cli(args.mutmut)


if __name__ == "__main__":
    main(sys.argv[1:])
