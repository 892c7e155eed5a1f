"""Objectives of the catalog become the SRE workbook's multi-window burn-rate alarms
(https://sre.google/workbook/alerting-on-slos/, recipe 6): a fast burn over 1 h and 5 min
at 14.4 times the error budget pages, a slow burn over 6 h and 30 min at 6 times mails.
Checked on the program as deployed under mocks, for both stacks."""

import dataclasses
import json
import re

import pytest

from components import alarms
from components.alarms import (BURN_RATES, COMPOSITE, CRITICAL, FAST_BURN, MIN_BAD_EVENTS, SLOW_BURN, WARNING,
                               Expression)
from components.config import load_settings, stack_config
from components.observability import _metric_args
from components.runbooks import reference_names
from functions.catalog import AVAILABILITY, CATALOG, Function, Objective, Route, validate

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
# PutMetricAlarm: "Valid values are 10, 20, 30, and any multiple of 60 ... Period multiplied by
# EvaluationPeriods can't be more than 604,800 seconds. For alarms with a period of less than
# one hour (3,600 seconds), the total evaluation period can't be longer than one day (86,400 seconds)."
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
WEEK, DAY, HOUR = 604_800, 86_400, 3_600


def objectives():
    """(key of the objective, target, window days) of every objective of the catalog."""
    found = [("availability", AVAILABILITY.target, AVAILABILITY.window_days)]
    for fn in CATALOG:
        for route in fn.routes:
            if route.latency_p99_ms is not None:
                found.append((f"{alarms.route_slug(route)}-latency", route.latency_objective.target,
                              route.latency_objective.window_days))
    return found


def metric_alarms(run):
    return {a.inputs["name"]: a.inputs for a in run.mocks.of_type(ALARM)}


def composite_alarms(run):
    return {a.inputs["alarmName"]: a.inputs for a in run.mocks.of_type(COMPOSITE_ALARM)}


def rule_names(rule):
    return re.findall(r'ALARM\("([^"]+)"\)', rule)


def periods_of(alarm):
    if "metricQueries" in alarm:
        return {q["metric"]["period"] for q in alarm["metricQueries"] if "metric" in q}
    return {alarm["period"]}


def test_the_documented_factors():
    assert FAST_BURN.factor(Objective(0.999)) == 14.4 and SLOW_BURN.factor(Objective(0.999)) == 6
    assert FAST_BURN.threshold(Objective(0.999)) == pytest.approx(14.4 * (1 - 0.999))
    assert SLOW_BURN.threshold(Objective(0.99)) == pytest.approx(6 * (1 - 0.99))
    assert (FAST_BURN.long_s, FAST_BURN.short_s, SLOW_BURN.long_s, SLOW_BURN.short_s) == (3600, 300, 21600, 1800)
    # The budget shares stay (2% in an hour, 5% in 6 hours) when a window is shorter.
    assert FAST_BURN.factor(Objective(0.999, window_days=28)) == pytest.approx(13.44)


def test_every_objective_yields_a_fast_and_a_slow_burn_with_their_windows(stack_run):
    env, found, composites = stack_run.settings.env, metric_alarms(stack_run), composite_alarms(stack_run)
    paging = rule_names(composites[f"serenya-{env}-{COMPOSITE}"]["alarmRule"])
    assert len(objectives()) == 5  # availability and the four routes with a latency target
    for key, target, days in objectives():
        for rate in BURN_RATES:
            name = f"serenya-{env}-api-{key}-{rate.name}"
            composite = composites[name]
            windows = rule_names(composite["alarmRule"])
            assert composite["alarmRule"] == " AND ".join(f'ALARM("{w}")' for w in windows)
            assert [periods_of(found[w]) for w in windows] == [{rate.long_s}, {rate.short_s}]
            for window in windows:
                alarm = found[window]
                assert alarm["threshold"] == pytest.approx(rate.factor(Objective(target, days)) * (1 - target))
                assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (1, 1)
                assert alarm["comparisonOperator"] == "GreaterThanThreshold"
                assert alarm["tags"] == {"severity": rate.severity, "part-of": f"api-{key}-{rate.name}",
                                         "runbook": window.removeprefix(f'serenya-{env}-')}
                assert alarm["alarmActions"] == alarm["okActions"] == []  # the composite notifies
                assert window not in paging
            assert composite["tags"]["severity"] == rate.severity
            assert (name in paging) is (rate.severity == CRITICAL)
    assert FAST_BURN.severity == CRITICAL and SLOW_BURN.severity == WARNING


