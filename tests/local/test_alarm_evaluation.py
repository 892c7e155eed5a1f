"""CloudWatch's alarm semantics on the local store: the tables of "How alarm state is
evaluated when data is missing", M out of N, metric math, and composite rules.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html"""

import pytest

from local.alarms import (ALARM, INSUFFICIENT, OK, AlarmEngine, CompositeAlarm, composite_alarm, decide,
                          evaluate_rule, metric_alarm, parse_rule)
from local.metric_store import Clock, MetricStore


def points(text):
    """The page's notation, oldest first: 0 not breaching, X breaching, - missing."""
    return [{"0": False, "X": True, "-": None}[c] for c in text.split()]


RETAIN = None
# (datapoints, MISSING, IGNORE, BREACHING, NOT BREACHING), Datapoints to Alarm = Evaluation Periods = 3.
THREE_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT, RETAIN, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", INSUFFICIENT, RETAIN, ALARM, OK),
    ("X - - - -", ALARM, RETAIN, ALARM, OK),
]
# Datapoints to Alarm 2, Evaluation Periods 3.
TWO_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", INSUFFICIENT, RETAIN, ALARM, OK),
]


@pytest.mark.parametrize("m, rows", [(3, THREE_OF_THREE), (2, TWO_OF_THREE)], ids=["3-of-3", "2-of-3"])
def test_the_documented_missing_data_tables(m, rows):
    for data, *expected in rows:
        got = [decide(points(data), 3, m, how) for how in ("missing", "ignore", "breaching", "notBreaching")]
        assert got == expected, data


def test_composite_rules():
    states = {"a": ALARM, "b": OK, "c": INSUFFICIENT, "serenya-dev-x": ALARM}
    state = states.__getitem__
    assert evaluate_rule(parse_rule('ALARM("a") OR ALARM("b")'), state)
    assert not evaluate_rule(parse_rule("ALARM(a) AND ALARM(b)"), state)
    assert evaluate_rule(parse_rule("ALARM(a) AND NOT ALARM(b)"), state)
    assert evaluate_rule(parse_rule("OK(b) AND INSUFFICIENT_DATA(c)"), state)
    assert evaluate_rule(parse_rule("ALARM(b) AND ALARM(c) OR ALARM(a)"), state)   # AND binds tighter
    assert not evaluate_rule(parse_rule("ALARM(b) AND (ALARM(c) OR ALARM(a))"), state)
    assert evaluate_rule(parse_rule("TRUE"), state) and not evaluate_rule(parse_rule("FALSE"), state)
    assert evaluate_rule(parse_rule("NOT NOT ALARM(a)"), state)
    assert evaluate_rule(parse_rule("AT_LEAST(2, ALARM, (a, b, serenya-dev-x))"), state)
    assert not evaluate_rule(parse_rule("AT_LEAST(50%, OK, (a, c, serenya-dev-x))"), state)
    assert evaluate_rule(parse_rule("AT_LEAST(2, NOT OK, (a, b, c))"), state)
    assert evaluate_rule(parse_rule(
        'ALARM("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:serenya-dev-x")'),
        lambda n: states[n.split(":alarm:")[-1]])
    for broken in ("ALARM(a", "ALARM(a) AND", "SOMETIMES(a)", "ALARM(a) ALARM(b)"):
        with pytest.raises(ValueError):
            parse_rule(broken)


def alarm_inputs(name, **overrides):
    inputs = {"name": name, "namespace": "AWS/Lambda", "metricName": "Errors", "dimensions": {"FunctionName": "f"},
              "statistic": "Sum", "period": 300.0, "evaluationPeriods": 1.0, "datapointsToAlarm": 1.0,
              "threshold": 10.0, "comparisonOperator": "GreaterThanThreshold", "treatMissingData": "notBreaching",
              "tags": {"severity": "critical", "runbook": name}}
    inputs.update(overrides)
    return inputs


