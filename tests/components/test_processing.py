"""The function mechanism under Pulumi mocks, driven by a sample catalog."""

import json

import pulumi
import pytest

from components import iam, packaging
from components.processing import STREAM_FILTERS
from functions.catalog import CATALOG, Function, Route, S3Trigger, validate
from functions.common import usage
from local.program import run_program
from tests.conftest import SAMPLE_CATALOG

FUNCTION = "aws:lambda/function:Function"


def _run(stack):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaging, "function_archive", lambda name, *_: pulumi.AssetArchive(
            {f"functions/{name}/handler.py": pulumi.StringAsset("def handler(e, c): pass\n")}))
        return run_program(stack, catalog=SAMPLE_CATALOG)


@pytest.fixture(scope="module")
def dev():
    return _run("dev")


@pytest.fixture(scope="module")
def prod():
    return _run("prod")


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(request, dev, prod):
    return {"dev": dev, "prod": prod}[request.param]


def function(run, name):
    return run.mocks.one(FUNCTION, endswith=f"-{name}").inputs


def policy(run, name):
    return json.loads(run.mocks.one("aws:iam/rolePolicy:RolePolicy", endswith=f"-{name}").inputs["policy"])


def actions(doc):
    return {a for s in doc["Statement"] for a in s["Action"]}


def test_one_function_role_and_log_group_per_entry(stack):
    env = stack.settings.env
    assert sorted(f.inputs["name"] for f in stack.mocks.of_type(FUNCTION)) == sorted(
        f"serenya-{env}-{fn.name}" for fn in SAMPLE_CATALOG)
    roles = {r.inputs["name"] for r in stack.mocks.of_type("aws:iam/role:Role")}
    assert {f"serenya-{env}-{fn.name}" for fn in SAMPLE_CATALOG} <= roles
    for fn in SAMPLE_CATALOG:
        role = stack.mocks.one("aws:iam/role:Role", f"-{fn.name}")
        assert function(stack, fn.name)["role"] == role.state["arn"]


def test_function_runtime_settings(stack):
    for fn in SAMPLE_CATALOG:
        f = function(stack, fn.name)
        assert f["runtime"].startswith("python3.1") and f["runtime"] >= "python3.12"
        assert f["architectures"] == ["arm64"]
        assert f["tracingConfig"] == {"mode": "Active"}
        assert f["handler"] == f"functions.{fn.name}.handler.handler"
        assert (f["memorySize"], f["timeout"]) == (fn.memory_mb, fn.timeout_s)
        assert f.get("reservedConcurrentExecutions") == stack.settings.reserved_for(fn.name)
        assert f["loggingConfig"]["logFormat"] == "JSON"
        # With the JSON format Lambda filters by these levels before Powertools sees a record.
        levels = (f["loggingConfig"]["applicationLogLevel"], f["loggingConfig"]["systemLogLevel"])
        assert levels == (("DEBUG", "INFO") if stack.settings.detailed_logging else ("INFO", "WARN"))


def test_log_groups_keep_the_stacks_retention_encrypted(stack):
    key = stack.mocks.one("aws:kms/key:Key", "-data").state["arn"]
    for fn in SAMPLE_CATALOG:
        group = stack.mocks.one("aws:cloudwatch/logGroup:LogGroup", f"-{fn.name}").inputs
        assert group["name"] == f"/aws/lambda/serenya-{stack.settings.env}-{fn.name}"
        assert group["retentionInDays"] == stack.settings.log_retention_days
        assert group["kmsKeyId"] == key
        assert function(stack, fn.name)["loggingConfig"]["logGroup"] == group["name"]


def test_layers_powertools_then_dependencies_and_extras_only_where_asked(stack):
    layers = {l.inputs["layerName"]: l.state["arn"] for l in stack.mocks.of_type("aws:lambda/layerVersion:LayerVersion")}
    env = stack.settings.env
    assert set(layers) == {f"serenya-{env}-layer-deps", f"serenya-{env}-layer-pyarrow"}
    for fn in SAMPLE_CATALOG:
        expected = [stack.settings.powertools_layer_arn, layers[f"serenya-{env}-layer-deps"]]
        if fn.extra_packages:
            expected.append(layers[f"serenya-{env}-layer-pyarrow"])
        assert function(stack, fn.name)["layers"] == expected


