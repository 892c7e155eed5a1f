"""The role policy each catalog declaration yields (components/iam.py), without Pulumi:
exactly the statements an access needs, each named, scoped and conditioned, and nothing
when the access is not declared. The Sids are the permissions' names: the least-privilege
test of the end-to-end suite excuses statements by them and reviewers read them."""

from __future__ import annotations

import pytest

from components import iam
from functions.catalog import (CATALOG, Access, Function, KeyUse, Route, S3Trigger, ScheduleTrigger, StreamTrigger,
                               TableAccess)

ACCOUNT = "111122223333"
ARNS = iam.StackArns(
    region="eu-west-1", account_id=ACCOUNT,
    log_group=f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/serenya-dev-fn",
    table=f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/serenya-dev",
    table_stream=f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/serenya-dev/stream/2026-01-01T00:00:00.000",
    temp_bucket="arn:aws:s3:::serenya-dev-temp", events_bucket="arn:aws:s3:::serenya-dev-events",
    data_key=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/data", signing_key=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/signing",
    secret=f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:serenya/dev/third-party-AbCdEf",
    bedrock_model_id="eu.anthropic.claude-haiku-4-5-20251001-v1:0",
    pii_key=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/pii", email_mac_key=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/mac",
    canary_signing_key=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/canary-signing")
BASE = {"WriteOwnLogs", "WriteTraces"}


def document(access=Access(), arns=ARNS, **fn) -> dict:
    return iam.policy_document(Function("fn", "a function", access=access, **fn), arns)


def granted(access=Access(), arns=ARNS, **fn) -> dict[str, dict]:
    statements = document(access, arns, **fn)["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert len(by_sid) == len(statements)  # Sids are unique within a policy
    for s in statements:
        assert s["Effect"] == "Allow" and set(s) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
    return by_sid


def allow(sid, actions, resources, condition=None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    return {**statement, "Condition": condition} if condition is not None else statement


def extra(access=Access(), **fn) -> dict[str, dict]:
    """The statements beyond logs and traces."""
    return {sid: s for sid, s in granted(access, **fn).items() if sid not in BASE}


def test_every_role_writes_its_own_logs_and_traces_and_nothing_else():
    policy = document()
    assert policy["Version"] == "2012-10-17"
    assert policy["Statement"] == [
        allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{ARNS.log_group}:*"]),
        allow("WriteTraces", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"])]
    assert set(policy["Statement"][1]["Action"]) == iam.UNSCOPABLE_ACTIONS


# DynamoDB decrypts the table key as the caller: every role that touches the table or its
# stream holds this, for this table of this account, through DynamoDB only.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html
TABLE_KEY = allow("UseTableKeyThroughDynamoDB", ["kms:Decrypt"], [ARNS.data_key], {"StringEquals": {
    "kms:ViaService": "dynamodb.eu-west-1.amazonaws.com",
    "kms:EncryptionContext:aws:dynamodb:tableName": "serenya-dev",
    "kms:EncryptionContext:aws:dynamodb:subscriberId": ACCOUNT}})


def test_an_authorized_route_may_only_check_that_the_account_exists():
    check = allow("CheckAccountExists", ["dynamodb:GetItem"], [ARNS.table], iam.CHECK_ACCOUNT_CONDITION)
    assert extra(routes=(Route("GET", "/api/v1/things"),)) == {"CheckAccountExists": check,
                                                               "UseTableKeyThroughDynamoDB": TABLE_KEY}
    assert extra(Access(table=TableAccess.CHECK_ACCOUNT)) == {"CheckAccountExists": check,
                                                              "UseTableKeyThroughDynamoDB": TABLE_KEY}
    assert extra(routes=(Route("GET", "/api/v1/public", authorized=False),)) == {}
    assert iam.CHECK_ACCOUNT_CONDITION == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]},
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK"]},
        "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}


def test_compaction_may_read_only_the_analytics_ids_of_profiles_and_write_nothing_in_the_table():
    """Its rewrite of pre-schema-4 days maps user ids to analytics ids, 100 profiles a request."""
    read = allow("ReadAnalyticsIds", ["dynamodb:GetItem", "dynamodb:BatchGetItem"], [ARNS.table],
                 iam.USAGE_CHECK_ACCOUNT_CONDITION)
    assert extra(Access(table=TableAccess.CHECK_ACCOUNT, analytics_ids=True)) == {
        "ReadAnalyticsIds": read, "UseTableKeyThroughDynamoDB": TABLE_KEY}
    assert iam.USAGE_CHECK_ACCOUNT_CONDITION == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]},
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK", "analytics_id"]},
        "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}
    compaction = next(f for f in CATALOG if f.name == "compaction")
    assert compaction.access.analytics_ids and compaction.table_access is TableAccess.CHECK_ACCOUNT


def test_reading_the_table_covers_its_indexes_and_writing_the_table_only():
    read = allow("ReadTable", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
                               "dynamodb:ConditionCheckItem"], [ARNS.table, f"{ARNS.table}/index/*"])
    assert extra(Access(table=TableAccess.READ)) == {"ReadTable": read, "UseTableKeyThroughDynamoDB": TABLE_KEY}
    assert extra(Access(table=TableAccess.READ_WRITE)) == {"ReadTable": read, "WriteTable": allow(
        "WriteTable", ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
        [ARNS.table]), "UseTableKeyThroughDynamoDB": TABLE_KEY}
    # a route with declared table access keeps it (the account check is part of reading)
    assert set(extra(Access(table=TableAccess.READ), routes=(Route("GET", "/api/v1/x"),))) == {
        "ReadTable", "UseTableKeyThroughDynamoDB"}


