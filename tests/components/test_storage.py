"""StorageLayer under Pulumi mocks, for both stacks: properties, not snapshots."""

import json

import pytest


BUCKET = "aws:s3/bucket:Bucket"


@pytest.fixture
def dev(dev_run):
    return dev_run


@pytest.fixture
def prod(prod_run):
    return prod_run


@pytest.fixture
def stack(stack_run):
    return stack_run


def data_key(run):
    return run.mocks.one("aws:kms/key:Key", "-data")


def bucket_settings(run, type_, bucket_name):
    return next(r.inputs for r in run.mocks.of_type(type_) if r.inputs["bucket"] == bucket_name)


def test_data_key_rotates_and_has_the_stack_alias(stack):
    key = data_key(stack)
    assert key.inputs["enableKeyRotation"] is True
    aliases = {a.inputs["name"]: a.inputs["targetKeyId"] for a in stack.mocks.of_type("aws:kms/alias:Alias")}
    assert aliases[f"alias/serenya-{stack.settings.env}"] == key.state["keyId"]


def test_data_key_policy_lets_only_this_accounts_log_groups_use_it(stack):
    policy = json.loads(data_key(stack).inputs["policy"])
    logs = next(s for s in policy["Statement"] if s["Principal"].get("Service", "").startswith("logs."))
    assert logs["Principal"]["Service"] == "logs.eu-west-1.amazonaws.com"
    condition = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert condition.startswith(f"arn:aws:logs:eu-west-1:{stack.mocks.account_id}:log-group:")
    assert not any(s["Effect"] == "Allow" and s["Principal"] == "*" for s in policy["Statement"])


@pytest.mark.parametrize("suffix", ["-signing", "-signing-canary"])
def test_signing_keys_are_asymmetric_p256(stack, suffix):
    key = stack.mocks.one("aws:kms/key:Key", endswith=suffix)
    assert key.inputs["customerMasterKeySpec"] == "ECC_NIST_P256"
    assert key.inputs["keyUsage"] == "SIGN_VERIFY"


def test_single_table_design(stack):
    table = stack.mocks.one("aws:dynamodb/table:Table").inputs
    assert table["name"] == f"serenya-{stack.settings.env}"
    assert (table["hashKey"], table["rangeKey"]) == ("PK", "SK")
    assert table["billingMode"] == "PAY_PER_REQUEST"
    indexes = {g["name"]: (g["hashKey"], g["rangeKey"]) for g in table["globalSecondaryIndexes"]}
    assert indexes == {"GSI1": ("GSI1PK", "GSI1SK"), "GSI2": ("GSI2PK", "GSI2SK")}
    assert table["streamEnabled"] and table["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": data_key(stack).state["arn"]}


def test_point_in_time_recovery_and_deletion_protection_only_in_prod(dev, prod):
    dev_table = dev.mocks.one("aws:dynamodb/table:Table").inputs
    prod_table = prod.mocks.one("aws:dynamodb/table:Table").inputs
    assert prod_table["pointInTimeRecovery"]["enabled"] and prod_table["deletionProtectionEnabled"]
    assert not dev_table["pointInTimeRecovery"]["enabled"] and not dev_table["deletionProtectionEnabled"]


