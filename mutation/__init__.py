"""`make mutate`: mutation testing of the modules that guard data and money, with
mutmut 3 (one forked pytest per mutant, only the tests that reach the mutated function).

Each module runs in its own scratch folder under build/mutation/ (mutmut keeps its copy,
`mutants/`, and its configuration, `setup.cfg`, in the folder it runs in), with only the
tests listed for it in `mutation.modules`, so a module finishes in minutes on two cores.
mutmut 3 leaves decorated functions and module-level code alone; the mutants an audit
found there are replayed by hand (`mutation.modules.AUDIT_MUTANTS`).
"""