def test_writing_usage_records_alone_needs_the_table_key_too():
    assert extra(Access(usage_records=True))["UseTableKeyThroughDynamoDB"] == TABLE_KEY


def test_the_table_key_condition_names_the_table_not_its_arn():
    from dataclasses import replace

    other = replace(ARNS, region="us-east-1", account_id="444455556666",
                    table="arn:aws:dynamodb:us-east-1:444455556666:table/serenya-prod")
    assert iam.table_key_condition(other) == {"StringEquals": {
        "kms:ViaService": "dynamodb.us-east-1.amazonaws.com",
        "kms:EncryptionContext:aws:dynamodb:tableName": "serenya-prod",
        "kms:EncryptionContext:aws:dynamodb:subscriberId": "444455556666"}}


def test_the_stream_consumer_reads_the_stream_and_lists_the_tables_streams():
    assert extra(trigger=StreamTrigger()) == {
        "ReadTableStream": allow("ReadTableStream", ["dynamodb:DescribeStream", "dynamodb:GetRecords",
                                                     "dynamodb:GetShardIterator"], [ARNS.table_stream]),
        "ListTableStreams": allow("ListTableStreams", ["dynamodb:ListStreams"], [f"{ARNS.table}/stream/*"]),
        # the stream's records are encrypted with the table's key, with the same context
        "UseTableKeyThroughDynamoDB": TABLE_KEY}
    assert extra(trigger=S3Trigger("incoming/")) == extra(trigger=ScheduleTrigger("rate(1 day)")) == {}


def test_job_files_are_granted_per_prefix_and_action():
    got = extra(Access(temp_read=("incoming/", "outgoing/"), temp_write=("outgoing/",), temp_delete=("incoming/",)))
    bucket = ARNS.temp_bucket
    assert got["ReadJobFiles"] == allow("ReadJobFiles", ["s3:GetObject"], [f"{bucket}/incoming/*", f"{bucket}/outgoing/*"])
    assert got["WriteJobFiles"] == allow("WriteJobFiles", ["s3:PutObject"], [f"{bucket}/outgoing/*"])
    assert got["DeleteJobFiles"] == allow("DeleteJobFiles", ["s3:DeleteObject"], [f"{bucket}/incoming/*"])
    assert "ListJobFiles" not in got
    only_write = extra(Access(temp_write=("incoming/",)))
    assert set(only_write) == {"WriteJobFiles", "UseStorageKeyThroughServices"}


def test_listing_is_limited_to_the_prefixes_it_may_read_or_delete():
    got = extra(Access(temp_read=("outgoing/",), temp_delete=("incoming/", "claims/"), temp_write=("x/",),
                       temp_list=True))
    assert got["ListJobFiles"] == allow("ListJobFiles", ["s3:ListBucket"], [ARNS.temp_bucket], {
        "StringLike": {"s3:prefix": ["claims/*", "incoming/*", "outgoing/*"]}})


