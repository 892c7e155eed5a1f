"""python -m preflight --stack dev   (make preflight STACK=dev)"""

from __future__ import annotations

import argparse
import sys

import boto3
from botocore.config import Config

from components.config import load_settings, stack_config
from components.packaging import pinned
from preflight.checks import Target, run
from preflight.report import outcome, render

# Read-only calls, a few seconds each at most: a slow endpoint is a warning, not a hang.
_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})


def main(argv: list[str] | None = None, client=None) -> int:
    parser = argparse.ArgumentParser(prog="make preflight", description=__doc__)
    parser.add_argument("--stack", required=True, help="dev or prod (reads Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    settings = load_settings(stack_config(args.stack).get, args.stack)
    # boto3 honours AWS_ENDPOINT_URL: pointed at the local stack's moto, this checks that.
    session = boto3.session.Session(region_name=settings.region)
    target = Target(settings=settings, client=client or (lambda service: session.client(service, config=_CONFIG)),
                    powertools_version=pinned("aws-lambda-powertools").split("==")[1])
    # No credentials at all: every call fails before it is sent, and the headline says why.
    credentials = client is not None or session.get_credentials() is not None
    findings = run(target)
    headline, code = outcome(findings, credentials)
    print(f"preflight of stack {args.stack} in {settings.region}")
    print(render(findings))
    print(headline)
    return code


if __name__ == "__main__":
    sys.exit(main())