def test_environment_names_only_what_the_function_touches(stack):
    echo, worker, streamer = (function(stack, n)["environment"]["variables"] for n in ("echo", "worker", "streamer"))
    assert echo["TABLE_NAME"] == f"serenya-{stack.settings.env}" and "PII_KEY_ARN" in echo
    assert "DATA_KEY_ARN" not in echo and "EMAIL_MAC_KEY_ARN" not in echo  # it writes no object, hashes no email
    assert "TEMP_BUCKET" not in echo and "SIGNING_KEY_ARN" not in echo
    assert echo["ALLOWED_ORIGINS"] == ",".join(stack.settings.allowed_origins)
    assert worker["TEMP_BUCKET"] == stack.outputs["temp_bucket"] and "TABLE_NAME" not in worker
    assert worker["BEDROCK_MODEL_ID"] == stack.settings.bedrock_model_id
    assert streamer["EVENTS_BUCKET"] == stack.outputs["events_bucket"]
    for variables in (echo, worker, streamer):
        assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
        assert variables["POWERTOOLS_SERVICE_NAME"] == "serenya"
    assert echo["POWERTOOLS_LOG_LEVEL"] == ("DEBUG" if stack.settings.detailed_logging else "INFO")


def test_roles_trust_one_service_in_this_account(stack):
    function_roles = {f"serenya-{stack.settings.env}-{fn.name}" for fn in SAMPLE_CATALOG}
    for role in stack.mocks.of_type("aws:iam/role:Role"):
        statement, = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        if role.inputs["name"] in function_roles:
            assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == stack.mocks.account_id


def test_policies_have_no_wildcard_actions_and_only_stack_scoped_resources(stack):
    env, account = stack.settings.env, stack.mocks.account_id
    for fn in SAMPLE_CATALOG:
        for statement in policy(stack, fn.name)["Statement"]:
            assert statement["Effect"] == "Allow"
            assert not any("*" in a for a in statement["Action"]), statement
            if set(statement["Action"]) <= iam.UNSCOPABLE_ACTIONS:
                continue
            for resource in statement["Resource"]:
                assert resource != "*", statement
                scoped = f"serenya-{env}" in resource or f"serenya/{env}" in resource or account in resource
                assert scoped or ":bedrock:" in resource, resource


def test_statements_follow_declared_access():
    run = _run("dev")
    echo, worker, streamer, authorizer, nightly = (
        policy(run, n) for n in ("echo", "worker", "streamer", "authorizer", "nightly"))
    assert {"dynamodb:PutItem", "dynamodb:Query"} <= actions(echo)
    # The authorizer only checks that the account exists: GetItem of the profile's key.
    assert {a for a in actions(authorizer) if a.startswith("dynamodb:")} == {"dynamodb:GetItem"}
    assert actions(authorizer) >= {"kms:GetPublicKey"} and "kms:Sign" not in actions(authorizer)
    assert not any(a.startswith("s3:") for a in actions(echo))
    by_sid = {s["Sid"]: s["Resource"] for s in worker["Statement"]}
    bucket = f"arn:aws:s3:::{run.outputs['temp_bucket']}"
    assert by_sid["ReadJobFiles"] == [f"{bucket}/incoming/*"]
    assert by_sid["WriteJobFiles"] == [f"{bucket}/outgoing/*"]
    assert by_sid["DeleteJobFiles"] == [f"{bucket}/incoming/*"]
    assert "kms:GenerateDataKey" in actions(worker)  # SSE-KMS writes
    assert "bedrock:InvokeModel" in actions(worker) and "dynamodb:GetItem" not in actions(worker)
    assert {"dynamodb:GetRecords", "dynamodb:GetShardIterator"} <= actions(streamer)
    assert "sqs:SendMessage" in actions(streamer) and "sqs:SendMessage" in actions(worker)
    assert "secretsmanager:GetSecretValue" in actions(nightly) and "secretsmanager:GetSecretValue" not in actions(echo)
    assert "kms:Decrypt" in actions(nightly)  # the secret is encrypted with the storage key
    assert by_sid["UseStorageKeyThroughServices"] == [run.outputs["data_key_arn"]]


def test_bedrock_inference_profile_needs_profile_and_model():
    resources = iam.bedrock_resources("eu.anthropic.claude-haiku-4-5-20251001-v1:0", "eu-west-1", "111122223333")
    assert resources == [
        "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"]
    assert iam.bedrock_resources("anthropic.x-v1:0", "eu-west-1", "1") == [
        "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.x-v1:0"]


