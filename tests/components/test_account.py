"""The account project (account/, components/account.py) under Pulumi mocks, and the
backend's stacks without what it owns.

API Gateway logs every REST API of a region through the one role its account settings
name: "To avoid overwriting other roles, you should only have one
AWS::ApiGateway::Account resource per region per account"
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigateway-account.html).
"""

import json
import runpy

import pulumi
import pytest
import yaml

from components import account
from components.config import ROOT
from local.program import OptionsMonitor, RecordingMocks

ACCOUNT_SETTING = "aws:apigateway/account:Account"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PROJECT = ROOT / account.PROJECT_DIR
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT.glob("Pulumi.*.yaml"))


def evaluate_account_program(stack: str, monkeypatch) -> tuple[RecordingMocks, dict]:
    """Runs account/__main__.py as `pulumi up` does in that folder, under recording mocks."""
    config = yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text())["config"]
    mocks = RecordingMocks(region=config["aws:region"])
    pulumi.runtime.set_mocks(mocks, project="serenya-account", stack=stack, preview=False,
                             monitor=OptionsMonitor(mocks))
    pulumi.runtime.set_all_config({key: str(value) for key, value in config.items()})
    exported: dict = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(PROJECT / "__main__.py"))
        return pulumi.Output.from_input(exported).apply(exported.update)

    program()
    return mocks, exported


@pytest.fixture(params=STACKS)
def account_run(request, monkeypatch):
    return request.param, *evaluate_account_program(request.param, monkeypatch)


def is_logging_role(role) -> bool:
    return any(isinstance(s.get("Principal"), dict) and s["Principal"].get("Service") == "apigateway.amazonaws.com"
               for s in json.loads(role.inputs["assumeRolePolicy"])["Statement"])


def test_the_project_has_a_stack_per_region_named_after_it():
    assert "eu-west-1" in STACKS
    for stack in STACKS:
        assert yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text())["config"] == {"aws:region": stack}
    project = yaml.safe_load((PROJECT / "Pulumi.yaml").read_text())
    assert project["name"] != yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]  # its own project
    assert project["runtime"]["options"]["virtualenv"] == "../.venv"  # the backend's pinned dependencies


def test_the_account_program_sets_the_regions_logging_role_once(account_run):
    region, mocks, exported = account_run
    setting = mocks.one(ACCOUNT_SETTING)
    role = mocks.one(ROLE)
    assert role.inputs["name"] == account.logging_role_name(region) == f"serenya-apigateway-logs-{region}"
    assert setting.inputs["cloudwatchRoleArn"] == role.state["arn"] == exported["api_gateway_logging_role_arn"]
    components = {r.type for r in mocks.resources if r.type.startswith("serenya:")}
    assert components == {"serenya:account:AccountLayer"}


def test_the_logging_role_has_the_trust_and_policy_aws_documents(account_run):
    """API Gateway's "Permissions for CloudWatch logging": a role with
    apigateway.amazonaws.com as its trusted entity and the AmazonAPIGatewayPushToCloudWatchLogs
    managed policy. AWS documents no condition for it; one that API Gateway does not send
    (the aws:SourceAccount this role carried) makes UpdateAccount refuse the role.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-permissions"""
    _, mocks, _ = account_run
    role = mocks.one(ROLE)
    assert json.loads(role.inputs["assumeRolePolicy"]) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    attachment = mocks.one(ATTACHMENT)
    assert attachment.inputs == {
        "role": role.inputs["name"],
        "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
    # API Gateway checks the role when the setting names it: the policy is attached first.
    assert mocks.resources.index(attachment) < mocks.resources.index(mocks.one(ACCOUNT_SETTING))


def test_destroying_the_account_stack_takes_a_deliberate_step(account_run):
    """Every stack of the region logs through these (one setting per region per account:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigateway-account.html),
    so removing them must take `pulumi state unprotect` first, never a slip of `destroy`."""
    _, mocks, _ = account_run
    for type_ in (ACCOUNT_SETTING, ROLE, ATTACHMENT):
        assert mocks.options_of(mocks.one(type_)).protect, type_


def test_neither_backend_stack_declares_account_wide_settings(dev_run, prod_run):
    """dev and prod deploy in any order and destroy without touching another stack's
    logging: neither declares the setting nor a role API Gateway may assume."""
    for run in (dev_run, prod_run):
        assert not run.mocks.of_type(ACCOUNT_SETTING), run.settings.env
        assert not [r.inputs["name"] for r in run.mocks.of_type(ROLE) if is_logging_role(r)], run.settings.env
        assert not [a for a in run.mocks.of_type(ATTACHMENT) if a.inputs["policyArn"] == account.LOGS_POLICY_ARN]


def test_the_readme_deploys_the_account_stack_before_dev_and_prod():
    readme = (ROOT / "README.md").read_text()
    first = readme.index(account.deploy_commands("eu-west-1"))
    assert first < readme.index("pulumi up --stack dev") and first < readme.index("pulumi up --stack prod")