def engine(*alarms, rule=None):
    clock = Clock()
    clock.set(600.0)
    store = MetricStore(scale=10 / 300, clock=clock)
    metric_alarms = tuple(metric_alarm(a) for a in alarms)
    page = composite_alarm({"alarmName": "page", "alarmRule": rule or " OR ".join(
        f'ALARM("{a.name}")' for a in metric_alarms if a.severity == "critical")})
    return AlarmEngine(store, metric_alarms, (page,), "page"), store


def tick(store, engine_, seconds):
    store.clock.advance(seconds)
    engine_.evaluate_due()
    return {name: s.value for name, s in engine_.states.items()}


def test_a_sum_alarm_fires_within_its_scaled_period_and_clears_after_it():
    """It clears with the next datapoint below the threshold, or, when data stops, once
    the breaching one has left the evaluation range: "CloudWatch alarms may repeatedly
    re-evaluate the last set of data points for a period of time after the metric has
    stopped flowing"."""
    e, store = engine(alarm_inputs("errors"))
    assert tick(store, e, 0)["errors"] == OK  # no data, notBreaching
    for _ in range(11):
        store.put("AWS/Lambda", "Errors", {"FunctionName": "f"}, 1)
    states = tick(store, e, store.resolution)  # the next evaluation, one CloudWatch minute later
    assert states == {"errors": ALARM, "page": ALARM}
    assert "11" in e.states["errors"].reason
    assert tick(store, e, store.local_seconds(240))["errors"] == ALARM  # still inside the 300 s period
    store.put("AWS/Lambda", "Errors", {"FunctionName": "f"}, 0)  # the next period: invocations without errors
    assert tick(store, e, store.local_seconds(120)) == {"errors": OK, "page": OK}
    for _ in range(11):
        store.put("AWS/Lambda", "Errors", {"FunctionName": "f"}, 1)
    assert tick(store, e, store.resolution)["errors"] == ALARM
    assert tick(store, e, store.local_seconds(600))["errors"] == ALARM  # no data since: re-evaluated
    assert tick(store, e, store.local_seconds(300))["errors"] == OK     # out of the 3-period range


def test_an_m_out_of_n_percentile_alarm_needs_m_breaching_periods():
    e, store = engine(alarm_inputs("slow", metricName="Duration", statistic=None, extendedStatistic="p99",
                                   evaluationPeriods=3.0, datapointsToAlarm=2.0, threshold=1000.0,
                                   tags={"severity": "warning"}), rule="FALSE")
    tick(store, e, 0)
    for period_values in ([900] * 50, [5000] + [900] * 99, [900] * 200 + [4000] * 3):
        for v in period_values:
            store.put("AWS/Lambda", "Duration", {"FunctionName": "f"}, v)
        state = tick(store, e, store.local_seconds(300))["slow"]
    # p99 per period: 900, 900 (1 slow of 100), 4000 (3 of 203): one breaching period of 3.
    assert state == OK
    for v in [900] * 10 + [3000]:
        store.put("AWS/Lambda", "Duration", {"FunctionName": "f"}, v)
    assert tick(store, e, store.local_seconds(300))["slow"] == ALARM


def test_metric_math_alarm_subtracts_expected_errors():
    queries = [{"id": "result", "expression": "errors - FILL(rejections, 0)", "label": "x", "returnData": True},
               {"id": "errors", "returnData": False, "metric": {"namespace": "AWS/Lambda", "metricName": "Errors",
                                                                "dimensions": {"FunctionName": "authorizer"},
                                                                "period": 300.0, "stat": "Sum"}},
               {"id": "rejections", "returnData": False, "metric": {
                   "namespace": "Serenya", "metricName": "AuthorizerRejections",
                   "dimensions": {"service": "serenya", "stack": "dev", "function": "authorizer"},
                   "period": 300.0, "stat": "Sum"}}]
    spec = alarm_inputs("authorizer-errors", metricQueries=queries)
    for key in ("namespace", "metricName", "dimensions", "statistic", "period"):
        spec.pop(key)
    e, store = engine(spec)
    for _ in range(100):  # 100 refused tokens: 100 errors, all of them refusals
        store.put("AWS/Lambda", "Errors", {"FunctionName": "authorizer"}, 1)
        store.put("Serenya", "AuthorizerRejections", {"function": "authorizer", "stack": "dev", "service": "serenya"}, 1)
    assert tick(store, e, store.resolution)["authorizer-errors"] == OK
    for _ in range(11):  # then the table fails under it
        store.put("AWS/Lambda", "Errors", {"FunctionName": "authorizer"}, 1)
    assert tick(store, e, store.resolution)["page"] == ALARM


