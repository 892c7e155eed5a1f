"""`make bench` rewrites docs/benchmarks.md but keeps the sections other tools own."""

from bench.__main__ import kept
from bench.documents import BEFORE
from tests.fixtures.lab_reports import SETS


def test_a_bench_run_keeps_the_mutation_section():
    page = "# Benchmarks\n\n## Cold start\nold\n\n## Mutation testing (make mutate)\nkilled 97%\n\n## Later\nx\n"
    assert kept(page) == "## Mutation testing (make mutate)\nkilled 97%\n"
    assert kept("# Benchmarks\n\n## Cold start\n") == ""


def test_the_recorded_accuracy_before_is_for_the_sets_as_they_are():
    """BEFORE was measured on these sets; a sample added or removed since makes it stale."""
    assert BEFORE.keys() == SETS.keys()
    for name, samples in SETS.items():
        assert BEFORE[name]["expected"] == sum(len(sample.truth) for sample in samples)
