"""The data key's policy: the account's IAM administers it (without that statement KMS
refuses every principal, root included, and the key can only be recovered through AWS
Support), CloudWatch uses it only for this account, nobody else is named."""

import json
import re

import pytest

from components.storage import account_statement, alarms_statement, data_key_policy, tls_only_statement

ACCOUNT, REGION = "123456789012", "eu-west-1"


def statements(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_the_account_administers_the_key_through_iam():
    admin = statements(data_key_policy(ACCOUNT, REGION))["AccountAdministersThroughIam"]
    assert admin == account_statement(ACCOUNT)
    assert admin["Effect"] == "Allow" and admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert admin["Action"] == "kms:*" and admin["Resource"] == "*" and "Condition" not in admin


def test_services_use_the_key_for_this_account_only():
    policy = data_key_policy(ACCOUNT, REGION)
    assert policy["Version"] == "2012-10-17"
    by_sid = statements(policy)
    assert set(by_sid) == {"AccountAdministersThroughIam", "CloudWatchAlarmsPublishToEncryptedTopics",
                           "CloudWatchLogsEncryptsThisAccountsLogGroups"}
    alarms = by_sid["CloudWatchAlarmsPublishToEncryptedTopics"]
    assert alarms == alarms_statement(ACCOUNT)
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and alarms["Effect"] == "Allow"
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    logs = by_sid["CloudWatchLogsEncryptsThisAccountsLogGroups"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"} and logs["Effect"] == "Allow"
    assert logs["Condition"] == {"ArnLike": {
        "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"}}
    assert "kms:Decrypt" in logs["Action"] and "kms:Encrypt" in logs["Action"]
    assert not any(a in ("kms:*", "*") for a in logs["Action"])


@pytest.mark.parametrize("account, region", [("111111111111", "us-east-1"), ("222222222222", "eu-central-1")])
def test_no_other_account_or_region_appears(account, region):
    text = json.dumps(data_key_policy(account, region))
    assert account in text and region in text
    assert ACCOUNT not in text and REGION not in text


def test_the_deployed_key_carries_the_policy_for_the_stacks_account(stack_run):
    key = stack_run.mocks.one("aws:kms/key:Key", "-data")
    assert json.loads(key.inputs["policy"]) == data_key_policy(stack_run.mocks.account_id, stack_run.settings.region)


def test_buckets_refuse_plain_http():
    statement = tls_only_statement("arn:aws:s3:::b")
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# The IAM policy grammar's element names (case-sensitive: "sid" or "SID" is a malformed
# policy that AWS refuses at deployment):
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
POLICY_ELEMENTS = {"Version", "Id", "Statement"}
STATEMENT_ELEMENTS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                      "NotResource", "Condition"}


# The keys of a Principal element (the same grammar page).
PRINCIPAL_KEYS = {"AWS", "Service", "Federated", "CanonicalUser"}


def _policies(run):
    """Every JSON policy among the resources' inputs, found by its elements whatever their
    case, so that a malformed "statement" or Version is checked too."""
    for record in run.mocks.resources:
        for value in record.inputs.values():
            if isinstance(value, str) and value.startswith("{"):
                try:
                    document = json.loads(value)
                except ValueError:
                    continue  # e.g. an access log format: a JSON template, not a document
                if isinstance(document, dict) and {k.lower() for k in document} & {"version", "statement"}:
                    yield record.name, document


def test_every_policy_the_program_writes_follows_the_iam_grammar(stack_run):
    found = list(_policies(stack_run))
    assert len(found) > 10
    assert {f"serenya-{stack_run.settings.env}-{k}" for k in ("data", "pii", "email-mac")} <= {n for n, _ in found}
    for name, policy in found:
        assert set(policy) <= POLICY_ELEMENTS and policy["Version"] == "2012-10-17", name
        sids = [s.get("Sid") for s in policy["Statement"]]
        assert len(sids) == len(set(sids)), name  # Sids are unique within a policy
        for statement in policy["Statement"]:
            assert set(statement) <= STATEMENT_ELEMENTS, (name, sorted(statement))
            assert statement["Effect"] in ("Allow", "Deny"), name
            assert {"Action", "NotAction"} & set(statement), name
            trust = statement.get("Action") in ("sts:AssumeRole", ["sts:AssumeRole"])  # role trust policies
            assert trust or {"Resource", "NotResource"} & set(statement), name
            principal = statement.get("Principal", "*")
            assert principal == "*" or (set(principal) <= PRINCIPAL_KEYS and principal), (name, principal)
            actions = statement.get("Action", statement.get("NotAction"))
            for action in [actions] if isinstance(actions, str) else actions:
                assert action == "*" or AS_DOCUMENTED.fullmatch(action), (name, action)


# Actions as the Service Authorization Reference spells them: a lower-case service prefix
# and a PascalCase name (IAM matches them without case, a reviewer's search does not).
AS_DOCUMENTED = re.compile(r"[a-z0-9-]+:(\*|[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*\*?)")


def test_the_pii_and_email_mac_keys_name_their_two_statements():
    """Administration by the account, and the key's one use delegated to IAM: named like
    the data key's statements, so a review or an Access Analyzer finding points at one."""
    from components.storage import KEY_ADMINISTRATION, email_mac_key_policy, pii_key_policy

    pii, mac = statements(pii_key_policy(ACCOUNT)), statements(email_mac_key_policy(ACCOUNT))
    assert set(pii) == {"AccountAdministersTheKey", "PerUserDataKeysOnlyThroughIam"}
    assert set(mac) == {"AccountAdministersTheKey", "GenerateMacThroughIam"}
    for policy in (pii, mac):
        assert policy["AccountAdministersTheKey"]["Action"] == KEY_ADMINISTRATION
    assert mac["GenerateMacThroughIam"]["Action"] == ["kms:GenerateMac"]
    assert tls_only_statement("arn:aws:s3:::b")["Sid"] == "DenyInsecureTransport"