def test_a_3600_second_period_lasts_120_local_seconds():
    e, store = engine(alarm_inputs("hourly", period=3600.0, threshold=0.0))
    store.put("AWS/Lambda", "Errors", {"FunctionName": "f"}, 1)              # at 600
    assert tick(store, e, store.resolution)["hourly"] == ALARM
    store.clock.set(710.0)
    store.put("AWS/Lambda", "Errors", {"FunctionName": "f"}, 0)
    assert tick(store, e, store.resolution)["hourly"] == ALARM  # [592, 712): the error's hour still
    store.clock.set(830.0)
    store.put("AWS/Lambda", "Errors", {"FunctionName": "f"}, 0)
    assert tick(store, e, store.resolution)["hourly"] == OK     # [712, 832): an hour without errors


def test_definitions_the_evaluator_cannot_honour_are_refused_when_loaded():
    with pytest.raises(ValueError, match="anomaly"):
        metric_alarm(alarm_inputs("x", thresholdMetricId="ad1"))
    with pytest.raises(ValueError, match="unknown CloudWatch statistic"):
        metric_alarm(alarm_inputs("x", statistic="Median"))
    with pytest.raises(ValueError, match="datapoints to alarm"):
        metric_alarm(alarm_inputs("x", datapointsToAlarm=4.0))
    with pytest.raises(ValueError, match="does not have"):
        AlarmEngine(MetricStore(), (metric_alarm(alarm_inputs("x")),),
                    (CompositeAlarm("page", 'ALARM("nope")', None, ""),), "page")


def test_the_programs_latency_burn_fires_on_slow_requests_only(dev_run):
    """One route's fast-burn windows and their AND composite, as the dev program renders
    them, on recorded API Gateway latencies: PR(:target) is the share at or under the
    target, so fast answers burn nothing and slow ones burn both windows."""
    signal = "process-status-get-latency-fast-burn"
    windows = tuple(metric_alarm(r.inputs) for r in dev_run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                    if signal in r.inputs["name"])
    burn = next(composite_alarm(r.inputs) for r in dev_run.mocks.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")
                if r.inputs["alarmName"].endswith(signal))
    assert len(windows) == 2  # 1 h and 5 min
    query = next(q["metric"] for q in next(r.inputs for r in dev_run.mocks.of_type(
        "aws:cloudwatch/metricAlarm:MetricAlarm") if signal in r.inputs["name"])["metricQueries"]
        if q.get("metric") and q["metric"]["stat"].startswith("PR("))
    target = float(query["stat"][len("PR(:"):-1])
    clock = Clock()
    clock.set(600.0)
    store = MetricStore(scale=10 / 300, clock=clock)
    e = AlarmEngine(store, windows, (burn,), burn.name)

    def requests(latency_ms, n=40):
        for _ in range(n):
            store.put("AWS/ApiGateway", "Latency", query["dimensions"], latency_ms)
        return tick(store, e, store.resolution)

    states = requests(target / 2)
    assert {states[w.name] for w in windows} == {OK} and states[burn.name] == OK
    states = requests(target * 3, n=4)  # 4 slow of 44: a 9% share, but under MIN_BAD_EVENTS
    assert states[burn.name] == OK
    states = requests(target * 3)       # 44 slow of 84 in both windows: far over 14.4x a 1% budget
    assert {states[w.name] for w in windows} == {ALARM} and states[burn.name] == ALARM