def test_s3_trigger_is_one_notification_with_permission(stack):
    notification = stack.mocks.one("aws:s3/bucketNotification:BucketNotification").inputs
    worker = stack.mocks.one(FUNCTION, "-worker").state["arn"]
    assert notification["bucket"] == stack.outputs["temp_bucket"]
    assert notification["lambdaFunctions"] == [
        {"lambdaFunctionArn": worker, "events": ["s3:ObjectCreated:*"], "filterPrefix": "incoming/"}]
    permission = stack.mocks.one("aws:lambda/permission:Permission", "-worker-s3").inputs
    assert permission["principal"] == "s3.amazonaws.com"
    assert permission["sourceAccount"] == stack.mocks.account_id


def test_asynchronous_functions_have_a_dead_letter_queue(stack):
    worker = function(stack, "worker")
    queue = stack.mocks.one("aws:sqs/queue:Queue", "-worker-failures")
    assert worker["deadLetterConfig"]["targetArn"] == queue.state["arn"]
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert "deadLetterConfig" not in function(stack, "echo")


def test_stream_mapping_reports_item_failures_and_keeps_failed_batches(stack):
    mapping = stack.mocks.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    assert mapping["eventSourceArn"] == stack.outputs["table_stream_arn"]
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["bisectBatchOnFunctionError"] is True
    assert mapping["batchSize"] == 10 and mapping["maximumRetryAttempts"] == 3
    assert mapping["maximumRecordAgeInSeconds"] > 0
    queue = stack.mocks.one("aws:sqs/queue:Queue", "-streamer-failures").state["arn"]
    assert mapping["destinationConfig"]["onFailure"]["destinationArn"] == queue
    # TTL expiries invoke nothing (tests/local/test_stream_filters.py proves the patterns)
    patterns = [json.loads(f["pattern"]) for f in mapping["filterCriteria"]["filters"]]
    assert patterns == list(STREAM_FILTERS) and len(patterns) <= 5  # Lambda's default limit of filters


def test_schedule_rule_targets_the_function(stack):
    rule = stack.mocks.one("aws:cloudwatch/eventRule:EventRule").inputs
    assert rule["scheduleExpression"] == "cron(15 1 * * ? *)"
    target = stack.mocks.one("aws:cloudwatch/eventTarget:EventTarget").inputs
    assert target["arn"] == stack.mocks.one(FUNCTION, "-nightly").state["arn"]
    assert stack.mocks.one("aws:lambda/permission:Permission", "-nightly-schedule").inputs["principal"] == \
        "events.amazonaws.com"


def test_provisioned_concurrency_only_for_warm_functions_in_prod(dev, prod):
    assert not dev.mocks.of_type("aws:lambda/alias:Alias")
    assert not dev.mocks.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
    warm = {fn.name for fn in SAMPLE_CATALOG if fn.warm}
    aliases = prod.mocks.of_type("aws:lambda/alias:Alias")
    assert {a.name.rsplit("-", 1)[-1] for a in aliases} == warm
    for config in prod.mocks.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"):
        assert config.inputs["provisionedConcurrentExecutions"] == prod.settings.provisioned_concurrency > 0
        assert config.inputs["qualifier"] == "live"
    assert all(function(prod, n)["publish"] for n in warm)


def test_the_real_catalog_is_consistent():
    assert validate(CATALOG) == []


@pytest.mark.parametrize("catalog, problem", [
    (SAMPLE_CATALOG + (SAMPLE_CATALOG[1],), "listed more than once"),
    ((Function("a", "", routes=(Route("GET", "/api/v1/x", authorized=False),)),
      Function("b", "", routes=(Route("GET", "/api/v1/x", authorized=False),))), "already served by a"),
    ((Function("a", "", routes=(Route("GET", "/api/v1/x"),)),), "no 'authorizer' function"),
    ((Function("a", "", routes=(Route("GET", "/v2/x", authorized=False),)),), "outside /api/v1/"),
    ((Function("a", "", trigger=S3Trigger("incoming/")),), "may not read it"),
    ((Function("a", "", memory_mb=64),), "memory 64 MB"),
    ((Function("a-b", ""),), "Python identifier"),
])
def test_catalog_validation_names_the_problem(catalog, problem):
    assert any(problem in p for p in validate(catalog))


