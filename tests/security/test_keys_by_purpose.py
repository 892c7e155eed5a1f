"""Issue 12, items 3 and 4: keys by purpose (DESIGN.md, Storage).

Every role of the program (both stacks) is read and evaluated, with a small IAM
evaluator for the condition operators the program uses, against the requests that
would open personal data: only the functions that show or change names and emails may
unwrap a per-user key, only with a user id as encryption context, and only directly;
the storage key is usable only through the services that encrypt with it on the role's
behalf (S3, Secrets Manager, DynamoDB with the table's context: docs/encryption.md). moto does not evaluate
IAM, so this is where the rule is proved; AWS's rules for the operators:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
"""

from __future__ import annotations

import fnmatch
import hashlib
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from components import iam
from functions.catalog import CATALOG, StreamTrigger, TableAccess
from functions.common import users

PII_FUNCTIONS = {"auth", "user_profile"}  # the functions that show or change names and emails
DECRYPTING = ("kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:CreateGrant")


def _values(v):
    return v if isinstance(v, list) else [v]


def condition_holds(condition: dict, context: dict) -> bool:
    """IAM condition evaluation for the operators the program's policies use."""
    for operator, tests in condition.items():
        for key, expected in tests.items():
            expected = _values(expected)
            present = key in context
            actual = _values(context.get(key, []))
            if operator == "Null":
                if (expected[0] == "true") == present:
                    return False
            elif operator in ("StringEquals", "StringEqualsIfExists", "StringLike", "ArnLike"):
                if not present:
                    if operator.endswith("IfExists"):
                        continue
                    return False
                match = fnmatch.fnmatchcase if operator in ("StringLike", "ArnLike") else str.__eq__
                if not any(match(a, e) for a in actual for e in expected):
                    return False
            elif operator in ("ForAllValues:StringEquals", "ForAllValues:StringLike"):
                match = fnmatch.fnmatchcase if operator.endswith("Like") else str.__eq__
                if not all(any(match(a, e) for e in expected) for a in actual):
                    return False
            else:
                raise AssertionError(f"unknown operator {operator}: teach the evaluator before using it")
    return True


