"""AccountLayer: what exists once per AWS account and region, whatever stacks live there.

API Gateway writes every REST API's logs in a region with one role, named in the
region's account settings (`aws.apigateway.Account`). Neither dev nor prod may own it:
a stack deployed first would fail at its stage ("CloudWatch Logs role ARN must be set
in account settings"), and destroying the owner would leave the others pointing at a
deleted role. So it lives in the small Pulumi project in account/, deployed once per
account and region before any backend stack (README, "Deploy"); `make preflight`
checks it is there (preflight/checks.py, api_gateway_logging).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import PROJECT

PROJECT_DIR = "account"  # the account project's folder, beside Pulumi.yaml of the backend
LOGS_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def logging_role_name(region: str) -> str:
    """IAM role names are account-wide, the setting is per region: the name says which."""
    return f"{PROJECT}-apigateway-logs-{region}"


def logging_role_trust() -> dict:
    """The trust AWS documents for this role, and nothing more: API Gateway's service
    principal may assume it. A condition API Gateway does not send on its AssumeRole
    (AWS documents none, e.g. aws:SourceAccount, for this role) makes UpdateAccount refuse
    the role. https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-permissions"""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def deploy_commands(region: str, new: bool = True) -> str:
    """The exact commands that deploy (new) or repair the account stack of `region`, run
    from the repository's root: what the README and `make preflight` tell the reader."""
    if new:
        return (
            f"(cd {PROJECT_DIR} && pulumi stack init {region} && pulumi config set aws:region {region} "
            f"&& pulumi up --stack {region})"
        )
    return f"(cd {PROJECT_DIR} && pulumi refresh --stack {region} && pulumi up --stack {region})"


@dataclass(frozen=True)
class AccountArgs:
    region: str


class AccountLayer(pulumi.ComponentResource):
    """API Gateway's CloudWatch Logs role and the region's account setting that names it."""

    def __init__(self, name: str, args: AccountArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("serenya:account:AccountLayer", name, None, opts)
        # Every stack of the region logs through these: `pulumi destroy` of this project
        # must be a deliberate act (unprotect first), never a slip.
        kept = pulumi.ResourceOptions(parent=self, protect=True)
        self.logging_role = aws.iam.Role(
            f"{name}-apigateway-logs",
            name=logging_role_name(args.region),
            description="API Gateway writes the region's REST API logs to CloudWatch Logs with this role",
            assume_role_policy=json.dumps(logging_role_trust()),
            opts=kept,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-apigateway-logs", role=self.logging_role.name, policy_arn=LOGS_POLICY_ARN, opts=kept
        )
        # API Gateway checks the role's permissions when the setting names it: attached first.
        self.api_gateway = aws.apigateway.Account(
            f"{name}-apigateway",
            cloudwatch_role_arn=self.logging_role.arn,
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=[attachment])),
        )
        self.outputs = {"api_gateway_logging_role_arn": self.logging_role.arn}
        self.register_outputs(self.outputs)


def build_account(region: str) -> dict[str, pulumi.Output]:
    """The account project's whole program (account/__main__.py; the tests run it under mocks)."""
    return AccountLayer(f"{PROJECT}-{PROJECT_DIR}", AccountArgs(region=region)).outputs