def test_the_program_refuses_an_inconsistent_catalog():
    with pytest.raises(Exception, match="listed more than once"):
        _run_catalog(SAMPLE_CATALOG + (SAMPLE_CATALOG[0],))


def _run_catalog(catalog):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaging, "function_archive", lambda name, *_: pulumi.AssetArchive({}))
        return run_program("dev", catalog=catalog)


# -- the real catalog's roles -------------------------------------------------------

@pytest.fixture
def real(dev_run):
    return dev_run


def statements(run, name):
    return {s["Sid"]: s for s in policy(run, name)["Statement"]}


def test_status_may_only_read_and_list_the_two_job_prefixes(real):
    granted = statements(real, "status")
    bucket = f"arn:aws:s3:::{real.outputs['temp_bucket']}"
    assert granted["ReadJobFiles"]["Resource"] == [f"{bucket}/incoming/*", f"{bucket}/outgoing/*"]
    assert granted["ListJobFiles"]["Condition"] == {"StringLike": {"s3:prefix": ["incoming/*", "outgoing/*"]}}
    assert actions(policy(real, "status")) == {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                                               "xray:PutTelemetryRecords", "s3:GetObject", "s3:ListBucket",
                                               "kms:Decrypt", "dynamodb:GetItem"}
    assert granted["UseStorageKeyThroughServices"]["Condition"] == {
        "StringEquals": {"kms:ViaService": ["s3.eu-west-1.amazonaws.com"]}}
    assert granted["CheckAccountExists"]["Condition"] == iam.CHECK_ACCOUNT_CONDITION


def test_upload_may_only_write_incoming(real):
    s3_actions = {a for a in actions(policy(real, "upload")) if a.startswith("s3:")}
    assert s3_actions == {"s3:PutObject"}
    assert statements(real, "upload")["WriteJobFiles"]["Resource"] == [
        f"arn:aws:s3:::{real.outputs['temp_bucket']}/incoming/*"]


def test_process_is_triggered_by_incoming_with_a_dead_letter_queue(real):
    notification = real.mocks.one("aws:s3/bucketNotification:BucketNotification").inputs
    process = real.mocks.one(FUNCTION, endswith="-process")
    assert notification["lambdaFunctions"] == [{"lambdaFunctionArn": process.state["arn"],
                                                "events": ["s3:ObjectCreated:*"], "filterPrefix": "incoming/"}]
    queue = real.mocks.one("aws:sqs/queue:Queue", "-process-failures")
    assert process.inputs["deadLetterConfig"]["targetArn"] == queue.state["arn"]
    assert "bedrock:InvokeModel" in actions(policy(real, "process"))
    # process reads nothing of the table but whether a job's account still exists.
    assert {a for a in actions(policy(real, "process")) if a.startswith("dynamodb:")} == {"dynamodb:GetItem",
                                                                                          "dynamodb:PutItem"}
    # ... and, with the same read, the account's analytics id for its usage records (one attribute more)
    checked = statements(real, "process")["CheckAccountExists"]["Condition"]
    assert checked == iam.USAGE_CHECK_ACCOUNT_CONDITION
    assert checked["ForAllValues:StringEquals"] == {"dynamodb:Attributes": ["PK", "SK", "analytics_id"]}
    assert statements(real, "process")["WriteUsageRecords"]["Condition"] == iam.USAGE_RECORD_CONDITION
    layers = process.inputs["layers"]
    assert len(layers) == 3  # Powertools, shared dependencies, and pypdf for this function only
    assert all(len(function(real, n)["layers"]) == 2 for n in ("status", "auth"))


def test_job_routes_and_the_authorizer_may_only_check_that_an_account_exists(real):
    """GetItem of a USER# item's key attributes, nothing else of the table: enough to stop
    a deleted account's token at once (functions/common/accounts.py)."""
    for name in ("authorizer", "status", "result", "cleanup", "chat_prompts", "chat_status", "process"):
        dynamodb = [s for s in policy(real, name)["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"])
                    and s["Sid"] != "WriteUsageRecords"]  # process's usage records: the test below
        assert len(dynamodb) == 1 and dynamodb[0]["Action"] == ["dynamodb:GetItem"], name
        assert dynamodb[0]["Resource"] == [real.mocks.one("aws:dynamodb/table:Table").state["arn"]], name
        # process also reads the analytics id its usage records carry (the test above)
        expected = iam.USAGE_CHECK_ACCOUNT_CONDITION if name == "process" else iam.CHECK_ACCOUNT_CONDITION
        assert dynamodb[0]["Condition"] == expected, name
    assert "dynamodb:PutItem" not in actions(policy(real, "doctor_report"))


