"""Every principal that needs a KMS key may use it, by the key policies the program
generates (both stacks), evaluated with local/iam_eval.py rather than by reading
statements: whatever the keys are split into, each test finds the keys through what
uses them (log groups, topics and the alarms that notify them, buckets, the table, the
secret, the Athena workgroup) and proves the request AWS makes is allowed, and that the
same request from another account is not.

- the account root: IAM in the account governs the key, and the key stays administrable
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
- CloudWatch Logs, with the encryption context aws:logs:arn of the log group
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
- CloudWatch alarms publishing to an encrypted SNS topic
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-encrypted-sns-topics
  https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
- S3, DynamoDB, Secrets Manager and Athena, used with the caller's permissions (kms:ViaService)
  https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
"""

import json

from local.iam_eval import Request, default_key_policy, evaluate_resource_policy, kms_allowed

OTHER_ACCOUNT = "999999999999"


def key_policies(run) -> dict[str, dict]:
    return {k.state["arn"]: json.loads(k.inputs["policy"]) if k.inputs.get("policy")
            else default_key_policy(run.mocks.account_id) for k in run.mocks.of_type("aws:kms/key:Key")}


def region_of(arn: str) -> str:
    return arn.split(":")[3]


def key_use(run, arn: str) -> tuple[str, dict]:
    """The request that uses a key for its purpose: a MAC for the HMAC key, a per-user
    data key (with its user id as encryption context) for the PII key, Decrypt otherwise."""
    key = next(k for k in run.mocks.of_type("aws:kms/key:Key") if k.state["arn"] == arn)
    if (key.inputs.get("customerMasterKeySpec") or key.inputs.get("keySpec") or "").startswith("HMAC"):
        return "kms:GenerateMac", {}
    if key.name.endswith("-pii"):
        return "kms:Decrypt", {"kms:EncryptionContext:user_id": "a-user"}
    return "kms:Decrypt", {}


def test_the_account_root_administers_every_key_and_delegates_to_iam(stack_run):
    account = stack_run.mocks.account_id
    keys = key_policies(stack_run)
    assert keys
    for arn, policy in keys.items():
        root = f"arn:aws:iam::{account}:root"
        for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"):
            assert evaluate_resource_policy(policy, Request(action, arn, principal=root)), (arn, action)
        action, context = key_use(stack_run, arn)
        assert evaluate_resource_policy(policy, Request(action, arn, context, principal=root)), (arn, action)
        # A role of the account is allowed exactly when its IAM policy allows.
        role = f"arn:aws:iam::{account}:role/any"
        iam = {"Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": arn}]}
        assert kms_allowed(policy, [iam], Request("kms:DescribeKey", arn, principal=role))
        assert not kms_allowed(policy, [], Request("kms:DescribeKey", arn, principal=role))
        assert not kms_allowed(policy, [iam], Request("kms:DescribeKey", arn,
                                                      principal=f"arn:aws:iam::{OTHER_ACCOUNT}:role/any"))


def test_cloudwatch_logs_may_use_the_key_of_every_encrypted_log_group(stack_run):
    account, keys = stack_run.mocks.account_id, key_policies(stack_run)
    groups = [g for g in stack_run.mocks.of_type("aws:cloudwatch/logGroup:LogGroup") if g.inputs.get("kmsKeyId")]
    assert groups
    for group in groups:
        key = group.inputs["kmsKeyId"]
        region = group.inputs.get("region") or stack_run.settings.region
        arn = f"arn:aws:logs:{region}:{account}:log-group:{group.inputs['name']}"
        for action in ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:DescribeKey"):
            request = Request(action, key, {"kms:EncryptionContext:aws:logs:arn": arn},
                              principal=f"logs.{region}.amazonaws.com", service_principal=True)
            assert evaluate_resource_policy(keys[key], request), (group.inputs["name"], action)
        # Another account's log group may not use the key.
        other = arn.replace(f":{account}:", f":{OTHER_ACCOUNT}:")
        assert not evaluate_resource_policy(keys[key], Request(
            "kms:GenerateDataKey", key, {"kms:EncryptionContext:aws:logs:arn": other},
            principal=f"logs.{region}.amazonaws.com", service_principal=True))