def test_audit_events_are_written_and_read_under_audit_only():
    assert extra(Access(events_write=True))["WriteAuditEvents"] == allow(
        "WriteAuditEvents", ["s3:PutObject", "s3:DeleteObject"], [f"{ARNS.events_bucket}/audit/*"])
    reader = extra(Access(events_read=True))
    assert reader["ReadAuditEvents"] == allow("ReadAuditEvents", ["s3:GetObject"], [f"{ARNS.events_bucket}/audit/*"])
    assert reader["ListAuditEvents"] == allow("ListAuditEvents", ["s3:ListBucket"], [ARNS.events_bucket],
                                              {"StringLike": {"s3:prefix": ["audit/*"]}})
    assert "WriteAuditEvents" not in reader


@pytest.mark.parametrize("access, actions, services", [
    (Access(temp_read=("incoming/",)), ["kms:Decrypt"], ["s3"]),
    (Access(temp_write=("incoming/",)), ["kms:Decrypt", "kms:GenerateDataKey"], ["s3"]),
    (Access(events_read=True), ["kms:Decrypt"], ["s3"]),
    (Access(events_write=True), ["kms:Decrypt", "kms:GenerateDataKey"], ["s3"]),
    (Access(secrets=True), ["kms:Decrypt"], ["secretsmanager"]),
    (Access(temp_read=("incoming/",), secrets=True), ["kms:Decrypt"], ["s3", "secretsmanager"]),
    (Access(temp_delete=("incoming/",)), None, None),   # deleting needs no key
    (Access(), None, None),
])
def test_the_storage_key_is_used_only_through_the_services_that_hold_its_data(access, actions, services):
    statement = extra(access).get("UseStorageKeyThroughServices")
    if actions is None:
        assert statement is None
        return
    assert statement == allow("UseStorageKeyThroughServices", actions, [ARNS.data_key], {
        "StringEquals": {"kms:ViaService": [f"{s}.eu-west-1.amazonaws.com" for s in services]}})


@pytest.mark.parametrize("use, actions", [(KeyUse.ENCRYPT_DECRYPT, ["kms:Decrypt", "kms:GenerateDataKey"]),
                                          (KeyUse.DECRYPT, ["kms:Decrypt"])])
def test_per_user_keys_are_unwrapped_with_the_users_context_by_the_function_itself(use, actions):
    assert extra(Access(pii_key=use)) == {"UnwrapPerUserKeys": allow("UnwrapPerUserKeys", actions, [ARNS.pii_key], {
        "Null": {"kms:EncryptionContext:user_id": "false", "kms:ViaService": "true"},
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["user_id"]}})}


def test_email_hashes_signing_keys_model_and_secret_each_have_their_own_statement():
    assert extra(Access(email_mac=True)) == {"HashEmailsForLookup": allow(
        "HashEmailsForLookup", ["kms:GenerateMac"], [ARNS.email_mac_key])}
    assert extra(Access(signing_key=KeyUse.SIGN)) == {"UseSigningKey": allow(
        "UseSigningKey", ["kms:Sign", "kms:GetPublicKey"], [ARNS.signing_key])}
    assert extra(Access(signing_key=KeyUse.VERIFY)) == {"UseSigningKey": allow(
        "UseSigningKey", ["kms:GetPublicKey"], [ARNS.signing_key])}
    # The canary's key is its own statement on its own ARN: signing with it is no right on the users' key.
    assert extra(Access(canary_signing_key=KeyUse.SIGN)) == {"UseCanarySigningKey": allow(
        "UseCanarySigningKey", ["kms:Sign", "kms:GetPublicKey"], [ARNS.canary_signing_key])}
    assert extra(Access(canary_signing_key=KeyUse.VERIFY)) == {"UseCanarySigningKey": allow(
        "UseCanarySigningKey", ["kms:GetPublicKey"], [ARNS.canary_signing_key])}
    profile = f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/{ARNS.bedrock_model_id}"
    assert extra(Access(bedrock=True)) == {
        "InvokeModel": allow("InvokeModel", ["bedrock:InvokeModel"], [profile]),
        "InvokeModelThroughProfile": allow(
            "InvokeModelThroughProfile", ["bedrock:InvokeModel"],
            ["arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"],
            {"StringEquals": {"bedrock:InferenceProfileArn": profile}})}
    secret = extra(Access(secrets=True))
    assert secret["ReadThirdPartySecret"] == allow("ReadThirdPartySecret", ["secretsmanager:GetSecretValue"],
                                                   [ARNS.secret])
    assert extra(Access(oauth=True, stores=True)) == {}  # environment only: nothing in AWS


