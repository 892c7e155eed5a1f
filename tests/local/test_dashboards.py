"""The dashboards, evaluated on the local metric store: the metrics array as CloudWatch
reads it, SEARCH, each widget kind, and every widget of the deployed bodies.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Metric-Widget-Structure.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html"""

import json

import pytest

from components.runbooks import COMPOSITE
from local import alarms as local_alarms
from local.alarms import ALARM, INSUFFICIENT, OK, AlarmEngine, composite_alarm, metric_alarm
from local.dashboards import Dashboards, bodies_of, routes
from local.metric_search import SearchError, atoms, find_calls, matches, parse, partial_match
from local.metric_store import Clock, MetricStore
from local.plugins import LocalRequest
from local.plugins.observability import service_quota
from local.widget_metrics import ExpressionEntry, MetricEntry, MetricsArrayError, resolve

SCALE = 10 / 300
DAY = 86_400 * SCALE          # a CloudWatch day in local seconds (2880)
MIDDAY = 1000 * DAY + DAY / 2  # the clock of these tests: half a (local) day after a day starts
ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:"


# -- the metrics array -------------------------------------------------------------------------

def values(entries):
    return [e.values if isinstance(e, MetricEntry) else e.expression for e in entries]


def test_the_documented_dot_shorthand_repeats_the_previous_metric_position_by_position():
    # The fourth example of "Format for Each Metric in the Array of Metrics".
    entries = resolve([["AWS/EC2", "DiskReadBytes", "InstanceId", "i-01234567890123456"],
                       [".", ".", ".", "i-abc"], [".", ".", ".", "i-123"]])
    assert values(entries) == [["AWS/EC2", "DiskReadBytes", "InstanceId", "i-01234567890123456"],
                               ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-abc"],
                               ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-123"]]
    assert [dict(e.dimensions) for e in entries][2] == {"InstanceId": "i-123"}
    other = resolve([["AWS/Lambda", "Duration", "FunctionName", "fn"], [".", "Errors", ".", "."]])
    assert values(other)[1] == ["AWS/Lambda", "Errors", "FunctionName", "fn"]


def test_the_ellipsis_takes_every_value_not_given_and_options_are_never_inherited():
    entries = resolve([["AWS/EC2", "CPUUtilization", "InstanceId", "i-1", {"stat": "Maximum", "label": "one"}],
                       ["...", "i-2"], ["AWS/EC2", "...", "i-3"], ["...", {"color": "#ff0000"}]])
    assert values(entries) == [["AWS/EC2", "CPUUtilization", "InstanceId", f"i-{n}"] for n in (1, 2, 3, 3)]
    assert [e.options for e in entries] == [{"stat": "Maximum", "label": "one"}, {}, {}, {"color": "#ff0000"}]
    # Expressions are not metrics to repeat: the shorthand reads the last metric.
    mixed = resolve([["NS", "A", "D", "x"], [{"expression": "m1 * 2"}], [".", "B", ".", "y"]])
    assert values(mixed)[2] == ["NS", "B", "D", "y"]


@pytest.mark.parametrize("metrics", [
    [[".", "CPUUtilization"]],                          # nothing before to repeat
    [["...", "i-1"]],
    [["NS", "M", "D", "x"], ["...", "a", "b", "c", "d", "e"]],  # more values than the previous metric
    [["NS", "M", "D", "x"], ["...", "...", "x"]],
    [["NS", "M", "D"]],                                # a dimension name without its value
    [["NS", "M", "D", "x", "D", "y"]],
    [["NS"]], [[]], ["NS"], "metrics",
    [[{"label": "no expression"}]],
    [["NS", "M", {"id": "m1"}], ["NS", "N", {"id": "m1"}]],  # ids are unique
    [["NS", "M", {"id": "M1"}]],                        # and start with a lowercase letter
])
def test_entries_cloudwatch_refuses_are_refused(metrics):
    with pytest.raises(MetricsArrayError):
        resolve(metrics)


def test_entries_get_the_ids_the_console_shows():
    entries = resolve([["NS", "A"], ["NS", "B", {"id": "m3"}], [{"expression": "m1 + m3"}], ["NS", "C"]])
    assert [e.id for e in entries] == ["m1", "m3", "e3", "m4"]
    assert isinstance(entries[2], ExpressionEntry) and entries[2].expression == "m1 + m3"


# -- SEARCH ------------------------------------------------------------------------------------

def test_tokens_and_partial_matches_are_the_documented_ones():
    assert atoms("CustomCount1") == [["Custom", "Count", "1"]]
    assert atoms("SDBFailure") == [["SDB", "Failure"]]
    assert atoms("Project2-trial333") == [["Project", "2"], ["trial", "333"]]
    for term in ("count", "Count", "COUNT", "CustomCount", "Count1"):
        assert partial_match(term, "CustomCount1"), term
    for term in ("couNT", "customcount", "count1", "Custom1"):
        assert not partial_match(term, "CustomCount1"), term
    for term in ("network/errors", "network+errors", "network-errors", "Network_Errors"):
        assert partial_match(term, "Network-Errors-2") and partial_match(term, "NetworkErrors2"), term


def test_search_schemas_exact_terms_properties_and_boolean_operators():
    lambdas = [("AWS/Lambda", "Errors", {"FunctionName": "ProjectA-api"}),
               ("AWS/Lambda", "Invocations", {"FunctionName": "ProjectB-api"}),
               ("AWS/Lambda", "Invocations", {"FunctionName": "other"}),
               ("AWS/Lambda", "Errors", {"FunctionName": "other", "Resource": "other:live"}),
               ("Custom", "Errors", {})]

    def found(query):
        search = parse(query)
        return [(m[1], m[2].get("FunctionName")) for m in lambdas if matches(search, *m)]

    # The documented nested grouping: Errors of all functions, Invocations of ProjectA or ProjectB.
    assert found(' {AWS/Lambda,FunctionName} MetricName="Errors" OR (MetricName="Invocations" AND '
                 '(ProjectA OR ProjectB)) ') == [("Errors", "ProjectA-api"), ("Invocations", "ProjectB-api")]
    # The schema keeps metrics with exactly its dimensions.
    assert found("{AWS/Lambda,FunctionName,Resource}") == [("Errors", "other")]
    assert found("{Custom}") == [("Errors", None)]
    assert found(' "Errors" NOT Namespace=AWS ') == [("Errors", None)]
    assert found(" FunctionName=project ") == [("Errors", "ProjectA-api"), ("Invocations", "ProjectB-api")]
    assert found(' FunctionName="ProjectA" ') == []        # exact matches are whole values
    assert found(' {AWS/Lambda,FunctionName} errors invocations ') == []  # AND is implied
    special = parse(r' {"My Namespace", "Dimension@Name"}, "Custom:Name[Special_Characters" ')
    assert (special.namespace, special.dimensions) == ("My Namespace", ("Dimension@Name",))
    assert matches(special, "My Namespace", "Custom:Name[Special_Characters", {"Dimension@Name": "v"})
    for broken in ("", "(a", "a)", "{AWS/EC2", "NOT", "a OR"):
        with pytest.raises(SearchError):
            parse(broken)


def test_search_calls_are_found_inside_metric_math():
    text = "SUM(SEARCH('{AWS/Lambda,FunctionName} MetricName=\"Errors\"', 'Sum', 300)) / 2"
    [(start, end, search)] = find_calls(text)
    assert text[start:end].startswith("SEARCH(") and text[end:] == ") / 2"
    assert (search.statistic, search.period, search.dimensions) == ("Sum", 300, ("FunctionName",))
    with pytest.raises(SearchError):
        find_calls("SEARCH('{AWS/Lambda}', 'Sum', 90)")  # not a multiple of 60
    with pytest.raises(SearchError):
        find_calls("SEARCH('{AWS/Lambda}')")  # no statistic


# -- widgets on a driven clock -----------------------------------------------------------------

def alarm(name, **overrides):
    inputs = {"name": name, "namespace": "AWS/Lambda", "metricName": "Errors", "dimensions": {"FunctionName": "f"},
              "statistic": "Sum", "period": 300.0, "evaluationPeriods": 1.0, "datapointsToAlarm": 1.0,
              "threshold": 2.0, "comparisonOperator": "GreaterThanThreshold", "treatMissingData": "missing",
              "tags": {"severity": "critical"}}
    return metric_alarm({**inputs, **overrides})


def dashboards(*widgets, start=None):
    clock = Clock()
    clock.set(MIDDAY)
    store = MetricStore(scale=SCALE, clock=clock)
    alarms = (alarm("errors"), alarm("slow", metricName="Duration", threshold=1000.0, treatMissingData="notBreaching"))
    page = composite_alarm({"alarmName": "page", "alarmRule": 'ALARM("errors")'})
    engine = AlarmEngine(store, alarms, (page,), "page", quota=service_quota)
    body = {"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 6, "height": 6, **w} for w in widgets]}
    if start:
        body["start"] = start
    return Dashboards({"test": ("serenya-dev-test", body)}, store, engine, "eu-west-1", "dev"), store


def metric(**properties):
    return {"properties": {"region": "eu-west-1", **properties}}


def data(board, index=0):
    return board.data("test")["widgets"][index]


def put(store, name, value, ago=0.0, dims=None, namespace="AWS/Lambda", unit="Count"):
    store.put(namespace, name, dims or {"FunctionName": "f"}, value, unit, timestamp=MIDDAY - ago)


def test_a_time_series_is_the_stores_datapoints_over_the_scaled_range():
    board, store = dashboards(metric(metrics=[["AWS/Lambda", "Errors", "FunctionName", "f"],
                                              [".", "Duration", ".", ".", {"stat": "p99", "label": "p99 duration"}]],
                                     stat="Sum", period=300))
    put(store, "Errors", 2, ago=5)
    put(store, "Errors", 3, ago=5)
    put(store, "Errors", 1, ago=store.local_seconds(900))
    put(store, "Errors", 9, ago=store.local_seconds(4 * 3600))  # before the 3 h range
    store.clock.advance(0.5)
    put(store, "Errors", 4, ago=-0.5)  # just now: the period in progress is shown too
    for ms in range(1, 101):
        put(store, "Duration", ms, ago=5, unit="Milliseconds")
    widget = data(board)
    errors, duration = widget["series"]
    assert widget["view"] == "timeSeries" and not widget["empty"] and "error" not in widget
    assert errors["label"] == "Errors" and duration["label"] == "p99 duration"
    assert errors["v"] == [1.0, 5.0, 4.0]  # the last: the period that has just begun
    assert duration["v"] == [pytest.approx(99, rel=0.01)] and duration["unit"] == "Milliseconds"
    expected = store.get_metric_data("AWS/Lambda", "Errors", {"FunctionName": "f"}, "Sum", 300,
                                     MIDDAY - store.local_seconds(3 * 3600), MIDDAY + store.resolution)
    assert errors["t"] == [round(t * 1000) for t in expected.timestamps]
    assert widget["unit"] is None  # Count and Milliseconds: no one unit for the axis
    assert board.data("test")["range"]["local_s"] == pytest.approx(360)


def test_a_period_longer_than_the_range_covers_the_whole_period_holding_its_start():
    board, store = dashboards(metric(metrics=[["AWS/Lambda", "Invocations", "FunctionName", "f"]], stat="Sum",
                                     period=86_400, view="bar"))
    put(store, "Invocations", 4, ago=DAY / 2 - 10)  # today, hours before the 3 h range
    put(store, "Invocations", 1, ago=1)
    put(store, "Invocations", 7, ago=DAY / 2 + 10)  # yesterday
    [series] = data(board)["series"]
    assert series["v"][-1] == 5.0  # the bar: the latest period, today


def test_set_period_to_time_range_gives_one_value_for_the_range():
    board, store = dashboards(metric(metrics=[["AWS/Lambda", "Invocations", "FunctionName", "f"]], stat="Sum",
                                     view="singleValue", setPeriodToTimeRange=True))
    put(store, "Invocations", 2, ago=store.local_seconds(2 * 3600))
    put(store, "Invocations", 3, ago=1)
    put(store, "Invocations", 50, ago=store.local_seconds(5 * 3600))
    assert data(board)["series"][0]["v"] == [5.0]


def test_metric_math_hidden_inputs_expressions_of_expressions_and_dynamic_labels():
    board, store = dashboards(metric(metrics=[
        ["AWS/Lambda", "Errors", "FunctionName", "f", {"id": "errors", "visible": False}],
        ["AWS/Lambda", "Invocations", "FunctionName", "f", {"id": "calls", "visible": False}],
        [{"expression": "100 * errors / calls", "id": "rate", "label": "error rate (max ${MAX})"}],
        [{"expression": "rate / 100", "id": "share", "visible": False}],
        [{"expression": "IF(share > 0.3, 1, 0)", "label": "${PROP('MetricName')} over 30%"}]], stat="Sum"))
    put(store, "Errors", 1, ago=5)
    put(store, "Invocations", 4, ago=5)
    put(store, "Errors", 2, ago=store.local_seconds(600))
    put(store, "Invocations", 4, ago=store.local_seconds(600))
    rate, over = data(board)["series"]
    assert rate["v"] == [50.0, 25.0] and rate["label"] == "error rate (max 50)"
    assert over["v"] == [1.0, 0.0] and over["label"] == "${PROP('MetricName')} over 30%"  # no metric: kept as is


def test_search_results_are_one_series_each_labelled_by_what_varies():
    search = ("SEARCH('{Serenya,service,function,provider} MetricName=\"Registrations\" service=\"serenya\"', "
              "'Sum', 300)")
    board, store = dashboards(
        metric(metrics=[[{"expression": search, "id": "e1", "label": ""}]], stat="Sum", stacked=True),
        metric(metrics=[[{"expression": f"SUM({search})", "label": "all"}]], stat="Sum"))
    for provider, n in (("google", 3), ("apple", 1)):
        for _ in range(n):
            put(store, "Registrations", 1, ago=5, namespace="Serenya",
                dims={"service": "serenya", "function": "auth", "provider": provider})
    put(store, "Registrations", 1, ago=5, namespace="Serenya", dims={"service": "serenya", "function": "auth"})
    by_provider = data(board, 0)
    assert {s["label"]: s["v"] for s in by_provider["series"]} == {"auth apple": [1.0], "auth google": [3.0]}
    assert by_provider["stacked"]
    assert [s["v"] for s in data(board, 1)["series"]] == [[4.0]]


def test_alarm_annotations_draw_the_alarms_metric_and_threshold():
    board, store = dashboards(metric(annotations={"alarms": [ARN + "errors"]}))
    put(store, "Errors", 3, ago=5)
    widget = data(board)
    assert [s["v"] for s in widget["series"]] == [[3.0]]
    assert widget["annotations"]["horizontal"][0]["value"] == 2.0


def test_a_widget_without_data_says_so_and_a_broken_one_says_why():
    board, _ = dashboards(metric(metrics=[["AWS/Lambda", "Errors", "FunctionName", "f"]]),
                          metric(metrics=[["AWS/Lambda", "Errors", {"stat": "Median"}]]),
                          metric(metrics=[["AWS/Lambda", "Errors", {"period": 30}]]),
                          metric(metrics=[[{"expression": "m9 * 2"}]]),
                          metric(metrics=[[{"expression": "e1 + 1", "id": "e1"}]]),
                          metric(metrics=[[{"expression": "SUM(m1)"}]]),
                          {"type": "log", "properties": {"query": "fields @message"}},
                          metric(metrics=[["NS", "M"]], view="heatmap"))
    widgets = board.data("test")["widgets"]
    assert widgets[0]["empty"] and "error" not in widgets[0]
    assert "Median" in widgets[1]["error"]
    assert "one-minute resolution" in widgets[2]["error"]
    assert "m9" in widgets[3]["error"]
    assert "itself" in widgets[4]["error"]
    assert widgets[5]["error"]
    assert "not emulated" in widgets[6]["error"]
    assert "heatmap" in widgets[7]["error"]


def test_alarm_widgets_show_local_states_filtered_and_sorted_as_documented():
    arns = [ARN + "slow", ARN + "errors", ARN + "page"]
    board, store = dashboards({"type": "alarm", "properties": {"alarms": arns, "sortBy": "stateUpdatedTimestamp"}},
                              {"type": "alarm", "properties": {"alarms": arns}},
                              {"type": "alarm", "properties": {"alarms": arns, "states": ["ALARM"]}},
                              {"type": "alarm", "properties": {"alarms": [ARN + "nope"]}})
    put(store, "Errors", 5, ago=1)
    store.clock.advance(store.resolution)
    by_state, by_name, alarming, unknown = board.data("test")["widgets"]
    assert [(a["name"], a["state"]) for a in by_state["alarms"]] == [("errors", ALARM), ("page", ALARM),
                                                                     ("slow", OK)]
    assert [a["name"] for a in by_name["alarms"]] == ["errors", "page", "slow"]
    assert {a["name"] for a in alarming["alarms"]} == {"errors", "page"}
    assert "no such alarm" in unknown["error"]
    assert INSUFFICIENT not in {a["state"] for a in by_state["alarms"]}


def test_text_widgets_render_markdown_without_raw_html_or_script_links():
    board, _ = dashboards({"type": "text", "properties": {
        "markdown": "# Title\n<script>alert(1)</script> [ok](https://example.com) [bad](javascript:alert(1))"}})
    rendered = data(board)["html"]
    assert "<h1>Title</h1>" in rendered and '<a href="https://example.com">ok</a>' in rendered
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert 'href="javascript' not in rendered


def test_the_routes_answer_pages_data_and_errors_in_the_contract_format():
    board, _ = dashboards({"type": "text", "properties": {"markdown": "</script><script>alert(1)</script>"}})
    index, one, static = routes(board)

    def get(handler, path, query=None):
        return handler(LocalRequest("GET", path, query or {}, {}, b""))

    page = get(one, "/local/dashboards/test")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.body.count(b"<script") == 3 and b"</script><script>alert" not in page.body  # data stays data
    assert b'href="/local/dashboards/test"' in get(index, "/local/dashboards").body
    assert json.loads(get(one, "/local/dashboards/test/data").body)["name"] == "serenya-dev-test"
    for path in ("/local/dashboards/nope", "/local/dashboards/test/other"):
        missing = get(one, path)
        assert missing.status == 404 and json.loads(missing.body)["error"]["code"] == "dashboard_not_found"
    bad = get(one, "/local/dashboards/test", {"start": ["2026-01-01T00:00:00Z"]})
    assert bad.status == 400 and json.loads(bad.body)["error"]["code"] == "invalid_request"
    assert get(one, "/local/dashboards/test/data", {"start": ["-PT1H"]}).status == 200
    assert get(static, "/local/static/dashboard.js").status == 200
    assert get(static, "/local/static/../server.py").status == 404
    plotly = get(static, "/local/static/plotly.min.js")
    assert plotly.status == 200 and b"plotly.js" in plotly.body[:2000]


# -- the deployed bodies -----------------------------------------------------------------------

def deployed(run, store):
    engine = local_alarms.from_program(run.mocks.of_type, store, paging=run.settings.name(COMPOSITE),
                                       quota=service_quota)
    return Dashboards(bodies_of(run.mocks.of_type, run.settings.name()), store, engine, run.settings.region,
                      run.settings.env)


def test_every_widget_of_every_deployed_body_is_evaluated_with_and_without_data(stack_run):
    clock = Clock()
    clock.set(MIDDAY)
    store = MetricStore(scale=SCALE, clock=clock)
    board = deployed(stack_run, store)
    assert set(board.deployed) == {"executive", "operations", "security"}
    for short, (name, body) in board.deployed.items():
        assert name == stack_run.settings.name(short)
        widgets = board.data(short)["widgets"]
        assert len(widgets) == len(body["widgets"])
        assert [w for w in widgets if "error" in w] == []
        # Without data a chart is empty, unless FILL makes values of nothing (the error
        # budget: no requests spent none of it).
        for drawn, widget in zip(widgets, body["widgets"]):
            if drawn["type"] == "metric" and not drawn["empty"]:
                assert "FILL(" in json.dumps(widget["properties"]["metrics"]), drawn["title"]
    # One datapoint for every metric a body names (and the SEARCH results' dimensions).
    for _, body in board.deployed.values():
        for widget in body["widgets"]:
            for entry in resolve(widget["properties"].get("metrics", [])) if widget["type"] == "metric" else []:
                if isinstance(entry, MetricEntry):
                    store.put(entry.namespace, entry.name, dict(entry.dimensions), 1, timestamp=MIDDAY - 1)
                else:
                    for _, _, search in find_calls(entry.expression):  # math over ids has none
                        exact = {t.property: t.text for t in _terms(search.terms) if t.exact and t.property}
                        dims = {d: exact.get(d, "x") for d in search.dimensions}
                        store.put(search.namespace, exact["MetricName"], dims, 1, timestamp=MIDDAY - 1)
    for short in board.deployed:
        widgets = board.data(short)["widgets"]
        assert [w for w in widgets if "error" in w] == []
        assert [w["title"] for w in widgets if w["type"] == "metric" and w["empty"]] == [], short
    # every alarm of the region and every composite, split over widgets of at most 100, each
    # of one severity, showing those in ALARM (none here: one datapoint of 1 breaches nothing)
    named = [w["properties"]["alarms"] for w in board.bodies["operations"]["widgets"] if w["type"] == "alarm"]
    assert all(len(alarms) <= 100 for alarms in named)
    assert sum(map(len, named)) == (len([a for a in board.engine.metric_alarms if a.region is None])
                                    + len(board.engine.composites))
    for arns in named:
        assert len({board.engine.severity(arn.split(":alarm:")[1]) for arn in arns}) == 1
    shown = [w["alarms"] for w in board.data("operations")["widgets"] if w["type"] == "alarm"]
    assert all(a["state"] == ALARM for alarms in shown for a in alarms)


def _terms(node):
    from local.metric_search import BoolOp, Not, Term
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return _terms(node.operand)
    return _terms(node.left) + _terms(node.right) if isinstance(node, BoolOp) else []


def test_a_widget_may_have_its_own_relative_time_range():
    # An error budget over a longer window than the dashboard's, e.g. one day.
    board, store = dashboards(metric(metrics=[["AWS/Lambda", "Invocations", "FunctionName", "f"]], stat="Sum",
                                     view="singleValue", setPeriodToTimeRange=True, start="-P1D", end="P0D"),
                              metric(metrics=[["AWS/Lambda", "Invocations", "FunctionName", "f"]], stat="Sum",
                                     view="singleValue", setPeriodToTimeRange=True))
    put(store, "Invocations", 2, ago=store.local_seconds(20 * 3600))
    put(store, "Invocations", 3, ago=1)
    day, default = board.data("test")["widgets"]
    assert day["series"][0]["v"] == [5.0] and day["range"]["cloudwatch_s"] == 86_400
    assert default["series"][0]["v"] == [3.0] and "range" not in default
    assert board.data("test", "-PT1H")["range"]["cloudwatch_s"] == 3600


def test_a_range_the_body_gets_wrong_is_every_widgets_error_not_the_requests():
    board, _ = dashboards(metric(metrics=[["NS", "M"]]), metric(metrics=[["NS", "M"]], start="-PT30S"),
                          start="2026-01-01T00:00:00Z")
    _, one, _ = routes(board)
    answer = one(LocalRequest("GET", "/local/dashboards/test/data", {}, {}, b""))
    assert answer.status == 200
    assert all("relative time" in w["error"] for w in json.loads(answer.body)["widgets"])
    fixed = board.data("test", "-PT3H")["widgets"]
    assert "error" not in fixed[0] and "at least one minute" in fixed[1]["error"]


def test_an_error_budget_tile_is_computed_over_its_whole_window_after_an_outage(stack_run):
    # A full outage two days ago, then a few good requests in the minute in progress: the
    # tile is one value over the 30 days (as CloudWatch computes setPeriodToTimeRange), not
    # the last minute's, which alone would read an untouched 100%.
    clock = Clock()
    clock.set(MIDDAY)
    store = MetricStore(scale=SCALE, clock=clock)
    board = deployed(stack_run, store)
    body = board.bodies["executive"]
    index, widget = next((n, w) for n, w in enumerate(body["widgets"])
                         if w["properties"].get("title", "").startswith("API availability"))
    api = {m[1]: dict(zip(m[2:-1:2], m[3:-1:2])) for m in widget["properties"]["metrics"] if isinstance(m[0], str)}
    outage = MIDDAY - 2 * DAY
    for minute in range(30):
        store.put("AWS/ApiGateway", "Count", api["Count"], 10, timestamp=outage + minute * store.resolution)
        store.put("AWS/ApiGateway", "5XXError", api["5XXError"], 10, timestamp=outage + minute * store.resolution)
    store.put("AWS/ApiGateway", "Count", api["Count"], 20, timestamp=MIDDAY + 0.1)
    store.put("AWS/ApiGateway", "5XXError", api["5XXError"], 0, timestamp=MIDDAY + 0.1)
    [tile] = board.data("executive")["widgets"][index]["series"]
    assert len(tile["v"]) == 1
    assert tile["v"][0] == pytest.approx(100 * (1 - (300 / 320) / 0.001))
    assert tile["v"][0] < 0  # overspent: the objective is missed


def test_the_operations_dashboards_first_widget_lists_the_critical_alarms_in_alarm_during_a_model_fault(stack_run):
    clock = Clock()
    clock.set(MIDDAY)
    store = MetricStore(scale=SCALE, clock=clock)
    board = deployed(stack_run, store)
    first = board.data("operations")["widgets"][0]
    assert first["type"] == "alarm" and first["alarms"] == []  # a quiet stack: nothing in ALARM
    env = stack_run.settings.env
    for _ in range(8):  # every job fails: the model is unavailable
        store.put("Serenya", "ModelFailures", {"service": "serenya", "stack": env, "function": "process"}, 1,
                  timestamp=MIDDAY - 1)
    store.clock.advance(store.resolution)
    first, second = board.data("operations")["widgets"][:2]
    names = [a["name"] for a in first["alarms"]]
    assert stack_run.settings.name("process-model-failures") in names
    assert stack_run.settings.name(COMPOSITE) in names
    assert {a["state"] for a in first["alarms"]} == {ALARM} and {a["severity"] for a in first["alarms"]} == {"critical"}
    assert all(a["severity"] == "warning" for a in second["alarms"])
