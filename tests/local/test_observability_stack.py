"""Observability proven on the local stack, over HTTP: the dev stack's own alarms listed and
evaluated on the metrics the local stack recorded, each critical alarm a local fault can
cause fired by its fault (and the composite paging), and ordinary traffic paging nobody.

The metric store's clock is held by these tests (`stack.metrics.clock`): every scenario
starts a CloudWatch day after the previous one, its traffic lands at one instant, and
the alarms are read at the next evaluation (one CloudWatch minute later), so nothing
depends on how fast the machine is. Waits for asynchronous work are bounded.
"""

import json
import re
import time
from pathlib import Path

import pytest
import requests

from components import alarms as alarm_specs
from components import waf
from components.api import STAGE
from components.runbooks import COMPOSITE
from functions.catalog import CATALOG
from local.moto_stack import aws_client
from local.server import LocalStack
from tests.conftest import JOURNEY_CONFIG
from local.faults import ERRORS
from tests import aws_metrics
from tests.e2e.conftest import Client
from tests.fixtures.lab_reports import LIPIDS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
# The critical alarms a local fault fires, and the fault (the scenarios below prove each).
PROVEN = {
    "process-model-failures": "model",
    "api-5xx": "dynamodb",
    "authorizer-errors": "dynamodb",
    "table-throttles": "dynamodb",
    "table-system-errors": "dynamodb",
    "api-availability-fast-burn-1h": "dynamodb",  # every answer a 5xx: both windows burn
    "api-availability-fast-burn-5m": "dynamodb",
    "process-errors": "s3",
    "stream_processor-errors": "s3",
    "stream_processor-failed-events": "s3",
    "compaction-errors": "s3",
    "canary-canary-failures": "model",  # proven in tests/local/test_canary.py (the canary runs on demand)
}


@pytest.fixture(scope="module")
def stack():
    local = LocalStack(port=0, config=JOURNEY_CONFIG).start()
    try:
        yield local
    finally:
        local.metrics.clock.release()
        local.stop()


@pytest.fixture(scope="module")
def client(stack):
    return Client(stack.url)


@pytest.fixture(autouse=True)
def no_faults_left(client):
    yield
    assert client.call("DELETE", "/local/faults")[0] == 204


def name(stack, key):
    """The dev stack's name of the alarm with this runbook key (resource-signal)."""
    return stack.program.settings.name(*key.split("-", 1))


def fresh_day(stack):
    """A stretch of time no earlier traffic reaches: a CloudWatch day later, held there."""
    clock = stack.metrics.clock
    clock.set(clock.now() + stack.metrics.local_seconds(86_400))
    stack.alarms.evaluate_due()


def next_evaluation(stack, client):
    """The alarms as CloudWatch evaluates them one minute later (one local minute: 60 * scale s)."""
    stack.metrics.clock.advance(stack.metrics.resolution)
    status, body = client.call("GET", "/local/alarms")
    assert status == 200
    return {a["name"]: a for a in body["alarms"]}, body["composite"]


def in_alarm(alarms, severity="critical"):
    return {n for n, a in alarms.items() if a["state"] == "ALARM" and a["severity"] == severity}


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the local stack did not get there in time"
        time.sleep(0.05)


def drain(stack):
    """Everything written so far delivered: each trigger's poller completed two more polls."""
    for poller in stack.pollers:
        assert poller.wait_polled(cycles=2, timeout=60)


def purge_failure_queues(stack):
    """Failure queues keep what earlier faults parked (their alarm stays up until someone
    redrives them, as in AWS): emptied, as an operator would after the incident, so a test
    sees only its own alarms whichever fault tests ran before it."""
    drain(stack)
    sqs = aws_client("sqs", stack.aws_endpoint_url, stack.region)
    for url in stack.telemetry.facts.queues.values():
        # Received and deleted rather than PurgeQueue, which SQS allows once a minute per queue.
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


def onboard(client, sub):
    status, body = client.onboard("google", sub)
    assert status in (200, 201) and body["access_token"], body
    return body["access_token"]


def upload(client, token):
    status, ticket = client.call("POST", "/api/v1/process/upload",
                                 {"content_type": "application/pdf", "file_size": len(LIPIDS.pdf())}, token=token)
    assert status == 201, ticket
    response = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                             files={"file": ("report", LIPIDS.pdf(), "application/pdf")}, timeout=10)
    assert response.status_code == 204, response.text
    return ticket["job_id"]


