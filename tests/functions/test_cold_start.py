"""Cold start guard: what each function loads at import, cheaply (the timing itself is
`make bench`, bench/cold_start.py).

Each handler is imported in a fresh interpreter with the environment the Pulumi program
gives it; the HEAVY_MODULES then in `sys.modules` must be exactly the ones its catalog
entry declares in `heavy_imports`, and no AWS SDK client (nor the service model it loads)
may have been created. A new import that slows a function's cold start fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from components.config import load_settings, stack_config
from components.processing import function_environment
from bench.cold_start import FLOOR
from functions.catalog import CATALOG, HEAVY_MODULES, Function, by_name, validate

ROOT = Path(__file__).resolve().parents[2]

# Records every botocore client created while the handler is imported (boto3.client,
# boto3.resource and Session().client all end in ClientCreator.create_client).
PROBE = """
import json, sys
import botocore.client
created = []
_create = botocore.client.ClientCreator.create_client
def create_client(self, service_name, *args, **kwargs):
    created.append(service_name)
    return _create(self, service_name, *args, **kwargs)
botocore.client.ClientCreator.create_client = create_client
exec(sys.argv[1])
heavy = json.loads(sys.argv[2])
print(json.dumps({"heavy": sorted(m for m in heavy if m in sys.modules), "clients": created}))
"""

RESOURCES = {"TABLE_NAME": "serenya-dev", "TEMP_BUCKET": "serenya-dev-temp", "EVENTS_BUCKET": "serenya-dev-events",
             "DATA_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/data",
             "PII_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/pii",
             "EMAIL_MAC_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/mac",
             "SIGNING_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/signing",
             "CANARY_SIGNING_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/canary-signing",
             "SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:third-party"}


@lru_cache(maxsize=1)
def _settings():
    return load_settings(stack_config("dev").get, "dev")


def _environment(fn: Function, extra: dict[str, str]) -> dict[str, str]:
    """A Lambda-like environment: the function's own variables, none of the test process's."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "SERENYA_"))}
    base = {k: v for k, v in base.items() if k not in RESOURCES}
    return {**base, **function_environment(fn, _settings(), RESOURCES),
            "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", **extra}


def _start(fn: Function, code: str = "", **extra: str) -> subprocess.Popen:
    code = code or f"import {fn.handler.rsplit('.', 1)[0]}"
    return subprocess.Popen([sys.executable, "-c", PROBE, code, json.dumps(HEAVY_MODULES)], cwd=ROOT,
                            env=_environment(fn, extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def imported() -> dict[str, dict]:
    """Every handler imported at once, each in its own fresh interpreter."""
    started = {fn.name: _start(fn) for fn in CATALOG}
    started["floor"] = _start(CATALOG[0], FLOOR)  # what every function pays: boto3, Logger, Metrics, Tracer
    return {name: _result(process) for name, process in started.items()}


@pytest.mark.parametrize("name", [fn.name for fn in CATALOG])
def test_a_function_loads_only_its_declared_heavy_modules_at_import(imported, name):
    declared = sorted(by_name()[name].heavy_imports)
    assert imported[name]["heavy"] == declared, (
        f"{name} imports {imported[name]['heavy']} at cold start but its catalog entry declares {declared}: "
        f"import it where a request needs it (functions/common/lazy.py), or declare it in heavy_imports "
        f"and check `make bench` still meets the target")


@pytest.mark.parametrize("name", [fn.name for fn in CATALOG])
def test_no_aws_client_is_created_at_import(imported, name):
    # A client loads its service model (JSON, tens of ms): the first request that needs it makes
    # it. The floor's own (the X-Ray SDK's, created by Tracer with tracing on) are every function's.
    assert imported["floor"]["heavy"] == []
    assert imported[name]["clients"] == imported["floor"]["clients"]


def test_the_declarations_name_heavy_modules_only():
    assert validate(CATALOG) == []
    broken = (Function("x", "x", heavy_imports=frozenset({"json"})),)
    assert validate(broken) == ["x: heavy import json is not one of HEAVY_MODULES"]


def test_provisioned_containers_load_at_init_what_on_demand_ones_defer():
    """What the warm API functions defer is loaded at init where Lambda prepays the init
    (provisioned concurrency): the first request there pays nothing more."""
    started = {name: _start(by_name()[name], AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency")
               for name in ("auth", "upload")}
    loaded = {name: _result(process)["heavy"] for name, process in started.items()}
    assert {"pydantic", "jwt", "cryptography.hazmat.primitives.ciphers.aead"} <= set(loaded["auth"])
    assert "pydantic" in loaded["upload"]