def test_every_alarm_period_is_one_cloudwatch_accepts(stack_run):
    for name, alarm in metric_alarms(stack_run).items():
        periods = periods_of(alarm)
        assert len(periods) == 1, name  # every metric of an expression over the same window
        period = periods.pop()
        assert period in (10, 20, 30) or period % 60 == 0, name
        total = period * alarm["evaluationPeriods"]
        assert total <= (DAY if period < HOUR else WEEK), name


def test_latency_counts_requests_over_the_target_with_the_percentile_rank_statistic(prod_run):
    """PR(:t) "returns the percentage of data points that have a value of t or less"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html),
    so 100 - PR(:t) is the share over the route's target; SampleCount counts its requests."""
    found = metric_alarms(prod_run)
    for fn in CATALOG:
        for route in fn.routes:
            if route.latency_p99_ms is None:
                continue
            alarm = found[f"serenya-prod-api-{alarms.route_slug(route)}-latency-fast-burn-5m"]
            metrics = {q["id"]: q["metric"] for q in alarm["metricQueries"] if "metric" in q}
            assert {m["stat"] for m in metrics.values()} == {f"PR(:{route.latency_p99_ms})", "SampleCount"}
            for m in metrics.values():
                assert (m["namespace"], m["metricName"]) == ("AWS/ApiGateway", "Latency")
                assert m["dimensions"] == {"ApiName": "serenya-prod-api", "Stage": "v1",
                                           "Resource": route.path, "Method": route.method}


def test_a_percentile_rank_alarm_on_a_plain_metric_is_an_extended_statistic():
    metric = alarms.Metric("AWS/ApiGateway", "Latency", {}, "PR(:200)")
    assert _metric_args(metric)["extended_statistic"] == "PR(:200)" and "statistic" not in _metric_args(metric)
    assert _metric_args(dataclasses.replace(metric, statistic="p99"))["extended_statistic"] == "p99"
    assert _metric_args(dataclasses.replace(metric, statistic="SampleCount"))["statistic"] == "SampleCount"


# -- what the window expressions compute ------------------------------------------------

def evaluate(expression: str, values: dict) -> float:
    """The expression on one period's values: the subset of CloudWatch metric math the
    burn rates use (arithmetic, comparisons, FILL, IF, MAX of a list), None for no data."""
    functions = {"FILL": lambda v, fill: fill if v is None else v,
                 "IF": lambda condition, yes, no: yes if condition else no,
                 "MAX": max, "MIN": min}
    assert set(re.findall(r"[A-Z_]+(?=\()", expression)) <= set(functions), expression
    return eval(expression, {"__builtins__": {}}, {**functions, **values})  # noqa: S307 (our own text)


def windows(key: str, rate) -> list[alarms.AlarmSpec]:
    settings = load_settings(stack_config("prod").get, "prod")
    return [s for s in alarms.all_alarms(CATALOG, settings, reference_names(settings), True)
            if s.part_of == f"api-{key}-{rate.name}"]