@pytest.mark.parametrize("output", ["temp_bucket", "events_bucket", "athena_results_bucket"])
def test_every_bucket_is_private_encrypted_and_tls_only(stack, output):
    name = stack.outputs[output]
    assert name.startswith(f"serenya-{stack.settings.env}-") and name.endswith(stack.mocks.account_id)
    block = bucket_settings(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name)
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    sse = bucket_settings(stack, "aws:s3/bucketServerSideEncryptionConfiguration:"
                                 "BucketServerSideEncryptionConfiguration", name)["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": data_key(stack).state["arn"]}
    assert sse["bucketKeyEnabled"] is True
    policy = json.loads(bucket_settings(stack, "aws:s3/bucketPolicy:BucketPolicy", name)["policy"])
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"}
    ownership = bucket_settings(stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", name)
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"


def lifecycle(run, output):
    rules = bucket_settings(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                            run.outputs[output])["rules"]
    return {r["filter"]["prefix"]: r for r in rules}


def test_job_files_expire_after_two_days(stack):
    rules = lifecycle(stack, "temp_bucket")
    assert set(rules) == {"incoming/", "outgoing/", "claims/"}  # claims name their user too
    assert all(r["expiration"]["days"] == 2 and r["status"] == "Enabled" for r in rules.values())


def test_temp_bucket_cors_allows_the_stacks_origins_to_post(stack):
    cors = bucket_settings(stack, "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration",
                           stack.outputs["temp_bucket"])["corsRules"]
    assert [r["allowedOrigins"] for r in cors] == [list(stack.settings.allowed_origins)]
    assert all(r["allowedMethods"] == ["POST"] for r in cors)


def test_audit_events_age_into_cheaper_storage_athena_can_still_read(stack):
    rule = lifecycle(stack, "events_bucket")["audit/"]
    assert [(t["days"], t["storageClass"]) for t in rule["transitions"]] == [(90, "STANDARD_IA"), (365, "GLACIER_IR")]
    assert rule["expiration"]["days"] == 7 * 365
    versioning = bucket_settings(stack, "aws:s3/bucketVersioning:BucketVersioning", stack.outputs["events_bucket"])
    assert versioning["versioningConfiguration"]["status"] == "Enabled"


def test_athena_results_expire_quickly(stack):
    rule = lifecycle(stack, "athena_results_bucket")[""]
    assert rule["expiration"]["days"] <= 7


def test_secret_is_encrypted_with_the_data_key(stack):
    secret = stack.mocks.one("aws:secretsmanager/secret:Secret").inputs
    assert secret["kmsKeyId"] == data_key(stack).state["arn"]
    assert secret["name"] == f"serenya/{stack.settings.env}/third-party"


def kept(run):
    """Logical name -> (protect, retain_on_delete) of what holds data to keep."""
    mocks = run.mocks
    records = {
        "table": mocks.one("aws:dynamodb/table:Table"),
        "events bucket": next(b for b in mocks.of_type(BUCKET) if b.inputs["bucket"] == run.outputs["events_bucket"]),
        "data key": data_key(run),
        "signing key": mocks.one("aws:kms/key:Key", endswith="-signing"),
        "canary's signing key": mocks.one("aws:kms/key:Key", endswith="-signing-canary"),
        "secret": mocks.one("aws:secretsmanager/secret:Secret"),
    }
    return {what: (mocks.options_of(r).protect, mocks.options_of(r).retain_on_delete) for what, r in records.items()}


def test_prod_protects_and_retains_what_holds_data(prod):
    """protect stops `pulumi destroy`; retain_on_delete leaves the resource in AWS if a
    refactor drops or replaces it (https://www.pulumi.com/docs/iac/concepts/options/retainondelete/)."""
    assert kept(prod) == {what: (True, True) for what in kept(prod)}
    events = next(b.inputs for b in prod.mocks.of_type(BUCKET) if b.inputs["bucket"] == prod.outputs["events_bucket"])
    assert events["forceDestroy"] is False
    assert prod.mocks.one("aws:dynamodb/table:Table").inputs["deletionProtectionEnabled"] is True
    assert prod.mocks.one("aws:secretsmanager/secret:Secret").inputs["recoveryWindowInDays"] == 30


def bucket_children(run, output: str) -> list:
    """The resources SecureBucket created for the stack's bucket `output` (its children)."""
    bucket = next(b for b in run.mocks.of_type(BUCKET) if b.inputs["bucket"] == run.outputs[output])
    component = run.mocks.options_of(bucket).parent
    return [r for r in run.mocks.resources if run.mocks.options_of(r).parent == component]


SECURE_BUCKET_PARTS = {BUCKET, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                       "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
                       "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                       "aws:s3/bucketVersioning:BucketVersioning",
                       "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                       "aws:s3/bucketPolicy:BucketPolicy"}


def test_prod_keeps_the_events_buckets_settings_with_the_bucket(prod):
    """retain_on_delete is an option of each resource the engine deletes: on the bucket
    alone, a refactor that replaced or dropped its settings would keep the bucket and delete
    its 7-year lifecycle, its TLS-only policy and its encryption default
    (https://www.pulumi.com/docs/iac/concepts/options/retainondelete/, "applies to custom
    resources only"). So every child of the kept bucket carries both options."""
    children = bucket_children(prod, "events_bucket")
    assert {r.type for r in children} == SECURE_BUCKET_PARTS
    options = {r.type: prod.mocks.options_of(r) for r in children}
    assert {t: (o.protect, o.retain_on_delete) for t, o in options.items()} == {t: (True, True) for t in options}


@pytest.mark.parametrize("run, output", [("dev", "events_bucket"), ("dev", "temp_bucket"),
                                         ("prod", "temp_bucket"), ("prod", "athena_results_bucket")])
def test_buckets_that_keep_nothing_keep_no_settings(run, output, request):
    """dev keeps nothing; the temp bucket's files live 2 days and Athena's results 7, in
    every stack: their settings are deleted with them."""
    found = request.getfixturevalue(run)
    children = bucket_children(found, output)
    assert BUCKET in {r.type for r in children} and len(children) >= 5
    kept = [r.type for r in children if found.mocks.options_of(r).protect or found.mocks.options_of(r).retain_on_delete]
    assert kept == []


def test_pulumi_destroy_completes_on_dev_and_dev_can_be_created_again(dev):
    """Nothing in dev is protected or retained, every bucket empties itself, the table has
    no deletion protection, and the secret's name is free at once (a recovery window would
    make CreateSecret fail for a week: API_DeleteSecret, RecoveryWindowInDays)."""
    for record in dev.mocks.resources:
        options = dev.mocks.options_of(record)
        assert not options.protect and not options.retain_on_delete, record.name
    assert all(b.inputs["forceDestroy"] is True for b in dev.mocks.of_type(BUCKET))
    assert len(dev.mocks.of_type(BUCKET)) == 3
    assert dev.mocks.one("aws:dynamodb/table:Table").inputs["deletionProtectionEnabled"] is False
    assert dev.mocks.one("aws:secretsmanager/secret:Secret").inputs["recoveryWindowInDays"] == 0
    # KMS deletes a key after 7 to 30 days whatever happens; dev's own keys take the shortest.
    own = [k for k in dev.mocks.of_type("aws:kms/key:Key") if "us-east-1" not in k.name]
    assert len(own) == 5 and {k.inputs["deletionWindowInDays"] for k in own} == {7}


def test_components_follow_the_type_token_convention(stack):
    components = {r.type for r in stack.mocks.resources if r.type.startswith("serenya:")}
    assert {"serenya:storage:StorageLayer", "serenya:storage:SecureBucket",
            "serenya:processing:ProcessingLayer"} <= components


# What holds data, by URN. Pulumi identifies a resource by its URN (type, parent type and
# logical name): a change here replaces the resource (delete before create for a named
# one) unless the old URN is given as an alias (docs/configuration.md, "Renaming").
STATEFUL_URNS = {
    "serenya:storage:StorageLayer$aws:dynamodb/table:Table::serenya-{env}-table",
    "serenya:storage:StorageLayer$aws:kms/key:Key::serenya-{env}-data",
    "serenya:storage:StorageLayer$aws:kms/key:Key::serenya-{env}-signing",
    "serenya:storage:StorageLayer$aws:kms/key:Key::serenya-{env}-signing-canary",  # the canary's tokens
    "serenya:storage:StorageLayer$aws:kms/key:Key::serenya-{env}-pii",        # wraps every user's PII key
    "serenya:storage:StorageLayer$aws:kms/key:Key::serenya-{env}-email-mac",  # the email lookup's HMAC
    "serenya:storage:StorageLayer$aws:secretsmanager/secret:Secret::serenya-{env}-third-party",
    "serenya:storage:SecureBucket$aws:s3/bucket:Bucket::serenya-{env}-temp",
    "serenya:storage:SecureBucket$aws:s3/bucket:Bucket::serenya-{env}-events",
    "serenya:storage:SecureBucket$aws:s3/bucket:Bucket::serenya-{env}-athena",
    "serenya:api:ApiLayer$aws:wafv2/webAcl:WebAcl::serenya-{env}-waf",
    "serenya:api:ApiLayer$aws:wafv2/webAcl:WebAcl::serenya-{env}-waf-regional",  # the stage's own
}


def test_what_holds_data_keeps_its_urn(stack):
    """A refactor that renames one of these fails here first: add `aliases` with the old
    name (https://www.pulumi.com/docs/iac/concepts/options/aliases/), then update the list."""
    env = stack.settings.env
    types = {u.split("$")[1].split("::")[0] for u in STATEFUL_URNS}
    found = {stack.mocks.options_of(r).urn.split("::", 2)[2] for r in stack.mocks.resources if r.type in types}
    found = {u for u in found if "alarms-us-east-1" not in u}  # the alarm topic's key holds no data
    assert found == {u.format(env=env) for u in STATEFUL_URNS}


def test_logical_names_depend_on_the_stack_name_only(stack):
    """Logical names never carry a value that can change under a deployed stack (account,
    region, model, domain, a setting), so changing one never renames, hence never replaces."""
    env = stack.settings.env
    for record in stack.mocks.resources:
        assert record.name.startswith(f"serenya-{env}"), record.name
        for changeable in (stack.mocks.account_id, stack.settings.region, stack.settings.bedrock_model_id):
            assert changeable not in record.name, record.name
    urns = [o.urn for o in stack.mocks.options.values()]
    assert len(urns) == len(set(urns)) == len(stack.mocks.resources)


def test_buckets_are_named_by_stack_purpose_and_account(stack):
    env, account = stack.settings.env, stack.mocks.account_id
    assert {o: stack.outputs[o] for o in ("temp_bucket", "events_bucket", "athena_results_bucket")} == {
        "temp_bucket": f"serenya-{env}-temp-{account}", "events_bucket": f"serenya-{env}-events-{account}",
        "athena_results_bucket": f"serenya-{env}-athena-results-{account}"}


def test_every_lifecycle_rule_is_named_and_aborts_unfinished_uploads_after_a_day(stack):
    names = {}
    for output in ("temp_bucket", "events_bucket", "athena_results_bucket"):
        for prefix, rule in lifecycle(stack, output).items():
            names[(output, prefix)] = rule["id"]
            assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
            assert rule["status"] == "Enabled"
            # only the versioned events bucket keeps old versions, for 30 days
            assert rule.get("noncurrentVersionExpiration") == ({"noncurrentDays": 30}
                                                               if output == "events_bucket" else None)
    assert names == {("temp_bucket", "incoming/"): "expire-incoming", ("temp_bucket", "outgoing/"): "expire-outgoing",
                     ("temp_bucket", "claims/"): "expire-claims", ("events_bucket", "audit/"): "audit-retention",
                     ("athena_results_bucket", ""): "expire-results"}


def test_only_the_layers_sit_at_the_stacks_root_and_a_buckets_settings_belong_to_it(stack):
    """A resource's parent is part of its URN: one created outside its component would be a
    different resource to Pulumi, replaced (deleted first) by the next `pulumi up`."""
    env = stack.settings.env

    def parent_type(record):
        return stack.mocks.options_of(record).urn.split("::")[2].rsplit("$", 1)[0]

    roots = [(r.name, r.type) for r in stack.mocks.resources if parent_type(r) == "pulumi:pulumi:Stack"]
    assert {name for name, _ in roots} == {f"serenya-{env}"}
    assert sorted(t for _, t in roots) == sorted(f"serenya:{layer}" for layer in (
        "storage:StorageLayer", "processing:ProcessingLayer", "api:ApiLayer", "analytics:AnalyticsLayer",
        "observability:ObservabilityLayer"))
    bucket_names = {f"serenya-{env}-{b}" for b in ("temp", "events", "athena")}
    settings = [r for r in stack.mocks.resources if r.type.startswith("aws:s3/") and r.name in bucket_names]
    assert len(settings) >= 3 * 5
    assert {parent_type(r) for r in settings} == {"serenya:storage:SecureBucket"}
    storage = [r for r in stack.mocks.resources
               if r.type.split("/")[0] in ("aws:kms", "aws:dynamodb", "aws:secretsmanager") and "us-east-1" not in r.name]
    assert {parent_type(r) for r in storage} == {"serenya:storage:StorageLayer"}
    assert {parent_type(r) for r in stack.mocks.of_type("serenya:storage:SecureBucket")} == {
        "serenya:storage:StorageLayer"}


@pytest.mark.parametrize("suffix, alias", [("data", ""), ("pii", "-pii"), ("email-mac", "-email-mac"),
                                           ("signing", "-signing"), ("signing-canary", "-signing-canary")])
def test_every_key_has_its_alias_and_its_own_policy(stack, suffix, alias):
    from components.storage import data_key_policy, email_mac_key_policy, pii_key_policy

    env, account = stack.settings.env, stack.mocks.account_id
    key = stack.mocks.one("aws:kms/key:Key", endswith=f"-{env}-{suffix}")
    aliases = {a.inputs["name"]: a.inputs["targetKeyId"] for a in stack.mocks.of_type("aws:kms/alias:Alias")}
    assert aliases[f"alias/serenya-{env}{alias}"] == key.state["keyId"]
    assert key.inputs["description"].startswith(f"Serenya {env}: ")
    policy = {"data": data_key_policy(account, stack.settings.region), "pii": pii_key_policy(account),
              "email-mac": email_mac_key_policy(account), "signing": None, "signing-canary": None}[suffix]
    assert (json.loads(key.inputs["policy"]) if "policy" in key.inputs else None) == policy


def test_the_tables_attribute_definitions_are_exactly_its_key_attributes(stack):
    """DynamoDB refuses a table whose AttributeDefinitions name an attribute no key schema
    uses, or miss one that a key uses (ValidationException at CreateTable):
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html#DDB-CreateTable-request-AttributeDefinitions"""
    table = stack.mocks.one("aws:dynamodb/table:Table").inputs
    keys = {table["hashKey"], table["rangeKey"]} | {
        g[k] for g in table["globalSecondaryIndexes"] for k in ("hashKey", "rangeKey")}
    defined = [a["name"] for a in table["attributes"]]
    assert sorted(defined) == sorted(keys) and len(defined) == len(set(defined))
    assert {a["type"] for a in table["attributes"]} == {"S"}


def test_items_expire_by_the_ttl_attribute_the_functions_write(stack):
    from functions.common import usage

    table = stack.mocks.one("aws:dynamodb/table:Table").inputs
    assert table["ttl"] == {"attributeName": usage.TTL_ATTRIBUTE, "enabled": True}


@pytest.mark.parametrize("suffix, purpose", [("data", "storage"), ("pii", "PII"), ("email-mac", "HMAC"),
                                             ("signing", "signing"), ("signing-canary", "canary")])
def test_every_key_says_what_it_is_for(stack, suffix, purpose):
    key = stack.mocks.one("aws:kms/key:Key", endswith=f"-{stack.settings.env}-{suffix}")
    assert purpose in key.inputs["description"]


def test_the_stack_exports_each_storage_resource_under_its_own_name(stack):
    """Operators, the preflight and the local stack read these exports by name: each names
    the resource it says, and the storage layer shows the same outputs in the console."""
    m, out = stack.mocks, stack.outputs
    env = stack.settings.env
    table = m.one("aws:dynamodb/table:Table")
    assert out["table"] == table.inputs["name"] == f"serenya-{env}"
    assert out["table_stream_arn"].startswith(f"arn:aws:dynamodb:{stack.settings.region}:{m.account_id}:table/"
                                              f"serenya-{env}/stream/")
    for output, logical in (("temp_bucket", "temp"), ("events_bucket", "events"), ("athena_results_bucket", "athena")):
        assert out[output] == m.one("aws:s3/bucket:Bucket", endswith=f"-{logical}").inputs["bucket"], output
    for output, logical in (("data_key_arn", "data"), ("pii_key_arn", "pii"), ("email_mac_key_arn", "email-mac"),
                            ("signing_key_arn", "signing"), ("canary_signing_key_arn", "signing-canary")):
        assert out[output] == m.one("aws:kms/key:Key", endswith=f"-{env}-{logical}").state["arn"], output
    assert out["secret_arn"] == m.one("aws:secretsmanager/secret:Secret").state["arn"]
    layer = m.outputs_of_component("serenya:storage:StorageLayer", f"serenya-{env}")
    assert layer == {k: out[k] for k in layer} and len(layer) == 11


def test_every_bucket_component_shows_its_bucket_name_and_arn(stack):
    for bucket in stack.mocks.of_type("aws:s3/bucket:Bucket"):
        registered = stack.mocks.outputs_of_component("serenya:storage:SecureBucket", bucket.name)
        assert registered == {"name": bucket.inputs["bucket"], "arn": bucket.state["arn"]}


def test_prod_keys_wait_the_longest_window_kms_allows(prod, dev):
    """A key scheduled for deletion can be cancelled for PendingWindowInDays, 7 to 30
    (API_ScheduleKeyDeletion); prod keeps the personal data's keys the longest."""
    own = [k for k in prod.mocks.of_type("aws:kms/key:Key") if "us-east-1" not in k.name]
    assert len(own) == 5 and {k.inputs["deletionWindowInDays"] for k in own} == {30}
    for run in (dev, prod):
        assert all(7 <= k.inputs["deletionWindowInDays"] <= 30 for k in run.mocks.of_type("aws:kms/key:Key"))
