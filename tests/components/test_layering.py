"""The infrastructure does not depend on the local stack: `components/` is what `pulumi up`
runs, `local/` a stand-in built on top of it (DESIGN.md, Layout). An import the other
way would deploy the emulator's code paths, or break `pulumi up` where they cannot load."""

import ast

import pytest

from components.config import ROOT


def imported_modules(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_under_components_imports_local():
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path)
                                                     if m == "local" or m.startswith("local."))
                 for path in sorted((ROOT / "components").rglob("*.py"))}
    assert not {path: modules for path, modules in offenders.items() if modules}


def test_the_scan_sees_imports_inside_functions(tmp_path):
    """`components/runbooks.py` used to import local.program inside main(): the scan must find those."""
    module = tmp_path / "m.py"
    module.write_text("def main():\n    from local.program import stack_config\n    import local.server\n")
    assert {"local.program", "local.server"} <= imported_modules(module)


def test_a_loop_over_a_resource_type_that_does_not_exist_fails_rather_than_passing_on_nothing(dev_run):
    """A misspelt or renamed type token (pulumi-aws renames some between majors) would make
    every `for r in mocks.of_type(...)` check pass vacuously; real types with no resource
    in this stack stay an empty list (the checks that dev has none)."""
    assert dev_run.mocks.of_type("aws:s3/bucket:Bucket")
    assert dev_run.mocks.of_type("serenya:storage:SecureBucket")
    assert dev_run.mocks.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig") == []
    for wrong in ("aws:s3/bucketv2:BucketV2", "aws:s3/Bucket:Bucket", "serenya:storage:Bucket"):
        with pytest.raises(ValueError, match="not a resource type"):
            dev_run.mocks.of_type(wrong)