def allowed(policy: dict, action: str, resource: str, context: dict) -> bool:
    for s in policy["Statement"]:
        actions, resources = _values(s["Action"]), _values(s["Resource"])
        if s["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action, a) for a in actions) \
                and any(fnmatch.fnmatchcase(resource, r) for r in resources) \
                and condition_holds(s.get("Condition", {}), context):
            return True
    return False


def roles(run) -> dict[str, dict]:
    prefix = f"serenya-{run.settings.env}-"
    return {p.name.removeprefix(prefix): json.loads(p.inputs["policy"])
            for p in run.mocks.of_type("aws:iam/rolePolicy:RolePolicy")}


def key(run, suffix):
    return run.mocks.one("aws:kms/key:Key", endswith=f"-{suffix}")


USER_CONTEXT = {"kms:EncryptionContext:user_id": "3f0e7c1a-0000-4000-8000-000000000001",
                "kms:EncryptionContextKeys": ["user_id"]}


def test_every_function_has_a_role_that_is_read(stack_run):
    assert set(roles(stack_run)) == {f.name for f in CATALOG}


def test_only_the_functions_that_show_or_change_names_can_unwrap_a_users_key(stack_run):
    pii = key(stack_run, "pii").state["arn"]
    region = stack_run.settings.region
    attempts = refused = 0
    for name, policy in roles(stack_run).items():
        for action in DECRYPTING:
            for context in (USER_CONTEXT, {}, {**USER_CONTEXT, "kms:ViaService": f"s3.{region}.amazonaws.com"},
                            {**USER_CONTEXT, "kms:EncryptionContextKeys": ["user_id", "other"],
                             "kms:EncryptionContext:other": "x"}):
                attempts += 1
                may = allowed(policy, action, pii, context)
                expected = (name in PII_FUNCTIONS and context is USER_CONTEXT
                            and action in ("kms:Decrypt", "kms:GenerateDataKey"))
                assert may == expected, (name, action, context)
                refused += not may
    assert refused == attempts - 2 * len(PII_FUNCTIONS) and attempts == len(CATALOG) * len(DECRYPTING) * 4


def test_the_storage_key_is_used_only_through_the_services_that_call_kms_as_the_role(stack_run):
    """The rule, corrected (issue 23): no role may use the storage key directly, and every
    role holds exactly what the services that encrypt its resources with it need on its
    behalf, since each calls KMS with the caller's permissions (docs/encryption.md): S3
    for bucket objects, Secrets Manager for the secret, and DynamoDB for the table and its
    stream, only with the table's encryption context. The earlier rule ("only through S3
    and Secrets Manager") left every table reader refused on AWS. Decrypt only: DynamoDB's
    page lists Encrypt, ReEncrypt*, GenerateDataKey*, DescribeKey and CreateGrant for "the
    principal who makes the selection" of the key (the deployer, through the key policy's
    account statement), while the data plane's KMS call is the table key's Decrypt, whose
    user "is the principal in your AWS account who is accessing the table"; the table key
    itself is generated by "the DynamoDB service account".
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service"""
    storage = stack_run.outputs["data_key_arn"]
    region, account = stack_run.settings.region, stack_run.mocks.account_id
    table = stack_run.mocks.one("aws:dynamodb/table:Table").inputs["name"]
    through_dynamodb = {"kms:ViaService": f"dynamodb.{region}.amazonaws.com",
                        "kms:EncryptionContext:aws:dynamodb:tableName": table,
                        "kms:EncryptionContext:aws:dynamodb:subscriberId": account,
                        "kms:EncryptionContextKeys": ["aws:dynamodb:subscriberId", "aws:dynamodb:tableName"]}
    functions = {f.name: f for f in CATALOG}
    table_users = set()
    for name, policy in roles(stack_run).items():
        for action in DECRYPTING:
            assert not allowed(policy, action, storage, USER_CONTEXT), (name, action)
            assert not allowed(policy, action, storage, {}), (name, action)
        fn = functions[name]
        touches_table = (fn.table_access is not TableAccess.NONE or fn.access.usage_records
                         or fn.access.canary_account or isinstance(fn.trigger, StreamTrigger))
        assert allowed(policy, "kms:Decrypt", storage, through_dynamodb) == touches_table, name
        table_users |= {name} if touches_table else set()
        # Only this table of this account, only through DynamoDB in the stack's region, only Decrypt.
        for other in ({"kms:EncryptionContext:aws:dynamodb:tableName": "another-table"},
                      {"kms:EncryptionContext:aws:dynamodb:subscriberId": "999999999999"},
                      {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}):
            assert not allowed(policy, "kms:Decrypt", storage, {**through_dynamodb, **other}), (name, other)
        for action in ("kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncryptFrom", "kms:CreateGrant"):
            assert not allowed(policy, action, storage, through_dynamodb), (name, action)
    # Every function reads or writes the table or its stream; compaction only the analytics ids of
    # the accounts its rewrite of pre-schema-4 days names.
    assert table_users == set(functions)
    readers = {n for n, p in roles(stack_run).items()
               if allowed(p, "kms:Decrypt", storage, {"kms:ViaService": f"s3.{region}.amazonaws.com"})}
    assert {"process", "status", "result", "chat_status", "upload", "chat_messages", "doctor_report",
            "stream_processor", "compaction"} <= readers
    assert not readers & PII_FUNCTIONS - {"auth"}  # user_profile deletes job files, reads none
    assert allowed(roles(stack_run)["subscriptions"], "kms:Decrypt", storage,
                   {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"})


def test_the_functions_named_in_the_issue_cannot_read_emails_or_names(stack_run):
    pii = key(stack_run, "pii").state["arn"]
    for name in ("subscriptions", "doctor_report", "stream_processor", "process", "compaction"):
        policy = roles(stack_run)[name]
        assert not any(allowed(policy, a, pii, USER_CONTEXT) for a in DECRYPTING), name


def test_the_pii_key_policy_allows_use_only_directly_with_a_user_id(stack_run):
    policy = json.loads(key(stack_run, "pii").inputs["policy"])
    account = f"arn:aws:iam::{stack_run.mocks.account_id}:root"
    for statement in policy["Statement"]:
        assert statement["Principal"] == {"AWS": account}
    uses = [s for s in policy["Statement"] if {"kms:Decrypt", "kms:GenerateDataKey"} & set(s["Action"])]
    assert len(uses) == 1
    assert condition_holds(uses[0]["Condition"], USER_CONTEXT)
    assert not condition_holds(uses[0]["Condition"], {})
    assert not condition_holds(uses[0]["Condition"], {**USER_CONTEXT, "kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    admin = [s for s in policy["Statement"] if "kms:ScheduleKeyDeletion" in s["Action"]][0]  # CreateGrant is not administration
    assert not any(fnmatch.fnmatchcase(a, p) for a in DECRYPTING for p in admin["Action"])


def test_nothing_at_rest_is_encrypted_with_the_pii_or_hmac_key(stack_run):
    special = {key(stack_run, "pii").state["arn"], key(stack_run, "email-mac").state["arn"]}
    text = json.dumps([r.inputs for r in stack_run.mocks.resources
                       if r.type not in ("aws:kms/key:Key", "aws:kms/alias:Alias", "aws:iam/rolePolicy:RolePolicy",
                                          "aws:lambda/function:Function")], default=str)
    assert not any(arn in text for arn in special)


def test_the_email_hash_key_is_hmac_256_and_only_auth_may_use_it(stack_run):
    mac_key = key(stack_run, "email-mac")
    assert (mac_key.inputs["customerMasterKeySpec"], mac_key.inputs["keyUsage"]) == (
        users.EMAIL_MAC_KEY_SPEC, "GENERATE_VERIFY_MAC")
    # KMS: an HMAC_256 key supports HMAC_SHA_256 only. moto accepts any MacAlgorithm with
    # any HMAC key, so the pairing is checked here rather than left to moto.
    # https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html
    assert {"HMAC_224": "HMAC_SHA_224", "HMAC_256": "HMAC_SHA_256", "HMAC_384": "HMAC_SHA_384",
            "HMAC_512": "HMAC_SHA_512"}[users.EMAIL_MAC_KEY_SPEC] == users.EMAIL_MAC_ALGORITHM
    users_of_key = {n for n, p in roles(stack_run).items() if allowed(p, "kms:GenerateMac", mac_key.state["arn"], {})}
    assert users_of_key == {"auth"}


def test_the_email_lookup_hash_means_nothing_without_the_key(aws_env, monkeypatch):
    from functions.common.settings import settings

    email = "Ana.Lima@Example.org "
    first = users.email_hash(email)
    assert first == users.email_hash("ana.lima@example.org")  # normalised: one lookup, one call
    assert first not in {hashlib.sha256(f"serenya-email:{email.strip().lower()}".encode()).hexdigest(),
                         hashlib.sha256(email.strip().lower().encode()).hexdigest()}
    kms = boto3.client("kms", region_name="eu-west-1")
    other = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("EMAIL_MAC_KEY_ARN", other)
    settings.cache_clear()
    assert users.email_hash(email) != first  # another key, another hash
    monkeypatch.setenv("EMAIL_MAC_KEY_ARN", aws_env["data_key"])  # not an HMAC key: refused, no fallback
    settings.cache_clear()
    with pytest.raises(ClientError) as e:
        users.email_hash(email)
    assert e.value.response["Error"]["Code"] == "InvalidKeyUsageException"


def test_hashing_an_email_is_one_kms_call_and_nothing_is_cached(aws_env):
    from functions.common import aws

    calls = []
    aws.client("kms").meta.events.register("before-call.kms.*", lambda **kw: calls.append(kw["event_name"]))
    for _ in range(3):
        users.email_hash("same@example.org")
    assert calls == ["before-call.kms.GenerateMac"] * 3


def test_per_user_keys_are_wrapped_by_the_pii_key(aws_env):
    from functions.common import crypto

    _, encrypted = crypto.new_data_key("user-1")
    kms = boto3.client("kms", region_name="eu-west-1")
    assert kms.decrypt(CiphertextBlob=encrypted, EncryptionContext={"user_id": "user-1"})["KeyId"] == aws_env["pii_key"]
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=encrypted, EncryptionContext={"user_id": "user-2"})


def test_the_canary_signs_only_with_its_own_key_and_nothing_else_signs_with_it(stack_run):
    """The canary's role cannot mint a user's token (no kms:Sign on the users' signing key),
    and no role but the canary's may sign with the canary's key; the authorizer alone reads
    its public half, as it reads the users' key's (functions/common/tokens.py verify)."""
    users_key, canary_key = key(stack_run, "signing"), key(stack_run, "signing-canary")
    for k in (users_key, canary_key):
        assert (k.inputs["customerMasterKeySpec"], k.inputs["keyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    assert users_key.state["arn"] != canary_key.state["arn"]
    policies = roles(stack_run)

    def who(action, arn):
        return {n for n, p in policies.items() if allowed(p, action, arn, {})}

    assert who("kms:Sign", canary_key.state["arn"]) == {"canary"}
    assert who("kms:Sign", users_key.state["arn"]) == {"auth"}
    assert who("kms:GetPublicKey", canary_key.state["arn"]) == {"canary", "authorizer"}