def clean_journey(client, token):
    """Every function a user reaches: profile, a document analysed, a chat answered, cleanup."""
    assert client.call("GET", "/api/v1/user/profile", token=token)[0] == 200
    assert client.call("PUT", "/api/v1/user/profile", {"given_name": "Clean"}, token=token)[0] == 200
    job = upload(client, token)
    wait_until(lambda: client.call("GET", f"/api/v1/process/status/{job}", token=token)[1]["status"] == "completed")
    assert client.call("GET", f"/api/v1/process/result/{job}", token=token)[0] == 200
    status, chat = client.call("POST", "/api/v1/chat/messages", {"message": "How am I doing?"}, token=token)
    assert status == 202
    wait_until(lambda: client.call("GET", f"/api/v1/chat/status/{chat['job_id']}", token=token)[1]["status"]
               == "completed")
    assert client.call("GET", "/api/v1/subscriptions", token=token)[0] == 200
    assert client.call("DELETE", f"/api/v1/process/cleanup/{job}", token=token)[0] == 204


# -- /local/alarms ------------------------------------------------------------------------

def test_local_alarms_lists_every_alarm_of_the_dev_stack(stack, client):
    status, body = client.call("GET", "/local/alarms")
    assert status == 200
    settings, outputs = stack.program.settings, stack.program.outputs
    names = alarm_specs.StackNames(
        table=settings.name(), temp_bucket=outputs["temp_bucket"], api=settings.name("api"), stage=STAGE,
        web_acls=waf.web_acls(settings),
        failure_queues={fn.name: settings.name(fn.name, "failures") for fn in CATALOG
                        if fn.trigger is not None})
    specs = alarm_specs.all_alarms(CATALOG, settings, names, detailed=settings.detailed_alarms)
    # the burn-rate composites are alarms too; the paging composite is answered apart
    specs += [c for c in alarm_specs.composite_alarms(CATALOG, settings, names, settings.detailed_alarms)
              if not c.pages]
    rendered = {r.inputs["name"] for r in stack.program.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    rendered |= {r.inputs["alarmName"] for r in stack.program.mocks.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")}
    rendered -= {settings.name(COMPOSITE)}
    listed = {a["name"]: a for a in body["alarms"]}
    assert set(listed) == rendered == {s.name(settings) for s in specs}
    assert body["composite"]["name"] == settings.name(COMPOSITE)
    assert body["composite"]["state"] in ("OK", "ALARM", "INSUFFICIENT_DATA")
    for spec in specs:
        alarm = listed[spec.name(settings)]
        assert alarm["severity"] == spec.severity and alarm["runbook"] == spec.key
        assert alarm["state"] in ("OK", "ALARM", "INSUFFICIENT_DATA") and alarm["reason"]
    assert not stack.alarms.errors, stack.alarms.errors


# -- /local/faults ------------------------------------------------------------------------

@pytest.mark.parametrize("body, code", [
    ({"target": "sqs", "error_rate": 0.5}, "unknown_target"),
    ({"error_rate": 0.5}, "unknown_target"),
    ({"target": "s3", "error_rate": 1.5}, "invalid_error_rate"),
    ({"target": "s3", "error_rate": -0.1}, "invalid_error_rate"),
    ({"target": "s3", "error_rate": "1"}, "invalid_error_rate"),
    ({"target": "s3", "error_rate": True}, "invalid_error_rate"),
    ({"target": "s3", "error_rate": 0.5, "seconds": 0}, "invalid_seconds"),
    ({"target": "s3", "error_rate": 0.5, "extra": 1}, "invalid_request"),
    ([], "invalid_request"),
])
def test_a_bad_fault_request_is_400_with_its_code_and_changes_nothing(stack, client, body, code):
    status, answer = client.call("POST", "/local/faults", body)
    assert status == 400 and answer["error"]["code"] == code and answer["error"]["message"]
    assert stack.faults.active() == []


def test_a_fault_is_listed_until_deleted_or_over(stack, client):
    status, body = client.call("POST", "/local/faults", {"target": "kms", "error_rate": 0.25})
    assert status == 200 and body == {"faults": [{"target": "kms", "error_rate": 0.25, "until": None}]}
    status, body = client.call("POST", "/local/faults", {"target": "s3", "error_rate": 1, "seconds": 30})
    until = {f["target"]: f["until"] for f in body["faults"]}
    assert status == 200 and until["kms"] is None and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", until["s3"])
    assert client.call("DELETE", "/local/faults") == (204, None)
    assert stack.faults.active() == []
    status, _ = client.call("POST", "/local/faults", {"target": "dynamodb", "error_rate": 1, "seconds": 0.01})
    time.sleep(0.02)  # the fault's own end, not a wait for the stack
    assert status == 200 and stack.faults.active() == [] and stack.faults.draw("dynamodb") is None


def test_an_aws_fault_is_the_modelled_client_error_of_the_service_at_its_status(stack, client):
    """At the boundary the functions call: their own SDK client raises it."""
    from botocore.exceptions import ClientError

    from local.runtime import acting_as

    assert client.call("POST", "/local/faults", {"target": "dynamodb", "error_rate": 1.0})[0] == 200
    ddb = stack.functions.module("user_profile", "functions.common.aws").client("dynamodb")
    seen = set()
    with acting_as("user_profile"):
        for _ in range(30):
            with pytest.raises(ClientError) as raised:
                ddb.get_item(TableName=stack.program.outputs["table"], Key={"PK": {"S": "x"}, "SK": {"S": "y"}})
            error = raised.value
            # The modelled class where the service models the code (ThrottlingException...), else ClientError.
            assert type(error) is ddb.exceptions.from_code(error.response["Error"]["Code"])
            seen.add((error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]))
    assert seen == {(code, status) for code, status, _ in ERRORS["dynamodb"]}
    # Outside a function (the stack's own calls, a test's checks) nothing fails.
    assert "Item" not in ddb.get_item(TableName=stack.program.outputs["table"], Key={"PK": {"S": "x"}, "SK": {"S": "y"}})


def test_faults_are_drawn_from_a_seeded_generator():
    from local.faults import Faults

    first, second = Faults(seed=4), Faults(seed=4)
    for faults in (first, second):
        faults.set("s3", 0.5, None)
    draws = [[f.draw("s3") for _ in range(200)] for f in (first, second)]
    assert draws[0] == draws[1] and 60 < sum(d is not None for d in draws[0]) < 140


# -- each critical alarm its fault can cause ---------------------------------------------

def test_a_model_fault_fires_the_model_alarm_and_pages_at_the_next_evaluation(stack, client):
    token = onboard(client, "obs-model")
    purge_failure_queues(stack)
    fresh_day(stack)
    assert client.call("POST", "/local/faults", {"target": "model", "error_rate": 1.0})[0] == 200
    jobs = []
    for i in range(6):  # ModelFailures > 5 in a period
        status, job = client.call("POST", "/api/v1/chat/messages", {"message": f"question {i}"}, token=token)
        assert status == 202, job
        jobs.append(job["job_id"])

    def all_failed():
        return all(client.call("GET", f"/api/v1/chat/status/{j}", token=token)[1]["status"] == "failed" for j in jobs)
    wait_until(all_failed)
    alarms, composite = next_evaluation(stack, client)
    assert alarms[name(stack, "process-model-failures")]["state"] == "ALARM"
    assert composite["state"] == "ALARM"
    assert alarms[name(stack, "bedrock-errors")]["state"] == "ALARM"  # the model's own errors, a warning
    assert in_alarm(alarms) == {name(stack, "process-model-failures")}
    # Each job retried for its full budget: Lambda's Duration shows the skipped backoff.
    window = (stack.metrics.clock.now() - stack.metrics.local_seconds(600), stack.metrics.clock.now())
    process = stack.program.outputs["functions"]["process"]
    longest = stack.metrics.get_metric_data("AWS/Lambda", "Duration", {"FunctionName": process},
                                            "Maximum", 300, *window).values
    assert longest and max(longest) > 200_000


def test_a_dynamodb_fault_fires_the_table_authorizer_and_api_alarms(stack, client):
    tokens = [onboard(client, f"obs-table-{i}") for i in range(4)]  # never used on an authorized route yet
    drain(stack)
    fresh_day(stack)
    assert client.call("POST", "/local/faults", {"target": "dynamodb", "error_rate": 1.0})[0] == 200
    statuses = [client.call("GET", "/api/v1/user/profile", token=tokens[i % 4])[0] for i in range(40)]
    assert statuses == [500] * 40  # the authorizer's account check fails: AUTHORIZER_CONFIGURATION_ERROR
    alarms, composite = next_evaluation(stack, client)
    expected = {name(stack, k) for k, fault in PROVEN.items() if fault == "dynamodb"}
    assert in_alarm(alarms) >= expected, in_alarm(alarms)
    assert alarms[name(stack, "api-availability-fast-burn")]["state"] == "ALARM"  # both windows: the burn composite
    assert composite["state"] == "ALARM"


def test_a_kms_fault_fires_the_api_alarm(stack, client):
    fresh_day(stack)
    assert client.call("POST", "/local/faults", {"target": "kms", "error_rate": 1.0})[0] == 200
    statuses = [client.onboard("google", f"obs-kms-{i}")[0] for i in range(12)]
    assert statuses == [500] * 12
    alarms, composite = next_evaluation(stack, client)
    assert name(stack, "api-5xx") in in_alarm(alarms) and composite["state"] == "ALARM"


def test_an_s3_fault_fires_the_process_stream_and_compaction_alarms(stack, client):
    token = onboard(client, "obs-s3")
    drain(stack)
    fresh_day(stack)
    assert client.call("POST", "/local/faults", {"target": "s3", "error_rate": 1.0})[0] == 200
    for _ in range(6):  # two attempts each (the program's one retry): 12 errors
        upload(client, token)
    for i in range(3):  # account changes the stream processor cannot write to the events bucket
        onboard(client, f"obs-s3-{i}")
    scheduled = {"version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": "123456789012", "time": "2026-01-01T01:30:00Z", "region": stack.region,
                 "resources": [], "detail": {}}
    for _ in range(11):  # EventBridge's schedule is not run locally: invoked as it would be
        with pytest.raises(Exception):
            stack.functions.invoke("compaction", scheduled)
    drain(stack)
    alarms, composite = next_evaluation(stack, client)
    expected = {name(stack, k) for k, fault in PROVEN.items() if fault == "s3"}
    assert in_alarm(alarms) >= expected, in_alarm(alarms)
    assert composite["state"] == "ALARM"


# -- ordinary traffic pages nobody -----------------------------------------------------------

def test_a_clean_journey_refused_tokens_and_junk_bodies_fire_no_critical_alarm(stack, client):
    token = onboard(client, "obs-clean")
    purge_failure_queues(stack)
    fresh_day(stack)
    clean_journey(client, token)
    refused = [client.call("GET", "/api/v1/user/profile", token=f"not-a-token-{i}")[0] for i in range(100)]
    junk = [client.call("PUT", "/api/v1/user/profile", token=token, raw=b'{"given_name": ' + bytes([i % 256]))[0]
            for i in range(100)]
    assert set(refused) == {401} and set(junk) == {400}
    drain(stack)
    alarms, composite = next_evaluation(stack, client)
    assert in_alarm(alarms) == set() and composite["state"] == "OK", in_alarm(alarms)
    # Not vacuous: the authorizer did count 100 errors, all of them refusals.
    window = (stack.metrics.clock.now() - stack.metrics.local_seconds(300), stack.metrics.clock.now())
    authorizer = stack.program.outputs["functions"]["authorizer"]
    errors = stack.metrics.get_metric_data("AWS/Lambda", "Errors", {"FunctionName": authorizer},
                                           "Sum", 300, *window).values
    refusals = stack.metrics.get_metric_data(
        "Serenya", "AuthorizerRejections", {"service": stack.program.settings.project, "stack": "dev",
                                             "function": "authorizer"}, "Sum", 300, *window).values
    assert sum(errors) >= 100 and sum(refusals) >= 100


# -- what the store holds ------------------------------------------------------------------

def test_every_aws_metric_recorded_has_aws_names_and_dimensions(stack, client):
    """What a journey makes every service record (this test's own: it may run first), and
    the minute's samples of the queues and buckets."""
    clean_journey(client, onboard(client, "obs-names"))
    drain(stack)
    next_evaluation(stack, client)
    recorded = stack.metrics.list_metrics()
    namespaces = {ns for ns, _, _ in recorded}
    assert {"AWS/Lambda", "AWS/ApiGateway", "AWS/DynamoDB", "AWS/Usage", "AWS/Bedrock", "AWS/SQS", "AWS/S3",
            "Serenya"} <= namespaces
    problems = [p for ns, metric, dims in recorded if ns.startswith("AWS/")
                for p in aws_metrics.problems(ns, metric, tuple(dims))]
    assert not problems, problems
    assert not stack.telemetry.emf_errors  # the functions' EMF is valid


def test_every_critical_alarm_is_proven_here_or_listed_as_not_provable_locally(stack):
    settings = stack.program.settings
    critical = {a.name for a in stack.alarms.metric_alarms if a.severity == "critical"}
    text = DOCS.read_text()
    section = text.split("## Critical alarms no local fault can fire", 1)[1].split("\n## ", 1)[0]
    unprovable = {settings.name(*key.split("-", 1)) for key in re.findall(r"^\| `([^`]+)`", section, re.M)}
    proven = {name(stack, k) for k in PROVEN}
    assert critical == proven | unprovable, sorted(critical ^ (proven | unprovable))
    assert not proven & unprovable
    for key in PROVEN:
        assert f"`{key}`" in text.split("## Critical alarms no local fault can fire", 1)[0], key
    json.dumps(stack.alarms.snapshot())  # the route's answer is JSON
