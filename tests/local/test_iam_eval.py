"""The IAM evaluator (local/iam_eval.py) against the rules AWS documents:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"""

import pytest

from local.iam_eval import (Request, Unsupported, arn_matches, default_key_policy, evaluate,
                            evaluate_resource_policy, kms_allowed)

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/serenya-dev-status"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_actions_match_with_wildcards_case_insensitively():
    p = policy(allow(["s3:Get*", "dynamodb:getitem"], "*"))
    assert evaluate(p, Request("s3:GetObject", "arn:aws:s3:::b/k"))
    assert evaluate(p, Request("dynamodb:GetItem", "x"))
    assert not evaluate(p, Request("s3:PutObject", "arn:aws:s3:::b/k"))
    assert not evaluate(p, Request("s3tables:GetTable", "x"))


def test_resources_match_segment_by_segment():
    assert arn_matches("arn:aws:s3:::bucket/incoming/*", "arn:aws:s3:::bucket/incoming/a:b/c")
    assert not arn_matches("arn:aws:s3:::bucket/incoming/*", "arn:aws:s3:::bucket/outgoing/x")
    assert not arn_matches("arn:aws:s3:::bucket/incoming/*", "arn:aws:s3:::bucket")
    # A wildcard stays within its segment: the region's does not stand for the account too.
    assert arn_matches("arn:aws:dynamodb:*:1:table/t", "arn:aws:dynamodb:eu-west-1:1:table/t")
    assert not arn_matches("arn:aws:dynamodb:*:1:table/t", "arn:aws:dynamodb:eu-west-1:2:table/t")
    assert not arn_matches("arn:aws:dynamodb:eu-*:table/t", "arn:aws:dynamodb:eu-west-1:1:table/t")
    assert arn_matches("arn:aws:bedrock:*::foundation-model/m", "arn:aws:bedrock:eu-west-3::foundation-model/m")
    assert arn_matches("arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/f:*",
                       "arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/f:log-stream:s")


def test_explicit_deny_wins_and_nothing_allowed_is_denied():
    p = policy(allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*", "Sid": "No"})
    assert evaluate(p, Request("s3:GetObject", "arn:aws:s3:::b/k"))
    decision = evaluate(p, Request("s3:DeleteObject", "arn:aws:s3:::b/k"))
    assert not decision and decision.denied_by == ("No",)
    assert not evaluate(policy(), Request("s3:GetObject", "arn:aws:s3:::b/k"))


def test_not_action_and_not_resource():
    p = policy({"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": "arn:aws:s3:::secret/*"})
    assert evaluate(p, Request("s3:GetObject", "arn:aws:s3:::b/k"))
    assert not evaluate(p, Request("s3:DeleteObject", "arn:aws:s3:::b/k"))
    assert not evaluate(p, Request("s3:GetObject", "arn:aws:s3:::secret/k"))


def test_conditions_all_operators_all_keys_any_value():
    p = policy(allow("s3:ListBucket", "arn:aws:s3:::b", Condition={
        "StringLike": {"s3:prefix": ["incoming/*", "outgoing/*"]},
        "Bool": {"aws:SecureTransport": "true"}}))
    ok = {"s3:prefix": "outgoing/u1", "aws:SecureTransport": True}
    assert evaluate(p, Request("s3:ListBucket", "arn:aws:s3:::b", ok))
    assert not evaluate(p, Request("s3:ListBucket", "arn:aws:s3:::b", {**ok, "s3:prefix": "claims/u1"}))
    assert not evaluate(p, Request("s3:ListBucket", "arn:aws:s3:::b", {**ok, "aws:SecureTransport": False}))
    # A key absent from the request fails the condition...
    assert not evaluate(p, Request("s3:ListBucket", "arn:aws:s3:::b", {"aws:SecureTransport": True}))
    # ...and key names are case-insensitive.
    assert evaluate(p, Request("s3:ListBucket", "arn:aws:s3:::b", {"S3:Prefix": "incoming/x",
                                                                   "aws:securetransport": "true"}))


def test_if_exists_null_and_negated_operators():
    p = policy(allow("kms:Decrypt", "*", Condition={"StringEqualsIfExists": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}))
    assert evaluate(p, Request("kms:Decrypt", KEY))
    assert not evaluate(p, Request("kms:Decrypt", KEY, {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}))
    null = policy(allow("kms:Decrypt", "*", Condition={"Null": {"kms:ViaService": "false"}}))
    assert not evaluate(null, Request("kms:Decrypt", KEY))
    assert evaluate(null, Request("kms:Decrypt", KEY, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}))
    neg = policy(allow("kms:Decrypt", "*", Condition={"StringNotEquals": {"kms:ViaService": ["a", "b"]}}))
    assert evaluate(neg, Request("kms:Decrypt", KEY, {"kms:ViaService": "c"}))
    assert not evaluate(neg, Request("kms:Decrypt", KEY, {"kms:ViaService": "b"}))


