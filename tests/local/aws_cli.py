"""A stand-in for the `aws` command (CLI v2) that the runbook procedures run, against
the local stack's moto endpoint, so that a procedure's shell block can be run as written.

It maps `aws <service> <command> --kebab-option value ...` to the boto3 operation and its
input members through botocore's service model (the CLI does the same), applies
`--query` (JMESPath) and `--output text|json` and prints JSON otherwise. `lambda invoke`
is not sent anywhere: the request (function, qualifier, invocation type, payload) is
appended as a JSON line to $LOCAL_AWS_INVOCATIONS for the test to deliver to the
function in its own process, and the outfile gets $LOCAL_AWS_INVOKE_REPLY.

Options the procedures use that the CLI v2 treats specially: `--region`,
`--cli-binary-format raw-in-base64-out` (a --payload is then raw text) and `fileb://`.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

import boto3
import jmespath
from botocore import xform_name

GLOBAL = {"region", "query", "output", "cli-binary-format"}


def _parse(argv: list[str]) -> tuple[str, str, dict[str, str], list[str]]:
    service, command, options, positional = argv[0], argv[1], {}, []
    rest = argv[2:]
    while rest:
        token = rest.pop(0)
        if token.startswith("--"):
            options[token[2:]] = rest.pop(0)
        else:
            positional.append(token)
    return service, command, options, positional


def _value(text: str, shape):
    if text.startswith("fileb://"):
        return Path(text[len("fileb://"):]).read_bytes()
    if shape.type_name == "integer":
        return int(text)
    if shape.type_name == "list":
        return text.split()
    if shape.type_name == "blob":
        return text.encode()  # raw-in-base64-out: the text as given
    return text


def _print(result, options: dict[str, str]) -> None:
    result = {k: v for k, v in result.items() if k != "ResponseMetadata"}
    if "query" in options:
        result = jmespath.search(options["query"], result)
    if options.get("output") == "text":
        print("\t".join(map(str, result)) if isinstance(result, list) else result)
    else:
        print(json.dumps(result, indent=2, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


def main(argv: list[str]) -> int:
    service, command, options, positional = _parse(argv)
    if (service, command) == ("lambda", "invoke"):
        payload = options["payload"]
        body = Path(payload[len("fileb://"):]).read_text() if payload.startswith("fileb://") else payload
        with open(os.environ["LOCAL_AWS_INVOCATIONS"], "a") as log:
            log.write(json.dumps({"function": options["function-name"], "qualifier": options.get("qualifier"),
                                  "type": options.get("invocation-type", "RequestResponse"),
                                  "payload": json.loads(body)}) + "\n")
        Path(positional[0]).write_text(os.environ.get("LOCAL_AWS_INVOKE_REPLY", "null"))
        return 0
    client = boto3.client(service, region_name=options.get("region"), endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    model = client.meta.service_model
    operation = next(o for o in model.operation_names if xform_name(o, "-") == command)
    members = model.operation_model(operation).input_shape.members
    by_option = {xform_name(name, "-"): name for name in members}
    params = {by_option[k]: _value(v, members[by_option[k]]) for k, v in options.items() if k not in GLOBAL}
    _print(getattr(client, xform_name(operation))(**params), options)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