def test_only_the_functions_that_start_model_work_count_quotas_and_only_quota_items(real):
    """UpdateItem of QUOTA# items (functions/common/quotas.py), and the profile's plan read
    as its subscription and keys only; nothing else of the table.
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html"""
    counters = {name for name in (f.name for f in CATALOG) if "CountQuota" in statements(real, name)}
    assert counters == {"upload", "chat_messages", "doctor_report"}
    for name in counters:
        count = statements(real, name)["CountQuota"]
        assert count["Action"] == ["dynamodb:UpdateItem"] and count["Condition"] == iam.QUOTA_COUNTER_CONDITION
    assert iam.QUOTA_COUNTER_CONDITION == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["QUOTA#*"]}}
    for name in ("upload", "chat_messages"):  # doctor_report reads the profile already
        # The plan's read is their account check: no plan, no account (functions/common/users.plan_and_identity).
        # upload's also reads the analytics id its ticket's usage record carries to the lake
        plan = iam.READ_PLAN_USAGE_CONDITION if name == "upload" else iam.READ_PLAN_CONDITION
        assert statements(real, name)["ReadPlan"]["Condition"] == plan
        assert "CheckAccountExists" not in statements(real, name)
        # upload also writes its ticket's usage record (the PutItem below is limited to USAGE#)
        assert {a for s in statements(real, name).values() for a in s["Action"] if a.startswith("dynamodb:")} == {
            "dynamodb:GetItem", "dynamodb:UpdateItem", *(["dynamodb:PutItem"] if name == "upload" else [])}


@pytest.mark.parametrize("writer", ["upload", "process"])
def test_only_upload_and_process_may_write_usage_records_and_only_new_usage_items_with_their_attributes(real, writer):
    """PutItem under USAGE# with the usage record's attributes only (dynamodb:LeadingKeys,
    dynamodb:Attributes), returning nothing: it can neither touch a profile nor read back.
    upload writes its ticket's record, process the finished job's.
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html"""
    writers = [fn.name for fn in CATALOG if "WriteUsageRecords" in statements(real, fn.name)]
    assert writers == ["upload", "process"]
    statement = statements(real, writer)["WriteUsageRecords"]
    assert statement["Action"] == ["dynamodb:PutItem"]
    assert statement["Resource"] == [real.mocks.one("aws:dynamodb/table:Table").state["arn"]]
    condition = statement["Condition"]
    assert condition["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["USAGE#*"]}
    assert set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]) == set(usage.ATTRIBUTES)
    assert condition["StringEqualsIfExists"] == {"dynamodb:ReturnValues": "NONE"}


def test_chat_prompts_touches_nothing_but_the_account_check(real):
    # kms:Decrypt: DynamoDB decrypts the table key as the caller (through DynamoDB only)
    assert {a for a in actions(policy(real, "chat_prompts")) if not a.startswith(("logs:", "xray:"))} == {
        "dynamodb:GetItem", "kms:Decrypt"}


def test_no_function_may_subscribe_the_account_to_a_model(prod_run):
    """Bedrock subscribes an account to a third-party model on its first call when the
    caller may (aws-marketplace:Subscribe); a runtime role never may: an administrator
    enables the model once and `make preflight` checks it
    (https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html)."""
    policies = [p.inputs["policy"] for p in prod_run.mocks.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert policies and "bedrock:InvokeModel" in "".join(policies)
    assert not any("aws-marketplace" in p for p in policies)


# -- how layer archives are published ------------------------------------------------

LAYER = "aws:lambda/layerVersion:LayerVersion"


def _run_with_archives(tmp_path, streamer_zip_bytes):
    """The sample program with built archives: deps small, streamer of the given size
    (sparse files: only their size matters)."""
    dirs = {}
    for layer, size in (("deps", 1024), ("pyarrow", streamer_zip_bytes)):
        dirs[layer] = tmp_path / f"{layer}-0123456789abcdef"
        dirs[layer].mkdir()
        with packaging.layer_archive(dirs[layer]).open("wb") as f:
            f.truncate(size)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaging, "layer_paths", lambda catalog, build=False: dirs)
        mp.setattr(packaging, "function_archive", lambda name, *_: pulumi.AssetArchive({}))
        return run_program("prod", catalog=SAMPLE_CATALOG), dirs