def test_encryption_context_and_multivalued_keys():
    p = policy(allow("kms:GenerateDataKey", KEY, Condition={
        "StringEquals": {"kms:EncryptionContext:user_id": "u1"},
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["user_id"]}}))
    ctx = {"kms:EncryptionContext:user_id": "u1", "kms:EncryptionContextKeys": ["user_id"]}
    assert evaluate(p, Request("kms:GenerateDataKey", KEY, ctx))
    assert not evaluate(p, Request("kms:GenerateDataKey", KEY, {**ctx, "kms:EncryptionContext:user_id": "u2"}))
    assert not evaluate(p, Request("kms:GenerateDataKey", KEY, {
        **ctx, "kms:EncryptionContextKeys": ["user_id", "other"]}))
    assert not evaluate(p, Request("kms:GenerateDataKey", KEY))  # no context at all


def test_what_it_cannot_evaluate_raises():
    with pytest.raises(Unsupported):
        evaluate(policy(allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*")),
                 Request("s3:GetObject", "arn:aws:s3:::b/x/y"))
    with pytest.raises(Unsupported):
        evaluate(policy(allow("s3:GetObject", "*", Condition={"DateGreaterThan": {"aws:CurrentTime": "x"}})),
                 Request("s3:GetObject", "arn:aws:s3:::b/x", {"aws:CurrentTime": "y"}))


def test_key_policy_principals_and_iam_delegation():
    key_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Logs", "Effect": "Allow", "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
         "Action": "kms:GenerateDataKey*", "Resource": "*"}]}
    iam = policy(allow("kms:Decrypt", KEY))
    # The role is allowed only through its IAM policy (the key policy names its account).
    assert kms_allowed(key_policy, [iam], Request("kms:Decrypt", KEY, principal=ROLE))
    assert not kms_allowed(key_policy, [iam], Request("kms:Encrypt", KEY, principal=ROLE))
    assert not kms_allowed(key_policy, [], Request("kms:Decrypt", KEY, principal=ROLE))
    # Another account's role gets nothing from this key policy, whatever its IAM says.
    other = "arn:aws:iam::999999999999:role/x"
    assert not kms_allowed(key_policy, [iam], Request("kms:Decrypt", KEY, principal=other))
    # Services are named by the key policy itself, without delegation.
    logs = Request("kms:GenerateDataKey", KEY, principal="logs.eu-west-1.amazonaws.com", service_principal=True)
    assert evaluate_resource_policy(key_policy, logs)
    assert not evaluate_resource_policy(key_policy, Request(
        "kms:GenerateDataKey", KEY, principal="logs.us-east-1.amazonaws.com", service_principal=True))
    # Without a policy a key has the default one: the account, through IAM.
    assert kms_allowed(default_key_policy(ACCOUNT), [iam], Request("kms:Decrypt", KEY, principal=ROLE))
    root = Request("kms:PutKeyPolicy", KEY, principal=f"arn:aws:iam::{ACCOUNT}:root")
    assert evaluate_resource_policy(default_key_policy(ACCOUNT), root)
