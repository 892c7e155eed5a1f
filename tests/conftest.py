"""Shared fixtures: a catalog that exercises every mechanism, and code archives for it."""

from __future__ import annotations

import json

import pulumi
import pytest

from functions.catalog import (Access, Function, KeyUse, Route, S3Trigger, ScheduleTrigger,
                               StreamTrigger, TableAccess)

# One entry per mechanism: API routes (public and authorized), the authorizer, an S3
# trigger, the stream, a schedule, extra packages. The names are not real functions.
SAMPLE_CATALOG: tuple[Function, ...] = (
    Function("authorizer", "checks access tokens", warm=True,
             access=Access(table=TableAccess.CHECK_ACCOUNT, signing_key=KeyUse.VERIFY)),
    Function("echo", "answers what it was sent", warm=True,
             routes=(Route("GET", "/api/v1/echo/{item_id}"), Route("POST", "/api/v1/echo/{item_id}"),
                     Route("GET", "/api/v1/public", authorized=False)),
             access=Access(table=TableAccess.READ_WRITE, pii_key=KeyUse.ENCRYPT_DECRYPT)),
    Function("worker", "processes uploads", memory_mb=1024, timeout_s=300,
             trigger=S3Trigger("incoming/"),
             access=Access(temp_read=("incoming/",), temp_write=("outgoing/",), temp_delete=("incoming/",),
                           bedrock=True)),
    Function("streamer", "turns changes into events", trigger=StreamTrigger(batch_size=10),
             access=Access(events_write=True), extra_packages=("pyarrow",)),
    Function("nightly", "compacts yesterday", trigger=ScheduleTrigger("cron(15 1 * * ? *)"),
             access=Access(events_read=True, events_write=True, secrets=True)),
)


# Local stacks whose tests are many requests by a few users (alice uploads a dozen
# documents): per-user quotas large enough for them, small enough that
# tests/e2e/test_quotas.py reaches them. The product's defaults: functions/common/quotas.py.
JOURNEY_QUOTAS = {plan: {kind: {"hour": 40 * factor, "day": 60 * factor}
                         for kind in ("documents", "chat_messages", "doctor_reports")}
                  for plan, factor in (("free", 1), ("premium", 2))}
JOURNEY_CONFIG = {"serenya:quotas": json.dumps(JOURNEY_QUOTAS)}



def pytest_collection_modifyitems(items):
    """Each test package's tests together, the packages in the order the shuffle first
    reached them: pytest-randomly (which runs before this hook) shuffles modules across
    the whole session, and a package-scoped fixture (tests/e2e's local stack and call
    recorder) was then torn down and started again each time the order came back to its
    package. A stable sort: within a package the shuffled order stands, so the seed still
    gives the whole order."""
    first: dict = {}
    for item in items:
        first.setdefault(item.path.parent, len(first))
    items.sort(key=lambda item: first[item.path.parent])

@pytest.fixture
def fake_code(monkeypatch):
    """Sample functions have no folders: give each a one-file archive instead."""
    from components import packaging

    monkeypatch.setattr(packaging, "function_archive", lambda name, *_: pulumi.AssetArchive(
        {f"functions/{name}/handler.py": pulumi.StringAsset("def handler(event, context):\n    return None\n")}))


def api_event(method: str, path: str, body=None, resource=None, path_parameters=None, headers=None) -> dict:
    """A minimal API Gateway REST proxy event."""
    import json as _json

    return {
        "resource": resource or path, "path": path, "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters, "stageVariables": None,
        "requestContext": {"requestId": "req-1", "resourcePath": resource or path, "httpMethod": method,
                           "stage": "test", "path": path, "identity": {"sourceIp": "127.0.0.1"}},
        "body": None if body is None else (body if isinstance(body, str) else _json.dumps(body)),
        "isBase64Encoded": False,
    }


class FakeContext:
    function_name = "serenya-test-fn"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:serenya-test-fn"
    aws_request_id = "aws-req-1"

    def get_remaining_time_in_millis(self):
        return 10_000


@pytest.fixture
def aws_env(monkeypatch):
    """moto in-process with the stack's resources for function unit tests: a table like
    the program's, the two KMS keys and the temp bucket."""
    from moto import mock_aws

    from functions.common import aws as common_aws
    from functions.common import crypto, tokens
    from functions.common.settings import settings
    from local import aws_rules

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1", "SERENYA_ENV": "test",
                       "TABLE_NAME": "serenya-test", "TEMP_BUCKET": "serenya-test-temp",
                       "EVENTS_BUCKET": "serenya-test-events"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        import boto3

        kms = boto3.client("kms", region_name="eu-west-1")
        data_key = kms.create_key()["KeyMetadata"]["Arn"]
        signing_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        pii_key = kms.create_key()["KeyMetadata"]["Arn"]
        email_mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        canary_signing_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("CANARY_SIGNING_KEY_ARN", canary_signing_key)
        monkeypatch.setenv("DATA_KEY_ARN", data_key)
        monkeypatch.setenv("PII_KEY_ARN", pii_key)
        monkeypatch.setenv("EMAIL_MAC_KEY_ARN", email_mac_key)
        monkeypatch.setenv("SIGNING_KEY_ARN", signing_key)
        boto3.client("dynamodb", region_name="eu-west-1").create_table(
            TableName="serenya-test", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK")])
        for bucket in ("serenya-test-temp", "serenya-test-events"):
            boto3.client("s3", region_name="eu-west-1").create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        settings.cache_clear()
        common_aws.client.cache_clear()
        common_aws.table.cache_clear()
        crypto._keys.clear()
        tokens._public_keys.clear()
        events = boto3._get_default_session().events  # the functions' clients come from it
        aws_rules.attach(events)  # what AWS refuses and moto would accept
        try:
            yield {"data_key": data_key, "pii_key": pii_key, "email_mac_key": email_mac_key, "signing_key": signing_key,
                   "canary_signing_key": canary_signing_key}
        finally:
            aws_rules.detach(events)
        settings.cache_clear()
        common_aws.client.cache_clear()
        common_aws.table.cache_clear()


# The real program evaluated once per test session for each stack (read-only results).
@pytest.fixture(scope="session")
def dev_run():
    from local.program import run_program
    return run_program("dev")


@pytest.fixture(scope="session")
def prod_run():
    from local.program import run_program
    return run_program("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack_run(request, dev_run, prod_run):
    return {"dev": dev_run, "prod": prod_run}[request.param]


@pytest.fixture
def log_lines():
    """The records the functions' shared Powertools logger writes, through its own JSON
    formatter: a callable returning the log lines so far (EMF metric lines left out)."""
    import io
    import json
    import logging

    from functions.common.observability import logger

    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)

    def records() -> list[dict]:
        found = []
        for line in sink.getvalue().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "level" in record:
                found.append(record)
        return found

    yield records
    logger.removeHandler(handler)


@pytest.fixture
def process_clock():
    """Sets parts of the process function's clock for one test, through the handler's own
    `use_clock`: `process_clock(sleep=lambda s: None)`. The real clock comes back after."""
    import dataclasses

    from functions.process import handler

    original = handler.clock
    yield lambda **parts: handler.use_clock(dataclasses.replace(handler.clock, **parts))
    handler.use_clock(original)
