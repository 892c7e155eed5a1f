"""Every input the program gives an AWS resource is one the provider knows, at every level.

Pulumi's mocks accept any input: a misspelt key in a nested block (a lifecycle rule's
"ID", a table attribute's "NAME") would pass every other test and reach AWS as a setting
left out, or fail only at `pulumi up`. The provider's Python SDK (pulumi-aws, pinned in
requirements/lock.txt) declares each resource's inputs and each nested block's
properties, with their Pulumi names (the camelCase the engine and the mocks see): here
the program's recorded inputs are walked against those declarations, required
properties included."""

from __future__ import annotations

import importlib
import typing
from functools import lru_cache

import pytest
from pulumi import _types


@lru_cache(maxsize=None)
def args_class(token: str) -> type:
    """The SDK's input class of a resource type token, e.g. aws:s3/bucket:Bucket -> BucketArgs."""
    module = token.split(":")[1].split("/")[0]
    sdk = importlib.import_module(f"pulumi_aws.{module}_" if module == "lambda" else f"pulumi_aws.{module}")
    [resource] = [c for c in vars(sdk).values()
                  if isinstance(c, type) and getattr(c, "pulumi_type", None) == token and hasattr(c, "_internal_init")]
    # when a resource's own name ends in Args, the SDK calls its inputs ...InitArgs
    return getattr(sdk, f"{resource.__name__}InitArgs", None) or getattr(sdk, f"{resource.__name__}Args")


def block_class(hint) -> type | None:
    """The input class inside a property's type (Optional, Input, Sequence... unwrapped)."""
    if isinstance(hint, type):
        return hint if _types.is_input_type(hint) else None
    return next(filter(None, (block_class(arg) for arg in typing.get_args(hint))), None)


def unknown_and_missing(cls: type, value: dict, where: str) -> list[str]:
    declared = _types.input_type_types(cls)
    problems = [f"{where}: no property {key!r}" for key in value if key not in declared]
    problems += [f"{where}: {name!r} is required" for name in _types._required_property_names(cls)
                 if name not in value]
    for key, item in value.items():
        nested = block_class(declared.get(key))
        for element in (item if isinstance(item, list) else [item]):
            if nested is not None and isinstance(element, dict):
                problems += unknown_and_missing(nested, element, f"{where}.{key}")
    return problems


def test_every_aws_resource_input_is_a_declared_property_of_the_provider(stack_run):
    resources = [r for r in stack_run.mocks.resources if r.type.startswith("aws:")]
    assert len(resources) > 100
    problems = [p for r in resources for p in unknown_and_missing(args_class(r.type), r.inputs, f"{r.name} ({r.type})")]
    assert problems == []


@pytest.mark.parametrize("inputs, problems", [
    ({"bucket": "b", "rules": [{"ID": "expire", "status": "Enabled"}]},
     ["rules: no property 'ID'", "rules: 'id' is required"]),
    ({"bucket": "b", "rules": [{"id": "expire"}]}, ["rules: 'status' is required"]),
    ({"bucket": "b", "rules": [{"id": "x", "status": "Enabled", "abortIncompleteMultipartUpload": {"days": 1}}]},
     ["rules.abortIncompleteMultipartUpload: no property 'days'"]),
    ({"rules": []}, ["'bucket' is required"]),
])
def test_a_misspelt_or_missing_property_is_found_at_any_depth(inputs, problems):
    token = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    found = unknown_and_missing(args_class(token), inputs, "lifecycle")
    assert found == [f"lifecycle.{p}" if p.startswith("rules") else f"lifecycle: {p}" for p in problems]
