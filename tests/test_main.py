"""`__main__.py`, the entry point `pulumi up` runs, under mocks: it reads the stack's
settings through pulumi.Config, builds the layers and exports the stack's names."""

import runpy
from pathlib import Path

import pulumi
import pytest

from components import packaging
from components.config import ROOT, stack_config
from local.program import RecordingMocks, install
from tests.conftest import SAMPLE_CATALOG


def evaluate_main(stack: str, monkeypatch) -> tuple[RecordingMocks, dict]:
    """Runs `__main__.py` as `pulumi up` does, under recording mocks: (mocks, exports)."""
    mocks = RecordingMocks()
    install(mocks, stack)
    pulumi.runtime.set_all_config(stack_config(stack))
    exported = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(ROOT / "__main__.py"))
        return pulumi.Output.from_input(exported).apply(exported.update)

    program()
    return mocks, exported


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_program_entry_point_exports_the_stack(stack, monkeypatch, fake_code):
    monkeypatch.setattr("functions.catalog.CATALOG", SAMPLE_CATALOG)
    built = []
    monkeypatch.setattr(packaging, "build_layer", lambda name, reqs: built.append(name) or packaging.layer_dir(name, reqs))
    mocks, exported = evaluate_main(stack, monkeypatch)
    assert built == ["deps", "pyarrow"]  # built before deploying, not left to the engineer
    assert exported["table"] == f"serenya-{stack}"
    assert exported["temp_bucket"].startswith(f"serenya-{stack}-temp-")
    assert {"events_bucket", "data_key_arn", "signing_key_arn", "secret_arn"} <= set(exported)
    assert sorted(exported["functions"]) == sorted(fn.name for fn in SAMPLE_CATALOG)
    assert mocks.one("aws:dynamodb/table:Table").inputs["name"] == f"serenya-{stack}"


def test_a_bad_stack_file_stops_the_program_naming_the_key(monkeypatch):
    config = {**stack_config("dev"), "serenya:logRetentionDays": "10"}
    pulumi.runtime.set_mocks(RecordingMocks(), project="serenya", stack="dev", preview=False)
    pulumi.runtime.set_all_config(config)
    with pytest.raises(Exception, match="serenya:logRetentionDays"):
        runpy.run_path(str(ROOT / "__main__.py"))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_real_program_builds_its_layers_and_evaluates(stack, monkeypatch):
    """What `pulumi up` does first on a fresh clone: the real catalog, the layers built by
    pip for Lambda's platform (cached in build/layers by requirement hash), every function
    given its archive and its layers."""
    from functions.catalog import CATALOG

    mocks, exported = evaluate_main(stack, monkeypatch)
    assert sorted(exported["functions"]) == sorted(fn.name for fn in CATALOG)
    # Safe to live with: no permission names a qualified ARN (replaced on every update),
    permissions = mocks.of_type("aws:lambda/permission:Permission")
    assert permissions and not any(p.inputs["function"].startswith("arn:") for p in permissions)
    assert any(p.inputs.get("qualifier") == "live" for p in permissions) is (stack == "prod")
    # every custom metric an alarm reads carries the stack,
    custom = [q["metric"]["dimensions"] for a in mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              for q in a.inputs.get("metricQueries", []) if q.get("metric", {}).get("namespace") == "Serenya"]
    custom += [a.inputs["dimensions"] for a in mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
               if a.inputs.get("namespace") == "Serenya"]
    assert len(custom) > 5 and all(d["stack"] == stack for d in custom)
    # and no AWS provider of its own drops aws:profile, aws:assumeRoles, aws:allowedAccountIds.
    assert not mocks.of_type("pulumi:providers:aws") and not any(o.provider for o in mocks.options.values())
    layers = mocks.of_type("aws:lambda/layerVersion:LayerVersion")
    assert {l.inputs["layerName"].removeprefix(f"serenya-{stack}-layer-") for l in layers} == \
        set(packaging.layer_requirements(CATALOG))
    for layer in layers:
        archive = layer.inputs.get("code")  # None: published through the artifacts bucket
        assert archive is None or Path(archive.path).is_file()
