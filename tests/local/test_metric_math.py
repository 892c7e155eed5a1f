"""Metric math as CloudWatch documents it, on the documented examples:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html"""

import math

import pytest

from local import metric_math
from local.metric_math import ExpressionError, TimeSeries, evaluate, parse
from local.program import run_program

GRID = [0.0, 60.0, 120.0, 180.0, 240.0]


def series(*values):
    """A time series over GRID; None is a missing datapoint."""
    return {t: float(v) for t, v in zip(GRID, values) if v is not None}


def run(expression, quotas=None, **metrics):
    result = evaluate(parse(expression), GRID, fetch=lambda i: metrics[i], ids=list(metrics),
                      quota_of=lambda i: (quotas or {}).get(i))
    if isinstance(result, TimeSeries):
        return [result.points.get(t) for t in GRID]
    return result


def test_comparison_and_logical_operators_treat_a_missing_value_as_zero():
    # The page's table: metric1 [30, 20, 0, 0], metric2 [20, -, 20, -].
    m = {"metric1": series(30, 20, 0, 0), "metric2": series(20, None, 20, None)}
    assert run("(metric1 < metric2)", **m)[:4] == [0, 0, 1, 0]
    assert run("(metric1 >= 30)", **m)[:4] == [1, 0, 0, 0]
    assert run("(metric1 > 15 AND metric2 > 15)", **m)[:4] == [1, 0, 0, 0]
    assert run("metric1 > 15 && metric2 > 15", **m)[:4] == [1, 0, 0, 0]
    assert run("metric1 == 0 || metric2 == 20", **m)[:4] == [1, 0, 1, 1]


def test_if_follows_the_documented_tables():
    m = {"metric1": series(1, 1, 0, 0, None), "metric2": series(30, None, 0, 0, 30),
         "metric3": series(0, 0, 20, None, 20)}
    assert run("IF(metric1, metric2, metric3)", **m) == [30, 0, 20, None, None]
    assert run("IF(metric1, 5, metric3)", **m) == [5, 5, 20, None, None]
    assert run("IF(metric1, metric2, 5)", **m) == [30, 0, 5, 5, None]
    assert run("IF(metric1, metric2)", **m) == [30, 0, None, None, None]
    assert run("IF(metric2 > 10, 1, 0)", **m) == [1, None, 0, 0, 1]
    assert run("IF(1, metric2, metric3)", **m) == [30, None, 0, 0, 30]


def test_arithmetic_treats_missing_as_zero_and_drops_divisions_by_zero():
    m = {"a": series(10, 4, None, 6, None), "b": series(2, None, 3, 0, None)}
    assert run("a - b", **m) == [8, 4, -3, 6, None]
    assert run("a / b", **m) == [5, None, 0, None, None]  # 4/0 and 6/0 dropped, 0/3 kept
    assert run("-a * 2 + 1", **m) == [-19, -7, None, -11, None]
    assert run("2 ^ 3 ^ 2 + a * 0", **m)[0] == 512  # ^ binds right to left
    # Where b is missing, MAX([b, 1]) is missing too, so counts as 0: the division drops it.
    assert run("100 * (a - b) / MAX([b, 1])", **m) == [400, None, -100, 600, None]


def test_fill_fills_every_period_of_the_query():
    m = {"m": series(None, 5, None, None, 9)}
    assert run("FILL(m, 0)", **m) == [0, 5, 0, 0, 9]
    assert run("FILL(m, REPEAT)", **m) == [None, 5, 5, 5, 9]
    assert run("FILL(m, LINEAR)", **m) == [None, 5, pytest.approx(6 + 1 / 3), pytest.approx(7 + 2 / 3), 9]
    assert run("FILL(m, MAX(m))", **m) == [9, 5, 9, 9, 9]
    # The authorizer's errors alarm: refusals subtracted, and a period without any refusal is 0.
    e = {"errors": series(3, 12, None, 0, None), "rejections": series(3, None, None, None, None)}
    assert run("errors - FILL(rejections, 0)", **e) == [0, 12, 0, 0, 0]


def test_functions_of_a_series_give_scalars_and_of_an_array_give_series():
    m = {"a": series(1, -4, None, 3, 2), "b": series(5, None, None, 1, None)}
    assert run("a - MIN(a)", **m) == [5, 0, None, 7, 6]
    assert run("a / MAX(a)", **m)[3] == 1
    assert run("a * 0 + SUM(a)", **m)[0] == 2
    assert run("a * 0 + AVG(a)", **m)[0] == 0.5
    assert run("SUM([a, b])", **m) == [6, -4, None, 4, 2]
    assert run("AVG([a, b])", **m) == [3, -2, None, 2, 1]       # missing counts as 0
    assert run("MAX([a, b])", **m) == [5, -4, None, 3, 2]       # missing is ignored
    assert run("MIN([a, b, 0])", **m) == [0, -4, None, 0, 0]
    assert run("ABS(a)", **m) == [1, 4, None, 3, 2]
    assert run("DATAPOINT_COUNT(a) + a * 0", **m)[0] == 4
    assert run("SUM(METRICS())", **m) == [6, -4, None, 4, 2]
    assert run("SUM(METRICS(\"b\"))", **m) == [5, None, None, 1, None]
    assert run("TIME_SERIES(7)") == [7] * 5


def test_service_quota_gives_the_quota_at_the_usage_metric_timestamps():
    m = {"usage": series(600, None, 1200, None, None)}
    assert run("100 * usage / SERVICE_QUOTA(usage) / 60", quotas={"usage": 1000}, **m)[:3] == [1.0, None, 2.0]
    with pytest.raises(ExpressionError, match="no quota"):
        run("usage / SERVICE_QUOTA(usage)", **m)


@pytest.mark.parametrize("expression, problem", [
    ("errors - FILL(x, 0", "expected '\\)'"),
    ("NOPE(m)", "unknown metric math function"),
    ("Errors + 1", "lowercase"),
    ("a + + ", "ends too early"),
    ("a b", "unexpected"),
    ("a $ b", "cannot read"),
])
def test_what_cloudwatch_would_refuse_is_refused_when_parsed(expression, problem):
    with pytest.raises(ExpressionError, match=problem):
        parse(expression)


def test_an_unknown_id_is_an_error_not_a_missing_series():
    with pytest.raises(KeyError):
        run("a + nothere", a=series(1))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_expression_the_program_declares_is_understood(stack):
    run_ = run_program(stack)
    expressions = [q["expression"] for a in run_.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                   for q in a.inputs.get("metricQueries") or [] if q.get("expression")]
    assert expressions
    for text in expressions:
        tree = parse(text)
        ids = metric_math.references(tree)
        result = evaluate(tree, GRID, fetch=lambda i: series(1, 2, None, 4, 5), ids=sorted(ids),
                          quota_of=lambda i: 10_000.0)
        assert isinstance(result, TimeSeries) and all(math.isfinite(v) for v in result.points.values())
