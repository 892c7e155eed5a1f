"""The saved Logs Insights queries of the runbooks (components/queries.py) read fields the
functions really write: the functions run here against moto, and every field a query
names is in their JSON log lines of the kind the query filters (errors, one user's
requests, one job's lines). A query on a field nobody logs returns nothing, silently."""

import json
import re
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from components.api import ACCESS_LOG_FIELDS
from components.config import load_settings, stack_config
from components.queries import saved_queries
from functions.catalog import CATALOG
from functions.common import jobs
from functions.common.observability import job_ref
from functions.process import handler as process_module
from tests.conftest import FakeContext, api_event
from tests.fixtures.lab_reports import TABLE

USER = str(uuid.uuid4())
PERSONAL = ("email", "given_name", "family_name", "name", "phone", "birth_date")



def authorized(method, path, resource, **parameters):
    event = api_event(method, path, resource=resource, path_parameters=parameters or None)
    event["requestContext"]["authorizer"] = {"user_id": USER, "session_id": "s-1"}
    return event




@pytest.fixture
def journey(aws_env, monkeypatch, log_lines):
    """A job that fails at the model, polled by its owner; then a poll that breaks: the log
    lines of process and status, as they would reach their log groups."""
    from functions.chat_prompts import handler as prompts
    from functions.status import handler as status

    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{USER}", "SK": "PROFILE", "user_id": USER})
    s3 = boto3.client("s3", region_name="eu-west-1")
    job = jobs.new_job_id("result", USER)
    s3.put_object(Bucket="serenya-test-temp", Key=job.incoming, Body=TABLE.pdf(), ContentType="application/pdf")

    class Refusing:
        model_id = "stub"

        def converse(self, **_):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no access"}}, "Converse")

    monkeypatch.setattr(process_module, "provider", lambda: Refusing())
    context = FakeContext()
    context.get_remaining_time_in_millis = lambda: 300_000
    process_module.handler({"Records": [{"s3": {"object": {"key": job.incoming}}}]}, context)
    path = f"/api/v1/process/status/{job.value}"
    resource = "/api/v1/process/status/{job_id}"
    assert status.handler(authorized("GET", path, resource, job_id=job.value), FakeContext())["statusCode"] == 200
    prompts.handler(authorized("GET", "/api/v1/chat/prompts", "/api/v1/chat/prompts"), FakeContext())
    monkeypatch.setattr(jobs, "state", lambda job: 1 / 0)  # a bug in the next poll
    assert status.handler(authorized("GET", path, resource, job_id=job.value), FakeContext())["statusCode"] == 500
    return job, log_lines()


def queries():
    settings = load_settings(stack_config("prod").get, "prod")
    return {q.key: q for q in saved_queries(CATALOG, settings)}


def test_every_field_a_query_reads_is_written_on_the_lines_it_filters(journey):
    job, logged = journey
    relevant = {
        "errors-by-request": [r for r in logged if r["level"] == "ERROR"],
        "user-requests": [r for r in logged if r.get("user_id") == USER],
        "job-story": [r for r in logged if r.get("job_ref") == job_ref(job.value)],
    }
    assert all(relevant.values()), {k: len(v) for k, v in relevant.items()}
    for key, records in relevant.items():
        written = set().union(*(r.keys() for r in records))
        assert set(queries()[key].fields) <= written, (key, set(queries()[key].fields) - written)


def test_the_access_log_query_reads_the_stage_access_log_format():
    (query,) = [q for q in queries().values() if q.source == "access"]
    # the fields of every stage's format (wafStatus exists only beside a regional web ACL)
    assert set(query.fields) <= set(ACCESS_LOG_FIELDS)


def test_lines_name_the_route_template_the_user_and_the_job_but_no_personal_data(journey):
    job, logged = journey
    answered = [r for r in logged if r["message"] == "request answered"]
    assert {r["route"] for r in answered} == {"GET /api/v1/process/status/{job_id}", "GET /api/v1/chat/prompts"}
    assert {r["status_code"] for r in answered} == {200, 500}
    assert all(r["correlation_id"] == "req-1" for r in answered)  # the request id the app shows
    story = [r["message"] for r in logged if r.get("job_ref") == job_ref(job.value)]
    assert story[0] == "model call refused" and "job finished" in story and story.count("request answered") == 2
    # Keys are per invocation: the prompts request after a status poll carries no job.
    prompts = next(r for r in answered if r["route"] == "GET /api/v1/chat/prompts")
    assert "job_ref" not in prompts and prompts["user_id"] == USER
    assert not {k for r in logged for k in r if k in PERSONAL}
    assert job.value not in json.dumps(logged)  # job ids stay out of logs like tokens (test_hardening)


def test_queries_filter_on_opaque_ids_and_read_only_the_fields_they_declare():
    keywords = {"fields", "filter", "sort", "limit", "desc", "asc", "stats", "by", "as", "and", "or", "not",
                "count", "ispresent"}
    for query in queries().values():
        text = re.sub(r'"[^"]*"', "", query.text)  # the quoted values
        named = {w for w in re.findall(r"(?<![@\w])[A-Za-z_]\w*", text) if w not in keywords}
        assert named == set(query.fields), (query.key, named ^ set(query.fields))
        assert not set(query.fields) & set(PERSONAL), query.key
        filters = set(re.findall(r"filter (\w+) =", query.text))
        assert filters <= {"level", "user_id", "job_ref"}, query.key
        assert all(f'"{ask}"' in query.text for ask in query.asks), query.key
