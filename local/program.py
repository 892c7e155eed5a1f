"""Runs the Pulumi program in-process under Pulumi's mocks.

The tests use `RecordingMocks` to assert on what each resource received; the local
stack subclasses it to create the resources in moto. Both evaluate
`components.stack.build_stack` with the settings of a real stack file, so what they
check and run is what `pulumi up` deploys.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components import packaging

# ROOT and stack_config live in components.config (the runbooks and preflight need them
# without the local stack); imported here for the program runs below and their callers.
from components.config import PROJECT, ROOT, Settings, load_settings, stack_config  # noqa: F401
from components.stack import build_stack
from functions.catalog import CATALOG, Function

ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass
class Recorded:
    type: str  # Pulumi type token, e.g. aws:dynamodb/table:Table
    name: str  # logical name
    inputs: dict  # inputs as sent to the engine (camelCase keys)
    id: str
    state: dict
    options: Options | None = None  # resource options, when run through OptionsMonitor


@dataclass(frozen=True)
class Options:
    """The resource options the engine receives (what `pulumi up` and `destroy` act on)."""

    urn: str
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    aliases: tuple[str, ...]  # alias URNs or names
    provider: str  # an explicit provider reference, "" for the default one
    parent: str = ""  # the parent's URN ("" under the stack itself)


class OptionsMonitor(pulumi.runtime.mocks.MockMonitor):
    """Pulumi's mock monitor, also recording each resource's options: `Mocks.new_resource`
    sees inputs only, and protect or retainOnDelete are what keeps data alive."""

    mocks: RecordingMocks  # install() hands it RecordingMocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            aliases = tuple(a.urn or a.spec.name for a in request.aliases) + tuple(request.aliasURNs)
            self.mocks.options[(request.type, request.name)] = Options(
                response.urn,
                bool(request.protect),
                bool(request.retainOnDelete),
                bool(request.deleteBeforeReplace),
                aliases,
                request.provider,
                request.parent,
            )
        return response

    def RegisterResourceOutputs(self, request):
        """What a component registers as its outputs (the console shows them under it)."""
        from google.protobuf.json_format import MessageToDict

        self.mocks.component_outputs[request.urn] = MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


# What the program tells `pulumi up` (pulumi.log: e.g. no alert email): the deployment's
# advice, which `make run` writes to its log file rather than the console.
PROGRAM_LOG = logging.getLogger("local.program")


def install(mocks: RecordingMocks, stack: str) -> None:
    """Installs `mocks` for `stack` with the options-recording monitor."""
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=False, monitor=OptionsMonitor(mocks), logger=PROGRAM_LOG
    )


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource with its inputs and answers with plausible computed outputs
    (ARNs, stream ARN, invoke ARN) so that dependent resources receive real-looking values."""

    def __init__(self, region: str = "eu-west-1", account_id: str = ACCOUNT_ID):
        self.region = region
        self.account_id = account_id
        self.resources: list[Recorded] = []
        self.options: dict[tuple[str, str], Options] = {}
        self.component_outputs: dict[str, dict] = {}  # urn -> registered outputs
        self._lock = threading.Lock()

    # Subclasses create real things here; the default only computes outputs.
    def provision(self, type_: str, name: str, inputs: dict) -> tuple[str, dict]:
        return computed_state(type_, name, inputs, self.region, self.account_id)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        id_, state = self.provision(args.typ, args.name, args.inputs)
        with self._lock:
            self.resources.append(Recorded(args.typ, args.name, args.inputs, id_, state))
        return id_, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:aws:iam::{self.account_id}:user/local",
                "userId": "LOCAL",
                "id": self.account_id,
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        raise NotImplementedError(f"no mock for the invoke {args.token}")

    def of_type(self, type_: str) -> list[Recorded]:
        """Every resource of `type_`. None of a type that does not exist is an error, not
        an empty list: a misspelt or renamed type token would make every check looping
        over it pass on nothing."""
        found = [r for r in self.resources if r.type == type_]
        if not found and type_ not in known_resource_types():
            raise ValueError(f"{type_!r} is not a resource type of pulumi-aws or of the program")
        return found

    def outputs_of_component(self, type_: str, name: str) -> dict:
        """The outputs component `name` of `type_` registered (register_outputs)."""
        return self.component_outputs[self.options[(type_, name)].urn]

    def options_of(self, record: Recorded) -> Options:
        return self.options[(record.type, record.name)]

    def one(self, type_: str, name_contains: str = "", endswith: str = "") -> Recorded:
        found = [r for r in self.of_type(type_) if name_contains in r.name and r.name.endswith(endswith)]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} named *{name_contains}*, found {[r.name for r in found]}")
        return found[0]


