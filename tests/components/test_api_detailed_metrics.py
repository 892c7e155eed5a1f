"""API Gateway detailed (per-method) metrics exactly where something reads them.

CloudWatch bills every per-method metric of a stage with detailed metrics, so the program
enables them per method: each route whose Resource/Method metrics an alarm or a dashboard
of the stack reads has a MethodSettings with metricsEnabled, and no other route does.
The reads are found in the declared alarms and dashboards themselves, not in the helper
the program uses to choose the routes.

Method path format. The stage's method settings are keyed `{resource_path}/{http_method}`
with every "/" of the resource path escaped as "~1": AWS's MethodSetting documentation
("Forward slashes (/) are encoded as ~1 ... the path value /resource/subresource must be
encoded as /~1resource~1subresource",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-apigateway-stage-methodsetting.html).
The provider behind pulumi_aws.apigateway.MethodSettings passes method_path on unchanged
and puts it after the "/" of the UpdateStage patch path; `aws apigateway get-stage` keys a
method override of POST /some/api/endpoint as `~1some~1api~1endpoint/POST`, which is what
it takes (https://github.com/hashicorp/terraform-provider-aws/issues/9738, and
https://www.pulumi.com/registry/packages/aws/api-docs/apigateway/methodsettings/ for the
`{resource_path}/{http_method}` form, "*/*" for the whole stage).
"""

import json
import re

import pytest

from components.alarms import routes_read_per_method
from components.api import method_path
from functions.catalog import CATALOG

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
ROUTES = {(r.path, r.method) for fn in CATALOG for r in fn.routes}


def _per_route(namespace, dimensions) -> set:
    if namespace == "AWS/ApiGateway" and "Resource" in dimensions:
        return {(dimensions["Resource"], dimensions["Method"])}
    return set()


def read_by_alarms(run) -> set:
    found = set()
    for alarm in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        inputs = alarm.inputs
        found |= _per_route(inputs.get("namespace"), inputs.get("dimensions") or {})
        for query in inputs.get("metricQueries") or []:
            metric = query.get("metric")
            if metric:
                found |= _per_route(metric.get("namespace"), metric.get("dimensions") or {})
            assert "AWS/ApiGateway" not in (query.get("expression") or ""), "a SEARCH would read every route"
    return found


def read_by_dashboards(run) -> set:
    found = set()
    for dashboard in run.mocks.of_type("aws:cloudwatch/dashboard:Dashboard"):
        for widget in json.loads(dashboard.inputs["dashboardBody"])["widgets"]:
            for entry in widget["properties"].get("metrics", []) if widget["type"] == "metric" else []:
                if isinstance(entry[0], dict):
                    assert "AWS/ApiGateway" not in entry[0].get("expression", ""), "a SEARCH would read every route"
                    continue
                names = [x for x in entry[2:] if isinstance(x, str)]
                found |= _per_route(entry[0], dict(zip(names[::2], names[1::2])))
    return found


def enabled_routes(run) -> dict:
    """(resource, METHOD) -> metricsEnabled of each method's own settings; "*/*" apart."""
    found = {}
    for settings in run.mocks.of_type("aws:apigateway/methodSettings:MethodSettings"):
        path = settings.inputs["methodPath"]
        resource, method = path.rsplit("/", 1)
        found[path if path == "*/*" else (resource.replace("~1", "/"), method)] = \
            settings.inputs["settings"]["metricsEnabled"]
    return found


def test_the_alarms_and_dashboards_read_some_routes_but_not_all(stack_run):
    read = read_by_alarms(stack_run) | read_by_dashboards(stack_run)
    assert read and read < ROUTES  # otherwise there would be nothing to save, or nothing read


def test_every_per_route_metric_read_has_its_method_metrics_enabled(stack_run):
    enabled = enabled_routes(stack_run)
    for route in read_by_alarms(stack_run) | read_by_dashboards(stack_run):
        assert enabled.get(route) is True, route


def test_no_route_pays_for_metrics_nothing_reads(stack_run):
    enabled = enabled_routes(stack_run)
    read = read_by_alarms(stack_run) | read_by_dashboards(stack_run)
    assert enabled.pop("*/*") is False  # the stage default: throttling and logging only
    assert {route for route, on in enabled.items() if on} == read
    assert set(enabled) <= ROUTES  # every override names a route of the API


def test_method_paths_are_in_api_gateways_format(stack_run):
    for settings in stack_run.mocks.of_type("aws:apigateway/methodSettings:MethodSettings"):
        path = settings.inputs["methodPath"]
        if path == "*/*":
            continue
        assert re.fullmatch(rf"(~1[^/~]+)+/({'|'.join(METHODS)})", path), path
        assert "/" not in path.rsplit("/", 1)[0]  # every "/" of the resource path escaped


@pytest.mark.parametrize("path, method, expected", [
    ("/api/v1/process/status/{job_id}", "GET", "~1api~1v1~1process~1status~1{job_id}/GET"),
    ("/pets", "POST", "~1pets/POST"),
])
def test_method_path_escapes_every_slash_of_the_resource_path(path, method, expected):
    from functions.catalog import Route
    assert method_path(Route(method, path)) == expected


def test_the_programs_choice_is_the_routes_with_a_latency_target():
    assert {(r.path, r.method) for r in routes_read_per_method(CATALOG)} == {
        (r.path, r.method) for fn in CATALOG for r in fn.routes if r.latency_p99_ms is not None}
