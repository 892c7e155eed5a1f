"""Saved CloudWatch Logs Insights queries for on-call, generated from the catalog.

The ObservabilityLayer saves each as a query definition (console: Logs Insights >
Saved queries, under the folder `serenya-<stack>/`), and docs/runbooks.md prints them
in the sections of the alarms that need them. They read only what the code really
logs (a test runs the functions and checks every field a query names):

- Powertools' keys on every function line: level, message, function_name,
  function_request_id, cold_start, xray_trace_id, and correlation_id (the API request
  id: the `request_id` of the contract's error bodies) on API functions;
- ours: route, user_id (the opaque account id) and status_code on every API request
  (functions/common/api.py), job_ref (a hash of the job id: job ids are never
  logged) and job_kind wherever a job is handled (functions/common/observability.log_job),
  error_code and error_type on failures;
- the API stage's JSON access log (components/api.access_log_format).

Never a name, an email or health data: no query could filter on them, the logs have none.
A query that needs a value (a user, a job) says so in `asks`: replace the quoted marker
before running it.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.alarms import ERRORS_BY_REQUEST, JOB_STORY, SLOWEST_REQUESTS, USER_REQUESTS
from components.config import Settings
from functions.catalog import Function

# StartQuery reads at most 50 log groups:
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html
MAX_LOG_GROUPS = 50


def function_log_group(settings: Settings, function: str) -> str:
    """Where a function logs (components/processing.py creates it, encrypted, with retention)."""
    return f"/aws/lambda/{settings.name(function)}"


def access_log_group(settings: Settings) -> str:
    """The API stage's access log (components/api.py)."""
    return f"/aws/apigateway/{settings.name('api')}"


@dataclass(frozen=True)
class SavedQuery:
    key: str  # errors-by-request: what alarms list in `queries`
    title: str
    log_groups: tuple[str, ...]
    text: str  # Logs Insights query language
    fields: tuple[str, ...]  # the log fields it reads
    source: str  # "functions" (their JSON logs) or "access" (the stage's access log)
    asks: tuple[str, ...] = ()  # values to put in before running it, e.g. "<job ref>"
    how: str = ""  # where those values come from

    def name(self, settings: Settings) -> str:
        return f"{settings.name()}/{self.key}"


def saved_queries(catalog: tuple[Function, ...], settings: Settings) -> list[SavedQuery]:
    every = tuple(function_log_group(settings, fn.name) for fn in catalog)
    api = tuple(function_log_group(settings, fn.name) for fn in catalog if fn.routes)
    jobs = tuple(
        function_log_group(settings, fn.name)
        for fn in catalog
        if fn.access.temp_read or fn.access.temp_write or fn.access.temp_delete
    )
    queries = [
        SavedQuery(
            ERRORS_BY_REQUEST,
            "Errors with the request they failed (newest first)",
            every,
            "fields @timestamp, correlation_id, function_request_id, function_name, route, error_code, error_type, "
            "message\n"
            '| filter level = "ERROR"\n'
            "| sort @timestamp desc\n"
            "| limit 200",
            (
                "level",
                "correlation_id",
                "function_request_id",
                "function_name",
                "route",
                "error_code",
                "error_type",
                "message",
            ),
            "functions",
        ),
        SavedQuery(
            SLOWEST_REQUESTS,
            "Slowest API requests, with their route and request id",
            (access_log_group(settings),),
            "fields @timestamp, httpMethod, resourcePath, requestId, status, responseLatency, integrationLatency\n"
            "| sort responseLatency desc\n"
            "| limit 100",
            ("httpMethod", "resourcePath", "requestId", "status", "responseLatency", "integrationLatency"),
            "access",
        ),
        SavedQuery(
            USER_REQUESTS,
            "One user's requests, in order",
            api,
            "fields @timestamp, route, status_code, correlation_id, function_name, level, message\n"
            '| filter user_id = "<user id>"\n'
            "| sort @timestamp asc\n"
            "| limit 1000",
            ("user_id", "route", "status_code", "correlation_id", "function_name", "level", "message"),
            "functions",
            asks=("<user id>",),
            how="the user id is the account's id (`user.id` in the app's answers, `sub` of its access token)",
        ),
        SavedQuery(
            JOB_STORY,
            "A job's story: its upload, analysis and every poll, in order",
            jobs,
            "fields @timestamp, function_name, route, status_code, level, message, job_kind, status, error_code\n"
            '| filter job_ref = "<job ref>"\n'
            "| sort @timestamp asc\n"
            "| limit 1000",
            (
                "job_ref",
                "function_name",
                "route",
                "status_code",
                "level",
                "message",
                "job_kind",
                "status",
                "error_code",
            ),
            "functions",
            asks=("<job ref>",),
            how="the job's reference is the start of its id's SHA-256: "
            '`printf %s "$JOB_ID" | sha256sum | cut -c1-16` (job ids are never logged)',
        ),
    ]
    return [q for q in queries if q.log_groups]


def by_key(catalog: tuple[Function, ...], settings: Settings) -> dict[str, SavedQuery]:
    return {q.key: q for q in saved_queries(catalog, settings)}
