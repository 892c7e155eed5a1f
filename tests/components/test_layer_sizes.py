"""What AWS refuses at deployment and the mocks accept: the real layers, built for Lambda
(into build/layers, cached by recipe), against Lambda's documented limits.

Quotas: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
("Function layers: five layers"; "50 MB (zipped, for direct upload)"; "250 MB (unzipped,
including layers)", where MB is 1024 KB).
"""

import json
import zipfile

import pytest

from components import lambda_limits as limits
from components import packaging
from components.processing import needs_s3
from functions.catalog import CATALOG
from local.program import run_program

ZIP_ENTRY_OVERHEAD = 30 + 46  # local header + central directory entry, without the name


@pytest.fixture(scope="module")
def built():
    return packaging.layer_paths(CATALOG, build=True)


@pytest.fixture(scope="module")
def program(built):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaging, "layer_paths", lambda catalog, build=False: built)
        return run_program("prod")


def layer_bytes(directory):
    return limits.tree_bytes(directory / "python")


def test_the_documented_limits_in_bytes():
    assert limits.DIRECT_UPLOAD_MAX_BYTES == 52_428_800
    assert limits.UNZIPPED_MAX_BYTES == 262_144_000  # Lambda's own error message names this number
    assert limits.LAYERS_PER_FUNCTION_MAX == 5


def test_the_powertools_figure_was_measured_for_the_locked_version():
    # Bumping Powertools without re-measuring its layer makes the unzipped totals a guess.
    version = packaging.pinned("aws-lambda-powertools").split("==")[1]
    assert version == limits.POWERTOOLS_MEASURED_VERSION


def test_every_function_fits_in_250_MB_unzipped_with_its_layers(built):
    for fn in CATALOG:
        code = limits.unzipped_bytes(packaging.function_files(fn.name, bundles=fn.bundles).values())
        layers = sum(layer_bytes(built[layer]) for layer in packaging.layers_of(fn, built))
        total = code + layers + limits.POWERTOOLS_LAYER_UNZIPPED_BYTES
        assert total < limits.UNZIPPED_MAX_BYTES, (fn.name, total)


def test_every_function_has_at_most_five_layers(program):
    for f in program.mocks.of_type("aws:lambda/function:Function"):
        assert len(f.inputs["layers"]) <= limits.LAYERS_PER_FUNCTION_MAX, f.name


def test_function_code_is_uploaded_directly_under_50_MiB():
    for fn in CATALOG:
        files = packaging.function_files(fn.name, bundles=fn.bundles)
        # Stored uncompressed, a zip is at most its content plus headers: an upper bound.
        bound = limits.unzipped_bytes(files.values()) + sum(ZIP_ENTRY_OVERHEAD + 2 * len(k) for k in files) + 22
        assert bound < limits.DIRECT_UPLOAD_MAX_BYTES, fn.name


def test_directly_uploaded_layers_are_under_50_MiB_and_larger_ones_go_through_s3(program, built):
    published = {lv.inputs["layerName"].rsplit("-layer-", 1)[1]: lv.inputs
                 for lv in program.mocks.of_type("aws:lambda/layerVersion:LayerVersion")}
    assert set(published) == set(built)
    for layer, inputs in published.items():
        archive = packaging.layer_archive(built[layer])
        if "code" in inputs:
            assert inputs["code"].path == str(archive)
            assert archive.stat().st_size < limits.DIRECT_UPLOAD_MAX_BYTES, layer
        else:
            assert needs_s3(archive) and inputs["s3Key"].endswith(f"/{archive.parent.name}/layer.zip"), layer


def test_built_archives_hold_exactly_the_layer_directory(built):
    for layer, directory in built.items():
        with zipfile.ZipFile(packaging.layer_archive(directory)) as archive:
            names = archive.namelist()
            assert all(n.startswith("python/") for n in names), layer
            assert sum(i.file_size for i in archive.infolist()) == layer_bytes(directory), layer


def test_the_audit_layers_are_trimmed(built):
    for layer in ("pyarrow",):
        site = built[layer] / "python"
        assert (site / "pyarrow" / "libparquet.so.2600").is_file()
        assert not list(site.glob("pyarrow/*flight*")) and not (site / "pyarrow" / "include").exists()


def test_every_layer_resolves_for_lambdas_platform(tmp_path):
    """pip resolves each layer with the build's own command, without installing: a package
    with no wheel for Lambda's platform fails here instead of in `pulumi up`."""
    import subprocess

    compatible = {*packaging.PIP_PLATFORMS, "any"}
    for layer, requirements in packaging.layer_requirements(CATALOG).items():
        command = packaging.pip_install_command(
            requirements, tmp_path / layer, extra=("--dry-run", "--ignore-installed", "--report", "-"))
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (layer, done.stderr[-2000:])
        report = json.loads(done.stdout)
        wheels = [item["download_info"]["url"].rsplit("/", 1)[1] for item in report["install"]]
        assert wheels, layer
        for wheel in wheels:
            platforms = wheel.removesuffix(".whl").split("-")[-1].split(".")
            assert compatible & set(platforms), (layer, wheel)
        assert not (tmp_path / layer).exists()  # nothing installed
