"""The canary on the local stack: the synthetic user walks the public API as deployed stacks
run it (the program's schedule and its event), succeeds on a healthy stack without counting
against any quota or reaching the audit lake, and fails under a model fault: its success
metric 0, its critical alarm in ALARM, the paging composite following.

The scheduled runs are invoked here (`stack.schedules["canary"].poll_once()`) so the test
decides when the journey's traffic lands; `make run` runs them in the background."""

import json
from html.parser import HTMLParser

import pytest

from analytics import writer
from functions.common.canary import CANARY_USER_ID
from functions.common.quotas import KEY_PREFIX as QUOTA_PREFIX
from functions.common.quotas import holder
from local import headless
from local.moto_stack import aws_client
from local.server import LocalStack
from components.config import stack_config
from tests.conftest import JOURNEY_CONFIG
from tests.e2e.conftest import Client
from tests.local.test_observability_stack import drain, fresh_day, in_alarm, name, next_evaluation, onboard


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


class FirstWidgetTiles(HTMLParser):
    """The alarm tiles of a dumped dashboard page's first widget: (state class, severity, name)."""

    def __init__(self):
        super().__init__()
        self.tiles, self._in_first, self._tile, self._span = [], False, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "data-widget-index" in attrs:
            self._in_first = attrs["data-widget-index"] == "0"
        elif self._in_first and tag == "li":
            self._tile = {"class": attrs.get("class", "")}
        elif self._tile is not None and tag == "span":
            self._span = attrs.get("class")

    def handle_data(self, data):
        if self._tile is not None and self._span in ("severity", "name"):
            self._tile[self._span] = data

    def handle_endtag(self, tag):
        if tag == "span":
            self._span = None
        elif tag == "li" and self._tile is not None:
            self.tiles.append(self._tile)
            self._tile = None


def canary_values(stack, metric, statistic="Sum"):
    clock = stack.metrics.clock
    window = (clock.now() - stack.metrics.local_seconds(900), clock.now() + stack.metrics.resolution)
    dims = {"service": "serenya", "stack": "dev", "function": "canary"}
    return stack.metrics.get_metric_data("Serenya", metric, dims, statistic, 60, *window).values


def test_the_program_schedules_the_canary_with_the_public_url_in_its_event(stack):
    rule = stack.program.mocks.one("aws:cloudwatch/eventRule:EventRule", endswith="-canary-schedule").inputs
    target = stack.program.mocks.one("aws:cloudwatch/eventTarget:EventTarget", endswith="-canary-schedule").inputs
    # The dev stack's serenya:canaryRate, not the catalog's default; the local schedule runs at it.
    assert rule["scheduleExpression"] == stack_config("dev")["serenya:canaryRate"] == "rate(30 minutes)"
    assert stack.schedules["canary"].interval_s == stack.metrics.local_seconds(1800)
    assert json.loads(target["input"]) == {"public_url": stack.program.outputs["api_url"]}
    # Locally the same event names where clients reach the local stack.
    assert stack.schedules["canary"]._event == {"public_url": stack.public_url}


def test_a_healthy_stack_s_canary_succeeds_uncounted_and_out_of_the_audit_lake(stack, client):
    onboard(client, "canary-neighbour")  # a real account: the lake gets its events, not the canary's
    fresh_day(stack)
    schedule = stack.schedules["canary"]
    for _ in range(2):  # the second run finds its account made
        schedule.poll_once()
    assert [a["ok"] for a in schedule.answers[-2:]] == [True, True], schedule.answers[-2:]
    assert schedule.errors == []
    assert canary_values(stack, "CanarySuccess") and sum(canary_values(stack, "CanarySuccess")) == 2
    assert not canary_values(stack, "CanaryFailures")
    assert max(canary_values(stack, "CanaryDuration", "Maximum")) > 0

    region = stack.region
    table = stack.program.outputs["table"]
    dynamodb = aws_client("dynamodb", stack.aws_endpoint_url, region)
    profile = dynamodb.get_item(TableName=table, Key={"PK": {"S": f"USER#{CANARY_USER_ID}"}, "SK": {"S": "PROFILE"}})
    assert set(profile["Item"]) == {"PK", "SK", "created_at"}  # no name, no email, no identity
    counters = dynamodb.query(TableName=table, KeyConditionExpression="PK = :pk",
                              ExpressionAttributeValues={":pk": {"S": QUOTA_PREFIX + holder(CANARY_USER_ID)}})
    assert counters["Items"] == []  # two documents a minute apart, and no quota counted them

    drain(stack)
    s3 = aws_client("s3", stack.aws_endpoint_url, region)
    bucket = stack.program.outputs["events_bucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="audit/").get("Contents", [])]
    files = [s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys]
    events = [writer.read(raw) for raw in files]
    assert {a for t in events for a in t.column("analytics_id").to_pylist()}, \
        "the neighbour's onboarding reached the lake: the pipeline ran"
    assert all(CANARY_USER_ID.encode() not in raw for raw in files)
    # The canary's tickets and jobs are no one's use of the app (only the neighbour onboarded).
    kinds = {e for t in events for e in t.column("event_type").to_pylist()}
    assert not kinds & {"upload_ticket_issued", "document_processed"}, kinds


def test_a_model_fault_fails_the_canary_and_pages_through_the_composite(stack, client):
    fresh_day(stack)
    assert client.call("POST", "/local/faults", {"target": "model", "error_rate": 1.0})[0] == 200
    schedule = stack.schedules["canary"]
    schedule.poll_once()
    assert (schedule.answers[-1]["ok"], schedule.answers[-1]["step"]) == (False, "process")
    alarms, composite = next_evaluation(stack, client)
    # One failed run is one breaching period of two: no page yet.
    assert alarms[name(stack, "canary-canary-failures")]["state"] != "ALARM"
    stack.metrics.clock.advance(schedule.interval_s)  # the next run, one rate (30 minutes in dev) later
    schedule.poll_once()
    failed = schedule.answers[-2:]
    assert [(a["ok"], a["step"]) for a in failed] == [(False, "process")] * 2, failed
    assert sum(canary_values(stack, "CanaryFailures")) >= 1
    alarms, composite = next_evaluation(stack, client)
    assert alarms[name(stack, "canary-canary-failures")]["state"] == "ALARM"
    assert name(stack, "canary-canary-failures") in in_alarm(alarms)
    assert composite["state"] == "ALARM"
    if headless.chromium() is None:  # .ci/run installs Debian's chromium
        pytest.skip("chromium is not installed: the page itself is not checked")
    page = FirstWidgetTiles()
    page.feed(headless.dump_dom(f"{stack.url}/local/dashboards/operations"))
    firing = {t["name"]: t for t in page.tiles}
    for alarm in (name(stack, "canary-canary-failures"), composite["name"]):
        assert "state-alarm" in firing[alarm]["class"] and firing[alarm]["severity"] == "critical", page.tiles
