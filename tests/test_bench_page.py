"""`make bench` rewrites docs/benchmarks.md but keeps the sections other tools own."""

from bench.__main__ import kept


def test_a_bench_run_keeps_the_mutation_section():
    page = "# Benchmarks\n\n## Cold start\nold\n\n## Mutation testing (make mutate)\nkilled 97%\n\n## Later\nx\n"
    assert kept(page) == "## Mutation testing (make mutate)\nkilled 97%\n"
    assert kept("# Benchmarks\n\n## Cold start\n") == ""
