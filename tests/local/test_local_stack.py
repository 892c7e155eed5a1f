"""The local stack end to end: provisioned from the program, serving HTTP, dispatching
S3 uploads and stream records to the catalog's functions."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import boto3
import pulumi
import pytest

from components import packaging
from local.program import ROOT
from local.server import LocalStack
from tests.conftest import SAMPLE_CATALOG
from tests.local.test_gateway import allow_all_of_user


class Handlers:
    """Sample functions that use AWS the way real ones do: through the environment."""

    def __init__(self):
        self.s3_events, self.stream_batches, self.fail_worker = [], [], False
        self.worker_calls, self.worker_request_ids = 0, []
        self.poison = set()          # PKs whose records make the stream function raise
        self.report_failed = set()   # PKs whose records it reports in batchItemFailures, once each

    def authorizer(self, event, context):
        if event["authorizationToken"] != "Bearer good":
            raise Exception("Unauthorized")
        return allow_all_of_user("user-1")

    def echo(self, event, context):
        table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
        item_id = (event["pathParameters"] or {}).get("item_id", "public")
        table.put_item(Item={"PK": f"ITEM#{item_id}", "SK": "ITEM", "by": event["requestContext"]["authorizer"]["user_id"]
                             if event["requestContext"]["authorizer"] else "anonymous"})
        return {"statusCode": 201, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"stored": item_id})}

    def worker(self, event, context):
        self.worker_calls += 1
        self.worker_request_ids.append(context.aws_request_id)
        if self.fail_worker:
            raise RuntimeError("model unavailable")
        record = event["Records"][0]["s3"]
        body = boto3.client("s3").get_object(Bucket=record["bucket"]["name"], Key=record["object"]["key"])["Body"].read()
        self.s3_events.append((record["object"]["key"], body))

    def streamer(self, event, context):
        self.stream_batches.append(event["Records"])
        keys = [r["dynamodb"]["Keys"]["PK"]["S"] for r in event["Records"]]
        if self.poison & set(keys):
            raise ValueError("poison record")
        failed = [r for r, k in zip(event["Records"], keys) if k in self.report_failed]
        self.report_failed -= set(keys)
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in failed]}

    def nightly(self, event, context):
        return None

    def resolve(self, fn):
        return getattr(self, fn.name)


@pytest.fixture(scope="module")
def handlers():
    return Handlers()


@pytest.fixture(scope="module")
def stack(handlers):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaging, "function_archive", lambda name, *_: pulumi.AssetArchive({}))
        local = LocalStack(port=0, catalog=SAMPLE_CATALOG, resolve=handlers.resolve, background=False).start()
    yield local
    local.stop()


def http(stack, method, path, body=None, token=None):
    request = urllib.request.Request(stack.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def aws(stack, service):
    return boto3.client(service, endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def test_health_names_the_provisioned_resources(stack):
    status, health = http(stack, "GET", "/local/health")
    assert status == 200 and health["status"] == "ok"
    assert health["aws_endpoint_url"] == stack.aws_endpoint_url
    resources = health["resources"]
    assert resources["table"] == "serenya-dev"
    assert sorted(health["functions"]) == sorted(fn.name for fn in SAMPLE_CATALOG)
    buckets = {b["Name"] for b in aws(stack, "s3").list_buckets()["Buckets"]}
    assert {resources["temp_bucket"], resources["events_bucket"], resources["athena_results_bucket"]} <= buckets


def test_moto_resources_carry_the_programs_settings(stack):
    table = aws(stack, "dynamodb").describe_table(TableName="serenya-dev")["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2"}
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    temp = stack.program.outputs["temp_bucket"]
    rules = aws(stack, "s3").get_bucket_lifecycle_configuration(Bucket=temp)["Rules"]
    assert {(r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in rules} == \
        {("incoming/", 2), ("outgoing/", 2), ("claims/", 2)}
    encryption = aws(stack, "s3").get_bucket_encryption(Bucket=temp)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == \
        stack.program.outputs["data_key_arn"]
    key = aws(stack, "kms").describe_key(KeyId=stack.program.outputs["signing_key_arn"])["KeyMetadata"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    aliases = {a["AliasName"] for a in aws(stack, "kms").list_aliases()["Aliases"]}
    assert {"alias/serenya-dev", "alias/serenya-dev-signing"} <= aliases


def test_api_routes_reach_functions_that_use_moto(stack):
    assert http(stack, "POST", "/api/v1/echo/7", {"x": 1})[0] == 401
    status, body = http(stack, "POST", "/api/v1/echo/7", {"x": 1}, token="Bearer good")
    assert (status, body) == (201, {"stored": "7"})
    item = aws(stack, "dynamodb").get_item(TableName="serenya-dev", Key={"PK": {"S": "ITEM#7"}, "SK": {"S": "ITEM"}})
    assert item["Item"]["by"] == {"S": "user-1"}
    status, body = http(stack, "GET", "/api/v1/unknown")
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_table_changes_reach_the_stream_function(stack, handlers):
    http(stack, "POST", "/api/v1/echo/8", {}, token="Bearer good")
    poller = next(p for p in stack.pollers if type(p).__name__ == "StreamPoller")
    assert poller.poll_once() >= 1
    records = [r for batch in handlers.stream_batches for r in batch]
    inserted = [r for r in records if r["dynamodb"]["Keys"]["PK"] == {"S": "ITEM#8"}]
    assert inserted and inserted[0]["eventName"] == "INSERT"
    assert inserted[0]["eventSourceARN"] == stack.program.outputs["table_stream_arn"]
    assert inserted[0]["dynamodb"]["NewImage"]["by"] == {"S": "user-1"}
    assert poller.poll_once() == 0  # nothing delivered twice


def stream_poller(stack):
    return next(p for p in stack.pollers if type(p).__name__ == "StreamPoller")


def stream_mapping(stack):
    return stack.program.mocks.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs


def put_items(stack, *pks):
    dynamodb = aws(stack, "dynamodb")
    for pk in pks:
        dynamodb.put_item(TableName="serenya-dev", Item={"PK": {"S": pk}, "SK": {"S": "ITEM"}})


def failure_messages(stack, function):
    sqs = aws(stack, "sqs")
    url = stack.failure_queue_url(function)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def test_a_poison_stream_record_is_bisected_out_and_reaches_the_failure_queue(stack, handlers):
    """BisectBatchOnFunctionError as Lambda does it: a batch whose invocation fails is split
    in two until the poison record is alone; the others are delivered, the poison one is
    retried MaximumRetryAttempts times and its range goes to the on-failure destination.
    https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
    https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html"""
    mapping = stream_mapping(stack)
    assert mapping["bisectBatchOnFunctionError"] is True and mapping["maximumRetryAttempts"] == 3
    poller = stream_poller(stack)
    poller.poll_once()
    failure_messages(stack, "streamer")
    handlers.stream_batches.clear()
    keys = [f"ITEM#p{i}" for i in range(7)]
    handlers.poison = {"ITEM#p4"}
    try:
        put_items(stack, *keys)
        assert poller.poll_once() == 7
    finally:
        handlers.poison = set()
    ok = [[r["dynamodb"]["Keys"]["PK"]["S"] for r in batch] for batch in handlers.stream_batches
          if "ITEM#p4" not in [r["dynamodb"]["Keys"]["PK"]["S"] for r in batch]]
    assert sorted(k for batch in ok for k in batch) == sorted(k for k in keys if k != "ITEM#p4")
    alone = [b for b in handlers.stream_batches if [r["dynamodb"]["Keys"]["PK"]["S"] for r in b] == ["ITEM#p4"]]
    assert len(alone) == 1 + mapping["maximumRetryAttempts"]
    assert len(handlers.stream_batches[0]) == 7  # the first delivery was the whole batch
    [message] = failure_messages(stack, "streamer")
    info = message["DDBStreamBatchInfo"]
    poison_sequence = alone[0][0]["dynamodb"]["SequenceNumber"]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == \
        (1, poison_sequence, poison_sequence)
    assert info["streamArn"] == mapping["eventSourceArn"]
    # The shard the redrive procedure reads the batch back from: the one the record came from.
    shards = aws(stack, "dynamodbstreams").describe_stream(StreamArn=info["streamArn"])["StreamDescription"]["Shards"]
    assert info["shardId"] in {s["ShardId"] for s in shards}
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 1 + mapping["maximumRetryAttempts"]
    assert message["requestContext"]["functionArn"] == mapping["functionName"]
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_reported_item_failures_retry_from_the_lowest_one_only(stack, handlers):
    """ReportBatchItemFailures: the records before the lowest reported sequence number are
    done; that record and the later ones are delivered again."""
    poller = stream_poller(stack)
    poller.poll_once()
    handlers.stream_batches.clear()
    keys = [f"ITEM#r{i}" for i in range(5)]
    handlers.report_failed = {"ITEM#r3", "ITEM#r2"}
    put_items(stack, *keys)
    assert poller.poll_once() == 5
    delivered = [[r["dynamodb"]["Keys"]["PK"]["S"] for r in b] for b in handlers.stream_batches]
    assert delivered == [keys, keys[2:]]
    assert failure_messages(stack, "streamer") == []


def s3_dispatcher(stack):
    return next(p for p in stack.pollers if type(p).__name__ == "S3Dispatcher")


def test_uploads_under_the_trigger_prefix_are_dispatched_once(stack, handlers):
    s3, bucket = aws(stack, "s3"), stack.program.outputs["temp_bucket"]
    s3.put_object(Bucket=bucket, Key="incoming/result_u_1_a", Body=b"%PDF-1.4")
    s3.put_object(Bucket=bucket, Key="outgoing/result_u_1_a", Body=b"{}")  # not a trigger prefix
    assert s3_dispatcher(stack).poll_once() == 1
    assert handlers.s3_events == [("incoming/result_u_1_a", b"%PDF-1.4")]
    assert s3_dispatcher(stack).poll_once() == 0


def test_a_failing_asynchronous_function_lands_in_its_failure_queue(stack, handlers):
    """Tried once plus the retries of the program's FunctionEventInvokeConfig (from the
    catalog's S3Trigger.retries), then sent to the function's dead-letter queue."""
    config = next(c.inputs for c in stack.program.mocks.of_type(
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
        if c.inputs["functionName"] == stack.program.outputs["functions"]["worker"])
    dlq = next(f.inputs["deadLetterConfig"]["targetArn"] for f in stack.program.mocks.of_type(
        "aws:lambda/function:Function") if f.inputs["name"] == stack.program.outputs["functions"]["worker"])
    assert dlq.endswith(":serenya-dev-worker-failures")
    handlers.fail_worker, handlers.worker_calls, handlers.worker_request_ids = True, 0, []
    try:
        aws(stack, "s3").put_object(Bucket=stack.program.outputs["temp_bucket"], Key="incoming/bad", Body=b"x")
        s3_dispatcher(stack).poll_once()
    finally:
        handlers.fail_worker = False
    assert handlers.worker_calls == 1 + config["maximumRetryAttempts"] == 2
    # Lambda keeps the event's request id across retries (the process function's claim is keyed by it).
    assert len(set(handlers.worker_request_ids)) == 1
    messages = aws(stack, "sqs").receive_message(QueueUrl=stack.failure_queue_url("worker"), MaxNumberOfMessages=10,
                                                 MessageAttributeNames=["All"]).get("Messages", [])
    # The event itself, unchanged, the failure in message attributes (invocation-async-retain-records).
    [message] = messages
    assert json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"] == "incoming/bad"
    attributes = message["MessageAttributes"]
    assert attributes["RequestID"]["StringValue"] == handlers.worker_request_ids[0]
    assert (attributes["ErrorCode"]["DataType"], attributes["ErrorMessage"]["StringValue"]) == \
        ("Number", "model unavailable")
    assert any("model unavailable" in f for f in http(stack, "GET", "/local/health")[1]["trigger_failures"])


def test_unknown_local_route_is_404(stack):
    status, body = http(stack, "GET", "/local/nothing")
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_the_stack_serves_the_openapi_document_a_client_generator_reads(stack):
    from components import openapi
    status, document = http(stack, "GET", "/openapi.json")
    assert status == 200 and document == json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert document == openapi.contract()  # the document of the code that runs (staleness test: docs file)
    status, body = http(stack, "POST", "/openapi.json", body={})
    assert status >= 400 and "error" in body  # only GET: anything else is the API's, refused


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("exposed", [False, True], ids=["loopback", "lan"])
def test_make_run_serves_health_and_stops_on_ctrl_c(exposed):
    """`python -m local` as `make run` starts it: real catalog, real stack file; on the
    LAN (HOST=0.0.0.0, PUBLIC_URL) it names the public address and warns."""
    # The environment of a shell, not of this test process: what earlier tests set (AWS
    # endpoints and credentials of stacks already stopped) must not reach `make run`.
    shell = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    port = _free_port() if exposed else 0
    public = f"http://localhost:{port}"
    env = {**shell, "PORT": str(port), **({"HOST": "0.0.0.0", "PUBLIC_URL": public} if exposed else {})}
    process = subprocess.Popen([sys.executable, "-m", "local"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, before = None, []
        for line in process.stdout:  # bounded: the process prints its banner or exits
            before.append(line)
            match = re.search(r"API\s+(http://[^/\s]+)", line)
            if match:
                url = match.group(1)
            if "Ctrl-C" in line:
                break
        assert url == public if exposed else re.fullmatch(r"http://127\.0\.0\.1:\d+", url or ""), url
        # Keep reading what it prints (its shutdown included): a full pipe would block it.
        rest: list[str] = []
        drain = threading.Thread(target=lambda: rest.extend(process.stdout), daemon=True)
        drain.start()
        with urllib.request.urlopen(url + "/local/health", timeout=10) as response:
            health = json.loads(response.read())
        assert health["resources"]["table"] == "serenya-dev"
        assert health["resources"]["temp_bucket"].startswith("serenya-dev-temp-")
        assert health["public_url"] == url
        process.send_signal(signal.SIGINT)
        # A stop that takes longer than local.__main__.STOP_LIMIT_S prints every thread's
        # stack and exits 1: the assertion shows where it hung.
        code = process.wait(timeout=60)
        drain.join(timeout=5)
        assert code == 0 and "stopped" in rest[-1], "".join(rest)[-4000:]
        warnings = [line for line in before + rest if "no production" in line or "none of the production" in line]
        assert len(warnings) == (2 if exposed else 0), warnings  # the log's line and the banner's
    finally:
        if process.poll() is None:
            process.kill()


def test_a_resource_naming_its_region_is_created_there(stack):
    """The WAF alarm topic's key names us-east-1 (pulumi-aws 7, no provider of its own):
    the local stack creates it there, and only the stack's own keys in the stack's region."""
    global_keys = boto3.client("kms", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local").list_keys()["Keys"]
    assert [k["KeyArn"].split(":")[3] for k in global_keys] == ["us-east-1"]
    regional = aws(stack, "kms").list_keys()["Keys"]
    assert len(regional) == 5  # storage, signing, the canary's signing, PII and email HMAC keys
