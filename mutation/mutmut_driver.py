"""mutmut's command line, run by path from a module's scratch folder (so that only the
mutated copy of the code is importable), optionally with --whole-selection.

--whole-selection: every function the selected tests reach is checked against all of
them. mutmut picks a mutant's tests from which test was running when the function was
called; the Pulumi program under mocks runs once per session (session fixtures), inside
the first test that asks for it, so without this only that one test would check every
component function and most component mutants would survive for the wrong reason.
"""

import sys

import mutmut.__main__ as mutmut_main
from mutmut.state import state
from mutmut.stats import save_stats


def _widen(collect):
    def collect_then_widen(runner, tests=None):
        collect(runner, tests)
        everything = set(state().duration_by_test)
        for name in list(state().tests_by_mangled_function_name):
            state().tests_by_mangled_function_name[name] |= everything
        save_stats()
    return collect_then_widen


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--whole-selection"]:
        args = args[1:]
        mutmut_main.run_stats_collection = _widen(mutmut_main.run_stats_collection)
    mutmut_main.cli(args)