def computed_state(type_: str, name: str, inputs: dict, region: str, account: str) -> tuple[str, dict]:
    """The outputs AWS would compute for the resource types this program declares."""
    state = dict(inputs)
    region = inputs.get("region") or region  # pulumi-aws 7: a resource may name its own region
    physical = inputs.get("name") or inputs.get("bucket") or inputs.get("layerName") or name
    service = type_.split(":")[1].split("/")[0]
    arn = f"arn:aws:{service}:{region}:{account}:{physical}"
    id_ = physical
    if type_ == "aws:kms/key:Key":
        id_ = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        arn = f"arn:aws:kms:{region}:{account}:key/{id_}"
        state["keyId"] = id_
    elif type_ == "aws:dynamodb/table:Table":
        arn = f"arn:aws:dynamodb:{region}:{account}:table/{physical}"
        state["streamArn"] = f"{arn}/stream/2026-01-01T00:00:00.000"
    elif type_ == "aws:s3/bucket:Bucket":
        arn = f"arn:aws:s3:::{physical}"
    elif type_ == "aws:iam/role:Role":
        arn = f"arn:aws:iam::{account}:role/{physical}"
    elif type_ == "aws:cloudwatch/logGroup:LogGroup":
        arn = f"arn:aws:logs:{region}:{account}:log-group:{physical}"
    elif type_ == "aws:sqs/queue:Queue":
        arn = f"arn:aws:sqs:{region}:{account}:{physical}"
        id_ = state["url"] = f"https://sqs.{region}.amazonaws.com/{account}/{physical}"
    elif type_ == "aws:secretsmanager/secret:Secret":
        arn = f"arn:aws:secretsmanager:{region}:{account}:secret:{physical}-AbCdEf"
    elif type_ == "aws:lambda/function:Function":
        arn = f"arn:aws:lambda:{region}:{account}:function:{physical}"
        state["version"] = "1" if inputs.get("publish") else "$LATEST"
        state["invokeArn"] = _invoke_arn(region, arn)
    elif type_ == "aws:lambda/alias:Alias":
        arn = f"{inputs['functionName']}:{physical}"
        arn = arn if arn.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{arn}"
        state["invokeArn"] = _invoke_arn(region, arn)
    elif type_ == "aws:lambda/layerVersion:LayerVersion":
        arn = f"arn:aws:lambda:{region}:{account}:layer:{physical}:1"
    elif type_ == "aws:cloudwatch/eventRule:EventRule":
        arn = f"arn:aws:events:{region}:{account}:rule/{physical}"
    elif type_ == "aws:apigateway/restApi:RestApi":
        id_ = _short_id(name)
        arn = f"arn:aws:apigateway:{region}::/restapis/{id_}"
        state["executionArn"] = f"arn:aws:execute-api:{region}:{account}:{id_}"
        state["rootResourceId"] = _short_id(name + "/")
    elif type_ == "aws:apigateway/stage:Stage":
        id_ = f"ags-{inputs['restApi']}-{inputs['stageName']}"
        state["invokeUrl"] = f"https://{inputs['restApi']}.execute-api.{region}.amazonaws.com/{inputs['stageName']}"
    elif type_ == "aws:apigateway/domainName:DomainName":
        state["regionalDomainName"] = f"d-{_short_id(name)}.execute-api.{region}.amazonaws.com"
    elif type_ == "aws:cloudfront/distribution:Distribution":
        id_ = _short_id(name).upper()
        arn = f"arn:aws:cloudfront::{account}:distribution/{id_}"
        state["domainName"] = f"d{_short_id(name)}.cloudfront.net"
    elif type_ == "aws:wafv2/webAcl:WebAcl":
        id_ = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        where = "global" if inputs.get("scope") == "CLOUDFRONT" else "regional"
        arn = f"arn:aws:wafv2:{region}:{account}:{where}/webacl/{physical}/{id_}"
    state.setdefault("arn", arn)
    return id_, state


def _short_id(seed: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, seed).hex[:10]


def _invoke_arn(region: str, function_arn: str) -> str:
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


@dataclass
class ProgramRun:
    settings: Settings
    outputs: dict[str, Any]
    mocks: RecordingMocks


def run_program(
    stack: str,
    mocks: RecordingMocks | None = None,
    catalog: tuple[Function, ...] = CATALOG,
    config: dict[str, str] | None = None,
) -> ProgramRun:
    """Evaluates the program for `stack` (Pulumi.<stack>.yaml unless `config` is given)."""
    config = stack_config(stack) if config is None else config
    settings = load_settings(config.get, stack)
    mocks = mocks or RecordingMocks(region=settings.region)
    install(mocks, stack)
    pulumi.runtime.set_all_config(config)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        exported = build_stack(settings, catalog, packaging.layer_paths(catalog))
        return pulumi.Output.from_input(exported).apply(outputs.update)

    program()
    return ProgramRun(settings, outputs, mocks)


@functools.cache
def known_resource_types() -> frozenset[str]:
    """pulumi-aws's resource type tokens (the registry its package registers, read from
    its source rather than imported module by module), the providers', and the program's
    own component types (`serenya:<layer>:<Component>` in components/)."""
    import pulumi_aws

    source = Path(pulumi_aws.__file__).read_text()
    registry = json.loads(source.split('resource_modules="""', 1)[1].split('"""', 1)[0])
    tokens = {token for module in registry for token in module["classes"]}
    program = "\n".join(p.read_text() for p in (ROOT / "components").glob("*.py"))
    tokens |= set(re.findall(r"[\"'](serenya:[a-z_]+:[A-Za-z]+)[\"']", program))
    return frozenset(tokens | {"pulumi:providers:aws"})