def test_failed_events_go_to_the_functions_own_queue_only_when_it_has_one():
    from dataclasses import replace

    queue = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:serenya-dev-fn-failures"
    assert extra(arns=replace(ARNS, failure_queue=queue), trigger=S3Trigger("incoming/")) == {
        "SendFailedEvents": allow("SendFailedEvents", ["sqs:SendMessage"], [queue])}
    assert "SendFailedEvents" not in extra(trigger=S3Trigger("incoming/"))


@pytest.mark.parametrize("geo", ["eu", "us", "apac", "global", "jp", "au", "ca", "us-gov"])
def test_a_cross_region_profile_needs_the_profile_and_the_model_in_any_region(geo):
    assert iam.bedrock_resources(f"{geo}.anthropic.claude-x-v1:0", "eu-west-1", ACCOUNT) == [
        f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/{geo}.anthropic.claude-x-v1:0",
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-x-v1:0"]


def test_the_model_behind_a_profile_is_reachable_only_through_the_profile():
    """AWS: "To restrict user access so that they can invoke a foundation model only through
    an inference profile", condition the model statement on bedrock:InferenceProfileArn.
    https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html"""
    from local.iam_eval import Request, evaluate

    policy = document(Access(bedrock=True))
    profile = f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/{ARNS.bedrock_model_id}"
    model = "anthropic.claude-haiku-4-5-20251001-v1:0"
    through = {"bedrock:InferenceProfileArn": profile}
    assert evaluate(policy, Request("bedrock:InvokeModel", profile))
    for region in ("eu-west-1", "eu-central-1", "eu-north-1"):  # wherever the profile routes it
        assert evaluate(policy, Request("bedrock:InvokeModel", f"arn:aws:bedrock:{region}::foundation-model/{model}",
                                        through))
    for region in ("eu-west-1", "us-east-1"):  # directly, here or outside the geography: refused
        assert not evaluate(policy, Request("bedrock:InvokeModel", f"arn:aws:bedrock:{region}::foundation-model/{model}"))
    us_profile = profile.replace("inference-profile/eu.", "inference-profile/us.")
    assert not evaluate(policy, Request("bedrock:InvokeModel", f"arn:aws:bedrock:us-east-1::foundation-model/{model}",
                                        {"bedrock:InferenceProfileArn": us_profile}))
    assert not evaluate(policy, Request("bedrock:InvokeModel", us_profile))
    # A model id without a profile is granted in the stack's region, unconditioned.
    bare = document(Access(bedrock=True), arns=__import__("dataclasses").replace(ARNS, bedrock_model_id="mistral.large-v1:0"))
    assert [s["Sid"] for s in bare["Statement"] if s["Sid"].startswith("Invoke")] == ["InvokeModel"]


def test_a_model_id_or_arn_is_granted_as_it_is():
    arn = f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:application-inference-profile/abc"
    assert iam.bedrock_resources(arn, "eu-west-1", ACCOUNT) == [arn]
    assert iam.bedrock_resources("mistral.large-v1:0", "eu-west-1", ACCOUNT) == [
        "arn:aws:bedrock:eu-west-1::foundation-model/mistral.large-v1:0"]
    assert iam.bedrock_resources("eu", "eu-west-1", ACCOUNT) == ["arn:aws:bedrock:eu-west-1::foundation-model/eu"]


def test_the_storage_key_condition_names_each_service_in_the_region():
    assert iam.via_services("us-east-1", ["s3", "secretsmanager"]) == {"StringEquals": {"kms:ViaService": [
        "s3.us-east-1.amazonaws.com", "secretsmanager.us-east-1.amazonaws.com"]}}