def test_cloudwatch_alarms_may_publish_to_every_encrypted_topic_they_notify(stack_run):
    account, keys, mocks = stack_run.mocks.account_id, key_policies(stack_run), stack_run.mocks
    alarms = mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") + \
        mocks.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")
    notified = {a for alarm in alarms for a in (alarm.inputs.get("alarmActions") or []) +
                (alarm.inputs.get("okActions") or [])}
    topics = [t for t in mocks.of_type("aws:sns/topic:Topic") if t.state["arn"] in notified]
    assert topics and all(t.inputs.get("kmsMasterKeyId") for t in topics), "alarm topics are encrypted"
    for topic in topics:
        key = topic.inputs["kmsMasterKeyId"]
        assert region_of(key) == region_of(topic.state["arn"]), "a topic's key is in its region"
        alarm = f"arn:aws:cloudwatch:{region_of(topic.state['arn'])}:{account}:alarm:any"
        for action in ("kms:Decrypt", "kms:GenerateDataKey"):
            request = Request(action, key, {"aws:SourceAccount": account, "aws:SourceArn": alarm},
                              principal="cloudwatch.amazonaws.com", service_principal=True)
            assert evaluate_resource_policy(keys[key], request), (topic.inputs["name"], action)
        assert not evaluate_resource_policy(keys[key], Request(
            "kms:GenerateDataKey", key, {"aws:SourceAccount": OTHER_ACCOUNT,
                                         "aws:SourceArn": alarm.replace(account, OTHER_ACCOUNT)},
            principal="cloudwatch.amazonaws.com", service_principal=True))


def encrypted_by_services(run) -> list[tuple[str, str, str, dict]]:
    """(service, what, key ARN, encryption context) for everything a service encrypts with
    a key on behalf of the account's principals."""
    m, account, region = run.mocks, run.mocks.account_id, run.settings.region
    found = []
    for sse in m.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
        key = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"].get("kmsMasterKeyId")
        if key:
            found.append(("s3", sse.inputs["bucket"], key, {"aws:s3:arn": f"arn:aws:s3:::{sse.inputs['bucket']}"}))
    for table in m.of_type("aws:dynamodb/table:Table"):
        key = (table.inputs.get("serverSideEncryption") or {}).get("kmsKeyArn")
        if key:
            found.append(("dynamodb", table.inputs["name"], key, {
                "aws:dynamodb:tableName": table.inputs["name"], "aws:dynamodb:subscriberId": account}))
    for secret in m.of_type("aws:secretsmanager/secret:Secret"):
        if secret.inputs.get("kmsKeyId"):
            found.append(("secretsmanager", secret.inputs["name"], secret.inputs["kmsKeyId"],
                          {"SecretARN": secret.state["arn"], "SecretVersionId": "v1"}))
    for workgroup in m.of_type("aws:athena/workgroup:Workgroup"):
        encryption = workgroup.inputs["configuration"]["resultConfiguration"].get("encryptionConfiguration") or {}
        if encryption.get("kmsKeyArn"):
            bucket = workgroup.inputs["configuration"]["resultConfiguration"]["outputLocation"][5:].split("/")[0]
            found.append(("s3", f"athena results {bucket}", encryption["kmsKeyArn"],
                          {"aws:s3:arn": f"arn:aws:s3:::{bucket}"}))
    assert {s for s, *_ in found} >= {"s3", "dynamodb", "secretsmanager"}, region
    return found


def test_services_may_use_the_keys_of_what_they_encrypt_for_the_accounts_principals(stack_run):
    """S3, DynamoDB, Secrets Manager and Athena use a key with the caller's permissions: a
    principal of the account whose IAM policy grants the key through the service is
    allowed; one of another account is not."""
    account, keys, region = stack_run.mocks.account_id, key_policies(stack_run), stack_run.settings.region
    for service, what, key, context in encrypted_by_services(stack_run):
        iam = {"Statement": [{"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key}]}
        for action in ("kms:Decrypt", "kms:GenerateDataKey"):
            request_context = {"kms:ViaService": f"{service}.{region}.amazonaws.com", "kms:CallerAccount": account,
                               **{f"kms:EncryptionContext:{k}": v for k, v in context.items()},
                               "kms:EncryptionContextKeys": sorted(context)}
            mine = Request(action, key, request_context, principal=f"arn:aws:iam::{account}:role/serenya-fn")
            assert kms_allowed(keys[key], [iam], mine), (service, what, action)
            theirs = Request(action, key, {**request_context, "kms:CallerAccount": OTHER_ACCOUNT},
                             principal=f"arn:aws:iam::{OTHER_ACCOUNT}:role/x")
            assert not kms_allowed(keys[key], [iam], theirs), (service, what, action)


def test_the_pii_key_opens_only_with_a_user_and_never_through_a_service(stack_run):
    """Keys by purpose: whatever IAM grants, the PII key refuses a request without a user
    id context, and one made through another service (kms:ViaService)."""
    account, keys = stack_run.mocks.account_id, key_policies(stack_run)
    pii = next(k.state["arn"] for k in stack_run.mocks.of_type("aws:kms/key:Key") if k.name.endswith("-pii"))
    root = f"arn:aws:iam::{account}:root"
    assert not evaluate_resource_policy(keys[pii], Request("kms:Decrypt", pii, principal=root))
    assert not evaluate_resource_policy(keys[pii], Request(
        "kms:Decrypt", pii, {"kms:EncryptionContext:user_id": "a-user",
                             "kms:ViaService": f"s3.{stack_run.settings.region}.amazonaws.com"}, principal=root))
