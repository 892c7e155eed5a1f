"""AWS Foundational Security Best Practices controls, checked on the prod stack under
Pulumi mocks: one test per applicable control, its id in the name. Controls the stack
does not meet are listed in the README's security section with the reason."""

import json

import pytest



@pytest.fixture
def prod(prod_run):
    return prod_run


def of(run, type_):
    """The inputs of every resource of the type; never none, so that a check over all of
    them cannot pass because the program stopped declaring them (or the type was renamed)."""
    found = [r.inputs for r in run.mocks.of_type(type_)]
    assert found, f"the stack declares no {type_}"
    return found


def buckets(run):
    names = [b["bucket"] for b in of(run, "aws:s3/bucket:Bucket")]
    assert {run.outputs["temp_bucket"], run.outputs["events_bucket"]} <= set(names), names
    return names


def setting(run, type_, bucket):
    return next(r for r in of(run, type_) if r["bucket"] == bucket)


def test_S3_1_S3_8_public_access_is_blocked_on_every_bucket(prod):
    for bucket in buckets(prod):
        block = setting(prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
        assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                      "restrictPublicBuckets")), bucket


def test_S3_5_buckets_require_tls(prod):
    for bucket in buckets(prod):
        statements = json.loads(setting(prod, "aws:s3/bucketPolicy:BucketPolicy", bucket)["policy"])["Statement"]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements), bucket


def test_S3_12_acls_are_not_used(prod):
    for bucket in buckets(prod):
        controls = setting(prod, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert controls["rule"]["objectOwnership"] == "BucketOwnerEnforced"


def test_S3_13_every_bucket_has_a_lifecycle(prod):
    for bucket in buckets(prod):
        rules = setting(prod, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket)["rules"]
        assert rules and all(r["status"] == "Enabled" for r in rules)


def test_S3_14_the_audit_bucket_is_versioned(prod):
    versioned = {v["bucket"] for v in of(prod, "aws:s3/bucketVersioning:BucketVersioning")
                 if v["versioningConfiguration"]["status"] == "Enabled"}
    assert prod.outputs["events_bucket"] in versioned


def test_S3_17_buckets_are_encrypted_with_kms_keys(prod):
    for bucket in buckets(prod):
        rule = setting(prod, "aws:s3/bucketServerSideEncryptionConfiguration:"
                             "BucketServerSideEncryptionConfiguration", bucket)["rules"][0]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"


def test_DynamoDB_1_capacity_scales_with_demand(prod):
    assert of(prod, "aws:dynamodb/table:Table")[0]["billingMode"] == "PAY_PER_REQUEST"


def test_DynamoDB_2_point_in_time_recovery(prod):
    assert of(prod, "aws:dynamodb/table:Table")[0]["pointInTimeRecovery"]["enabled"] is True


def test_DynamoDB_6_deletion_protection(prod):
    assert of(prod, "aws:dynamodb/table:Table")[0]["deletionProtectionEnabled"] is True


def test_Lambda_1_functions_are_not_public(prod):
    for permission in of(prod, "aws:lambda/permission:Permission"):
        assert permission["principal"] != "*"
        assert permission.get("sourceArn") or permission.get("sourceAccount"), permission


def test_Lambda_2_supported_runtime(prod):
    supported = {"python3.12", "python3.13"}
    assert {f["runtime"] for f in of(prod, "aws:lambda/function:Function")} <= supported


def test_Lambda_7_active_tracing(prod):
    assert all(f["tracingConfig"] == {"mode": "Active"} for f in of(prod, "aws:lambda/function:Function"))


def test_KMS_4_symmetric_keys_rotate(prod):
    symmetric = [k for k in of(prod, "aws:kms/key:Key") if k.get("keyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"]
    assert symmetric, "no symmetric key checked"
    for key in symmetric:
        assert key["enableKeyRotation"] is True, key.get("description")


def test_KMS_1_KMS_2_IAM_IAM_21_no_wildcard_actions_or_unscoped_key_use(prod):
    statements = [s for p in of(prod, "aws:iam/rolePolicy:RolePolicy") for s in json.loads(p["policy"])["Statement"]]
    assert statements
    for statement in statements:
        assert not any("*" in action for action in statement["Action"]), statement
        if any(a.startswith("kms:") for a in statement["Action"]):
            assert "*" not in statement["Resource"], statement


def test_APIGateway_1_execution_logging(prod):
    settings = of(prod, "aws:apigateway/methodSettings:MethodSettings")[0]["settings"]
    assert settings["loggingLevel"] in ("ERROR", "INFO")


def test_APIGateway_3_xray_tracing(prod):
    assert of(prod, "aws:apigateway/stage:Stage")[0]["xrayTracingEnabled"] is True


def test_APIGateway_9_access_logging(prod):
    assert of(prod, "aws:apigateway/stage:Stage")[0]["accessLogSettings"]["destinationArn"]


def test_CloudFront_3_https_only(prod):
    cdn = of(prod, "aws:cloudfront/distribution:Distribution")[0]
    assert cdn["defaultCacheBehavior"]["viewerProtocolPolicy"] in ("https-only", "redirect-to-https")


def test_CloudFront_6_waf_attached(prod):
    assert of(prod, "aws:cloudfront/distribution:Distribution")[0]["webAclId"]


def test_CloudFront_9_CloudFront_10_tls_1_2_to_the_origin(prod):
    origin = of(prod, "aws:cloudfront/distribution:Distribution")[0]["origins"][0]["customOriginConfig"]
    assert origin["originProtocolPolicy"] == "https-only" and origin["originSslProtocols"] == ["TLSv1.2"]


def test_WAF_10_WAF_12_rules_exist_and_report_metrics(prod):
    acl = of(prod, "aws:wafv2/webAcl:WebAcl")[0]
    assert acl["rules"] and all(r["visibilityConfig"]["cloudwatchMetricsEnabled"] for r in acl["rules"])


def test_SNS_1_topics_encrypted_with_kms(prod):
    assert all(t["kmsMasterKeyId"] for t in of(prod, "aws:sns/topic:Topic"))


def test_SQS_1_queues_encrypted(prod):
    assert all(q.get("sqsManagedSseEnabled") or q.get("kmsMasterKeyId") for q in of(prod, "aws:sqs/queue:Queue"))


def test_CloudWatch_16_prod_logs_kept_a_year(prod):
    assert all(g["retentionInDays"] >= 365 for g in of(prod, "aws:cloudwatch/logGroup:LogGroup"))


def test_log_groups_encrypted_with_the_data_key(prod):
    key = prod.outputs["data_key_arn"]
    assert all(g["kmsKeyId"] == key for g in of(prod, "aws:cloudwatch/logGroup:LogGroup"))


def test_Athena_results_encrypted(prod):
    config = of(prod, "aws:athena/workgroup:Workgroup")[0]["configuration"]
    assert config["resultConfiguration"]["encryptionConfiguration"]["encryptionOption"] == "SSE_KMS"
    assert config["enforceWorkgroupConfiguration"] is True