def _layers(run):
    return {l.inputs["layerName"].rsplit("-", 1)[1]: l for l in run.mocks.of_type(LAYER)}


def test_archives_under_50_MiB_are_uploaded_directly_and_no_artifacts_bucket_exists(tmp_path):
    # "50 MB (zipped, for direct upload)", MB = 1024 KB:
    # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    run, dirs = _run_with_archives(tmp_path, 52_428_800 - 1)
    for layer, recorded in _layers(run).items():
        assert recorded.inputs["code"].path == str(packaging.layer_archive(dirs[layer]))
        assert "s3Bucket" not in recorded.inputs
    assert not [o for o in run.mocks.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
                if "-artifacts-" in o.inputs["bucket"]]
    assert not [b for b in run.mocks.of_type("aws:s3/bucket:Bucket") if "-artifacts-" in b.inputs["bucket"]]


def test_an_archive_of_50_MiB_or_more_is_published_through_a_private_encrypted_tls_only_bucket(tmp_path):
    run, dirs = _run_with_archives(tmp_path, 52_428_800)
    layers = _layers(run)
    assert "code" in layers["deps"].inputs  # only the large one moves to S3
    streamer = layers["pyarrow"].inputs
    assert "code" not in streamer
    obj = run.mocks.one("aws:s3/bucketObjectv2:BucketObjectv2", "layer").inputs
    bucket = f"serenya-prod-artifacts-{run.mocks.account_id}"
    assert (streamer["s3Bucket"], streamer["s3Key"]) == (obj["bucket"], obj["key"]) == (
        bucket, "layers/pyarrow-0123456789abcdef/layer.zip")
    assert obj["source"].path == str(packaging.layer_archive(dirs["pyarrow"]))
    settings = {r.type: r.inputs for r in run.mocks.resources
                if r.inputs.get("bucket") == bucket and r.type != "aws:s3/bucketObjectv2:BucketObjectv2"}
    sse = settings["aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"]
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": run.mocks.one("aws:kms/key:Key", "-data").state["arn"]}
    block = settings["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    deny, = json.loads(settings["aws:s3/bucketPolicy:BucketPolicy"]["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The layer is still the streamer's: Powertools, deps, then its pyarrow one.
    assert function(run, "streamer")["layers"][-1] == layers["pyarrow"].state["arn"]


def test_only_the_functions_that_start_model_work_get_the_pause_switch(real):
    """NEW_JOBS_PAUSED (serenya:newJobsPaused) on the functions counting a quota, and each of
    their routes documents the 503 it then answers."""
    import dataclasses

    from components.processing import function_environment
    from functions.catalog import JOBS_PAUSED

    given = {f.name: function(real, f.name)["environment"]["variables"].get("NEW_JOBS_PAUSED") for f in CATALOG}
    assert {name: value for name, value in given.items() if value is not None} == {
        "upload": "false", "chat_messages": "false", "doctor_report": "false"}
    paused = dataclasses.replace(real.settings, new_jobs_paused=True)
    resources = dict.fromkeys(["TABLE_NAME", "TEMP_BUCKET", "DATA_KEY_ARN", "PII_KEY_ARN", "EMAIL_MAC_KEY_ARN",
                               "EVENTS_BUCKET", "SIGNING_KEY_ARN", "CANARY_SIGNING_KEY_ARN", "SECRET_ARN"], "x")
    for fn in CATALOG:
        variables = function_environment(fn, paused, resources)
        assert variables.get("NEW_JOBS_PAUSED") == ("true" if fn.access.quota else None), fn.name
        assert [JOBS_PAUSED in r.errors for r in fn.routes] == [bool(fn.access.quota)] * len(fn.routes), fn.name


def test_the_upload_plan_read_adds_only_the_analytics_id():
    """The ticket's usage record names the person by the analytics id (analytics/events.py):
    the upload role may read that one attribute more than the plan's read, nothing else."""
    base = iam.READ_PLAN_CONDITION["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    extra = iam.READ_PLAN_USAGE_CONDITION["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert set(extra) - set(base) == {"analytics_id"}
    assert {k: v for k, v in iam.READ_PLAN_USAGE_CONDITION.items() if k != "ForAllValues:StringEquals"} == \
        {k: v for k, v in iam.READ_PLAN_CONDITION.items() if k != "ForAllValues:StringEquals"}
