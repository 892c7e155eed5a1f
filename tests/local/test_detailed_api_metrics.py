"""The local gateway records per-route AWS/ApiGateway metrics (Resource, Method) for the
methods whose settings in the program enable detailed metrics, as API Gateway does: a
method's own settings win over the stage's `*/*`
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html)."""

from types import SimpleNamespace

import pytest

from functions.catalog import CATALOG
from local.metric_store import MetricStore
from local.telemetry import StackFacts, Telemetry, detailed_methods

SETTINGS = "aws:apigateway/methodSettings:MethodSettings"


def settings(path: str, metrics: bool) -> SimpleNamespace:
    return SimpleNamespace(inputs={"methodPath": path, "settings": {"metricsEnabled": metrics}})


def per_route_recorded(method_settings) -> set:
    store = MetricStore()
    telemetry = Telemetry(store, StackFacts(api_name="api", stage="v1",
                                            detailed_api_metrics=detailed_methods(method_settings), log_groups={}))
    for fn in CATALOG:
        for route in fn.routes:
            telemetry.api_request(route.path, route.method, 200, 12.0, 10.0)
    telemetry.api_request(None, "GET", 404, 1.0, None)  # no route matched: no Resource to record
    return {(dims["Resource"], dims["Method"]) for _, _, dims in store.list_metrics("AWS/ApiGateway")
            if "Resource" in dims}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_local_stack_records_per_route_metrics_where_the_program_enables_them(stack, dev_run, prod_run):
    run = {"dev": dev_run, "prod": prod_run}[stack]
    declared = run.mocks.of_type(SETTINGS)
    paths = [s.inputs["methodPath"].rsplit("/", 1) for s in declared
             if s.inputs["methodPath"] != "*/*" and s.inputs["settings"]["metricsEnabled"]]
    enabled = {(resource.replace("~1", "/"), method) for resource, method in paths}
    assert enabled  # the program enables some routes' metrics, not the stage's
    assert per_route_recorded(declared) == enabled


def test_a_methods_own_setting_wins_over_the_stages():
    every = {(r.path, r.method) for fn in CATALOG for r in fn.routes}
    off = ("/api/v1/process/upload", "POST")
    assert off in every
    assert per_route_recorded([settings("*/*", True), settings("~1api~1v1~1process~1upload/POST", False)]) == \
        every - {off}
    assert per_route_recorded([settings("*/*", False)]) == set()
    assert per_route_recorded([settings("*/*", False), settings("~1api~1v1~1process~1upload/POST", True)]) == {off}