def test_the_availability_windows_breach_exactly_above_the_burn_threshold():
    for rate in BURN_RATES:
        for spec in windows("availability", rate):
            assert isinstance(spec.source, Expression) and set(spec.source.metrics) == {"errors", "requests"}
            breaches = lambda errors, requests: evaluate(  # noqa: E731
                spec.source.expression, {"errors": errors, "requests": requests}) > spec.threshold
            limit = rate.factor(AVAILABILITY) * AVAILABILITY.budget  # 1.44% (fast), 0.6% (slow)
            requests = 100_000
            assert breaches(round(limit * requests) + 1, requests)
            assert not breaches(round(limit * requests), requests)
            assert not breaches(None, None)  # no traffic burns nothing
            # Fewer than MIN_BAD_EVENTS failures is no burn, however few the requests.
            assert not breaches(MIN_BAD_EVENTS - 1, MIN_BAD_EVENTS - 1)
            assert breaches(MIN_BAD_EVENTS, MIN_BAD_EVENTS)


def test_the_latency_windows_breach_when_the_share_over_the_target_burns_the_budget():
    route = next(r for fn in CATALOG for r in fn.routes if r.path == "/api/v1/auth/oauth-signin")
    for spec in windows(f"{alarms.route_slug(route)}-latency", FAST_BURN):
        breaches = lambda within, requests: evaluate(  # noqa: E731
            spec.source.expression, {"within": within, "requests": requests}) > spec.threshold
        # 99% objective: the fast burn is 14.4% of requests over the target.
        assert breaches(85.0, 1000) and not breaches(86.0, 1000)
        assert not breaches(None, None) and not breaches(50.0, 8)  # 4 slow requests: not enough to page


# -- the catalog refuses nonsense --------------------------------------------------------

@pytest.mark.parametrize("target", [1.0, 1.5, 0.0, -0.2])
def test_validate_refuses_objectives_without_a_budget_or_promise(target):
    assert any("strictly between 0 and 1" in p for p in validate(CATALOG, Objective(target)))
    route = Route("GET", "/api/v1/x", latency_p99_ms=100, latency_objective=Objective(target))
    assert any("latency: objective" in p for p in validate((Function("x", "x", routes=(route,)),)))


def test_validate_refuses_bad_windows_and_targets():
    assert any("window of 0 days" in p for p in validate(CATALOG, Objective(0.999, window_days=0)))
    route = Route("GET", "/api/v1/x", latency_p99_ms=0)
    assert any("latency target must be positive" in p for p in validate((Function("x", "x", routes=(route,)),)))
    assert validate(CATALOG) == []


def test_an_objective_too_low_to_burn_fast_is_refused_by_name():
    """14.4 times a 10% budget is more than every request: such an alarm could never fire."""
    settings = load_settings(stack_config("dev").get, "dev")
    slow = Route("GET", "/api/v1/x", latency_p99_ms=100, latency_objective=Objective(0.9))
    with pytest.raises(ValueError, match="too low for burn-rate alerting"):
        alarms.objective_alarms((Function("x", "x", routes=(slow,)),), reference_names(settings))


# -- the executive dashboard's error budgets --------------------------------------------

def test_the_executive_dashboard_shows_every_objectives_budget_left(stack_run):
    body = next(json.loads(d.inputs["dashboardBody"]) for d in stack_run.mocks.of_type(
        "aws:cloudwatch/dashboard:Dashboard") if d.inputs["dashboardName"].endswith("-executive"))
    budgets = [w["properties"] for w in body["widgets"] if w["properties"].get("view") == "singleValue"]
    assert len(budgets) == len(objectives())
    for props, (key, target, days) in zip(budgets, objectives()):
        assert props["setPeriodToTimeRange"] is True and props["start"] == f"-P{days}D"
        assert props["region"] == stack_run.settings.region and f"{target:.2%}" in props["title"]
        *hidden, (expression,) = props["metrics"]
        ids = {m[-1]["id"] for m in hidden}
        assert all(m[-1]["visible"] is False for m in hidden)
        assert expression["expression"].endswith(f"/ {1 - target:g})")
        assert set(re.findall(r"\b[a-z]\w*\b", expression["expression"])) <= ids
        if key == "availability":
            left = evaluate(expression["expression"], {"errors": 50, "requests": 100_000})
            assert left == pytest.approx(50.0)  # half of a 0.1% budget spent
