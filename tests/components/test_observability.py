"""Alarms, routing, dashboards and runbooks under Pulumi mocks for both stacks."""

import ast
import dataclasses
import json
import logging
import re

import pulumi
import pytest

from components import alarms, dashboards, packaging
from components.runbooks import COMPOSITE, reference_names, render
from functions.catalog import CATALOG, Function, Route
from local.program import ROOT, run_program
from tests.conftest import SAMPLE_CATALOG

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"


@pytest.fixture
def stack(stack_run):
    return stack_run


def alarms_of(run):
    return {a.inputs["name"]: a.inputs for a in run.mocks.of_type(ALARM)}


def composites_of(run):
    return {a.inputs["alarmName"]: a.inputs for a in run.mocks.of_type(COMPOSITE_ALARM)}


def paging_alarm(run):
    return composites_of(run)[f"serenya-{run.settings.env}-{COMPOSITE}"]


def rule_names(rule):
    return set(re.findall(r'ALARM\("([^"]+)"\)', rule))


def topic_arn(run, suffix):
    return next(t.state["arn"] for t in run.mocks.of_type("aws:sns/topic:Topic")
                if t.inputs["name"] == f"serenya-{run.settings.env}-{suffix}" and "us-east-1" not in t.name)


def test_every_function_has_its_alarms(stack):
    env, found = stack.settings.env, alarms_of(stack)
    for fn in CATALOG:
        for signal in ("errors", "error-rate", "throttles", "duration-p99"):
            assert f"serenya-{env}-{fn.name}-{signal}" in found, (fn.name, signal)
        duration = found[f"serenya-{env}-{fn.name}-duration-p99"]
        assert duration["threshold"] == round(0.8 * fn.timeout_s * 1000) < fn.timeout_s * 1000
        assert duration["extendedStatistic"] == "p99"
        concurrency = found.get(f"serenya-{env}-{fn.name}-concurrency")
        reserved = stack.settings.reserved_for(fn.name)
        # Only a reservation is the function's own ceiling; the others share the account's pool.
        assert (concurrency is not None) is bool(stack.settings.detailed_alarms and reserved)
        if concurrency:
            assert concurrency["threshold"] < reserved


def test_the_original_critical_set_pages_through_one_composite(stack):
    env, found = stack.settings.env, alarms_of(stack)
    errors = found[f"serenya-{env}-auth-errors"]
    assert (errors["metricName"], errors["statistic"], errors["threshold"], errors["period"]) == \
        ("Errors", "Sum", 10, 300)
    assert found[f"serenya-{env}-api-5xx"]["threshold"] == 10
    assert "ReadThrottleEvents" in json.dumps(found[f"serenya-{env}-table-throttles"]["metricQueries"])
    assert found[f"serenya-{env}-process-model-failures"]["tags"]["severity"] == "critical"
    # Critical alarms page, except the windows of a burn rate, which page through their composite.
    critical = {n for n, a in found.items() if a["tags"]["severity"] == "critical" and "part-of" not in a["tags"]}
    critical |= {n for n, c in composites_of(stack).items() if c["tags"]["severity"] == "critical"
                 and n != f"serenya-{env}-{COMPOSITE}"}
    assert {f"serenya-{env}-api-5xx", f"serenya-{env}-table-throttles",
            f"serenya-{env}-api-availability-fast-burn"} <= critical
    composite = paging_alarm(stack)
    assert rule_names(composite["alarmRule"]) == critical
    assert " AND " not in composite["alarmRule"]
    assert composite["alarmActions"] == [topic_arn(stack, "critical")]


def raw_errors_of(alarm, function_name):
    """The ids under which an alarm reads AWS/Lambda Errors of `function_name` (\"\" for a plain metric)."""
    def is_errors(m):
        return (m.get("namespace"), m.get("metricName"), m.get("dimensions")) == \
            ("AWS/Lambda", "Errors", {"FunctionName": function_name})
    if "metricQueries" not in alarm:
        return [""] if is_errors(alarm) else []
    return [q["id"] for q in alarm["metricQueries"] if "metric" in q and is_errors(q["metric"])]


def test_refused_tokens_never_page(stack):
    """No critical alarm, so no input of the composite, counts the authorizer's raw Errors:
    each reads them only with the token rejections subtracted, same statistic and period."""
    env, found = stack.settings.env, alarms_of(stack)
    authorizer = f"serenya-{env}-authorizer"
    paging = rule_names(paging_alarm(stack)["alarmRule"])
    checked = 0
    for name, alarm in found.items():
        ids = raw_errors_of(alarm, authorizer)
        if not ids or (alarm["tags"]["severity"] != "critical" and name not in paging):
            continue
        assert "" not in ids, f"{name} pages on the authorizer's raw Errors"
        result = next(q for q in alarm["metricQueries"] if q.get("returnData"))
        rejections = next(q for q in alarm["metricQueries"]
                          if q.get("metric", {}).get("metricName") == "AuthorizerRejections")
        assert rejections["metric"]["namespace"] == "Serenya"
        assert rejections["metric"]["dimensions"] == {"service": "serenya", "stack": env, "function": "authorizer"}
        errors = next(q for q in alarm["metricQueries"] if q["id"] in ids)
        assert (rejections["metric"]["stat"], rejections["metric"]["period"]) == \
            (errors["metric"]["stat"], errors["metric"]["period"]) == ("Sum", 300)
        assert result["expression"] == f"{errors['id']} - FILL({rejections['id']}, 0)", name
        checked += 1
    assert checked == 1  # serenya-{env}-authorizer-errors, critical and in the composite
    assert f"{authorizer}-errors" in paging
    rejections_alarm = found[f"{authorizer}-authorizer-rejections"]
    assert rejections_alarm["tags"]["severity"] == "warning"
    assert f"{authorizer}-authorizer-rejections" not in paging
    assert rejections_alarm["alarmActions"] == [topic_arn(stack, "warning")]


def test_other_functions_keep_their_raw_errors_alarm(stack):
    for fn in CATALOG:
        if not any(m.function_error for m in fn.custom_metrics):
            errors = alarms_of(stack)[f"serenya-{stack.settings.env}-{fn.name}-errors"]
            assert raw_errors_of(errors, f"serenya-{stack.settings.env}-{fn.name}") == [""], fn.name


def test_expected_raises_may_not_page():
    from functions.catalog import CustomMetric, Threshold, validate

    paging = CustomMetric("Refusals", "Refusals", function_error=True,
                          alarm=Threshold(1, "i", ("a", "b", "c"), severity="critical"))
    problems = validate((Function("gate", "x", metrics=(paging,)),))
    assert any("must be a warning" in p for p in problems)
    assert validate((Function("gate", "x", metrics=(dataclasses.replace(
        paging, alarm=dataclasses.replace(paging.alarm, severity="warning")),)),)) == []


def test_every_alarm_mails_the_warning_topic_and_never_pages_alone(stack):
    warning, critical = topic_arn(stack, "warning"), topic_arn(stack, "critical")
    composites = composites_of(stack)
    for name, alarm in alarms_of(stack).items():
        if "part-of" in alarm["tags"]:  # a burn rate's window: its composite notifies
            assert alarm["alarmActions"] == alarm["okActions"] == [], name
            assert name in rule_names(composites[f"serenya-{stack.settings.env}-{alarm['tags']['part-of']}"]
                                      ["alarmRule"]), name
            continue
        assert alarm["alarmActions"] and alarm["okActions"], name
        assert critical not in alarm["alarmActions"], name
        if alarm["tags"]["severity"] != "critical" and "waf" not in name:
            assert alarm["alarmActions"] == [warning]
    for name, composite in composites.items():
        expected = critical if name.endswith(COMPOSITE) else warning
        assert composite["alarmActions"] == composite["okActions"] == [expected], name


def test_descriptions_say_what_impact_checks_runbook_and_dashboard(stack):
    runbook = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = set(re.findall(r"^## (\S+)$", runbook, re.M))
    for name, alarm in alarms_of(stack).items():
        text = alarm["alarmDescription"]
        assert len(text) <= 1024, name
        assert "Impact:" in text and "1) " in text and "3) " in text and "Dashboard: https://" in text
        anchor = re.search(r"docs/runbooks\.md#(\S+)", text)[1]
        assert anchor in anchors, name


def test_topics_are_encrypted_and_only_this_accounts_alarms_publish(stack):
    data_key = stack.mocks.one("aws:kms/key:Key", "-data").state["arn"]
    topics = stack.mocks.of_type("aws:sns/topic:Topic")
    assert {t.inputs["name"] for t in topics} == {f"serenya-{stack.settings.env}-{k}" for k in ("critical", "warning")}
    for topic in topics:
        assert topic.inputs["kmsMasterKeyId"]
        if "us-east-1" not in topic.name:
            assert topic.inputs["kmsMasterKeyId"] == data_key
    for policy in stack.mocks.of_type("aws:sns/topicPolicy:TopicPolicy"):
        statement, = json.loads(policy.inputs["policy"])["Statement"]
        assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == stack.mocks.account_id
    key_policy = json.loads(stack.mocks.one("aws:kms/key:Key", "-data").inputs["policy"])
    assert any(s["Principal"].get("Service") == "cloudwatch.amazonaws.com" for s in key_policy["Statement"])


def test_alert_email_is_subscribed_where_configured():
    for env, expected in (("dev", 0), ("prod", 3)):
        subscriptions = run_program(env).mocks.of_type("aws:sns/topicSubscription:TopicSubscription")
        assert len(subscriptions) == expected
        assert all(s.inputs["endpoint"] == "alerts@serenya.health" for s in subscriptions)


def test_a_stack_without_alert_email_warns_that_nobody_reads_its_alarms(caplog, fake_code):
    """Under Pulumi's mocks the engine's warnings reach Python logging (what `pulumi preview`
    prints as `warning:`). The alarms fire either way: without a subscriber they go unheard."""
    from components.config import stack_config

    def warnings(config) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            run_program("dev", catalog=SAMPLE_CATALOG, config=config)
        return [r.getMessage() for r in caplog.records if "serenya:alertEmail" in r.getMessage()]

    dev = stack_config("dev")
    assert "serenya:alertEmail" not in dev
    warned, = warnings(dev)
    assert "serenya-dev-critical" in warned and "serenya-dev-warning" in warned and "nobody reads" in warned
    assert "set serenya:alertEmail in Pulumi.dev.yaml" in warned
    assert warnings({**dev, "serenya:alertEmail": "oncall@serenya.health"}) == []


def test_prod_watches_the_latency_targets(stack):
    found = alarms_of(stack)
    targets = {("POST", "/api/v1/auth/oauth-signin"): 200, ("POST", "/api/v1/process/upload"): 500,
               ("GET", "/api/v1/process/status/{job_id}"): 100, ("GET", "/api/v1/process/result/{job_id}"): 300}
    latency = {(a["dimensions"]["Method"], a["dimensions"]["Resource"]): a["threshold"]
               for a in found.values() if a.get("dimensions", {}).get("Resource")}
    assert latency == (targets if stack.settings.detailed_alarms else {})


# -- dashboards -----------------------------------------------------------------------

def bodies(run):
    return {d.inputs["dashboardName"].rsplit("-", 1)[1]: json.loads(d.inputs["dashboardBody"])
            for d in run.mocks.of_type("aws:cloudwatch/dashboard:Dashboard")}


def test_three_dashboards_within_cloudwatch_limits(stack):
    found = bodies(stack)
    assert set(found) == {"executive", "operations", "security"}
    for body in found.values():
        assert len(body["widgets"]) <= dashboards.LIMITS["widgets"]
        assert dashboards.metric_count(body) <= dashboards.LIMITS["metrics"]
        assert all(w["x"] + w["width"] <= 24 and w["width"] > 0 for w in body["widgets"])
        assert any("Generated" in w["properties"].get("markdown", "") for w in body["widgets"][:3])
    alarm_widgets = [w["properties"]["alarms"] for w in found["operations"]["widgets"] if w["type"] == "alarm"]
    assert all(len(alarms) <= 100 for alarms in alarm_widgets)  # CloudWatch's limit per alarm widget
    regional = [a for a in stack.mocks.of_type(ALARM) if not a.inputs["name"].endswith("-waf-blocked")]
    assert sum(map(len, alarm_widgets)) == len(regional) + len(composites_of(stack))  # and the composites


def test_the_operations_dashboard_opens_with_the_alarms_in_alarm_by_severity(stack):
    widgets = bodies(stack)["operations"]["widgets"]
    first, second = widgets[0], widgets[1]
    severity = {**{a["name"]: a["tags"]["severity"] for a in alarms_of(stack).values()},
                **{c["alarmName"]: c["tags"]["severity"] for c in composites_of(stack).values()}}
    for widget, wanted in ((first, "critical"), (second, "warning")):
        props = widget["properties"]
        assert widget["type"] == "alarm" and (widget["x"], widget["width"]) == (0, 24)  # whole names
        assert props["states"] == ["ALARM"] and props["sortBy"] == "stateUpdatedTimestamp"
        assert props["title"].lower().startswith(wanted)
        assert {severity[arn.split(":alarm:")[1]] for arn in props["alarms"]} == {wanted}
    assert paging_alarm(stack)["alarmName"] in {a.split(":alarm:")[1] for a in first["properties"]["alarms"]}


def test_the_operations_dashboard_has_a_row_per_journey_then_every_function(stack):
    widgets = bodies(stack)["operations"]["widgets"]
    titles = [w["properties"].get("title", "") for w in widgets]
    rows = {}
    for journey, _ in dashboards.JOURNEYS:
        success = titles.index(f"{journey}: success rate (objective 99.9%)")
        latency = widgets[success + 1]
        assert widgets[success]["y"] == latency["y"] and latency["properties"]["title"].startswith(journey)
        rows[journey] = widgets[success]["y"]
    assert list(rows.values()) == sorted(set(rows.values()))  # one row each, in order, right below the alarms
    # Per-function detail: every function on each, one series per function labelled by it.
    for title in ("Invocations by function", "Duration p99 by function (ms)"):
        metrics = widgets[titles.index(title)]["properties"]["metrics"]
        assert [m[-1]["label"].split(" ")[0] for m in metrics] == [fn.name for fn in CATALOG]
        assert [m[3] for m in metrics] == [stack.settings.name(fn.name) for fn in CATALOG]
    # No legend repeats one label: each series says which of its kind it is.
    for widget in widgets:
        labels = [m[-1].get("label") for m in widget["properties"].get("metrics", [])
                  if isinstance(m[-1], dict) and m[-1].get("visible", True)]
        assert None not in labels and len(labels) == len(set(labels)), widget["properties"]["title"]
    assert dashboards.widget_titles(bodies(stack)["operations"]) == {t for t in titles if t}


def _shown(widgets):
    """(namespace, name, dimensions) of every metric the widgets read, and their SEARCH texts."""
    shown, searches = set(), []
    for widget in widgets:
        for entry in widget["properties"].get("metrics", []) if widget["type"] == "metric" else []:
            if isinstance(entry[0], dict):
                searches.append(entry[0]["expression"])
                continue
            values = [x for x in entry if isinstance(x, str)]
            shown.add((values[0], values[1], tuple(sorted(zip(values[2::2], values[3::2])))))
    return shown, searches


def test_every_metric_a_critical_alarm_watches_is_on_the_operations_dashboard(stack):
    names = reference_names(stack.settings)
    shown, searches = _shown(bodies(stack)["operations"]["widgets"])
    specs = [s for s in alarms.all_alarms(CATALOG, stack.settings, names, stack.settings.detailed_alarms)
             if s.severity == alarms.CRITICAL]
    watched = set()
    for spec in specs:
        for m in [spec.source] if isinstance(spec.source, alarms.Metric) else spec.source.metrics.values():
            watched.add((m.namespace, m.name, tuple(sorted((k, str(v)) for k, v in m.dimensions.items()))))
    assert ("AWS/DynamoDB", "SystemErrors", (("Operation", "GetItem"), ("TableName", names.table))) in watched
    missing = {w for w in watched if w not in shown
               and not any(f"{{{w[0]}," in s and f'MetricName="{w[1]}"' in s for s in searches)}
    assert missing == set()


def declared_streams(catalog):
    streams = set()
    for fn in catalog:
        for metric in fn.custom_metrics:
            streams.add((metric.name, ("service", "stack", "function")))
            if metric.breakdown:
                streams.add((metric.name, ("service", "stack", "function", *metric.breakdown)))
    return streams


def test_dashboards_query_exactly_what_the_functions_emit(stack):
    queried = set().union(*(dashboards.custom_queries(b) for b in bodies(stack).values()))
    assert queried and queried <= declared_streams(CATALOG)


def emitted_in_code() -> dict[str, set[tuple[str, tuple[str, ...]]]]:
    """(metric, breakdown keys) of every `count(...)` call, by function folder."""
    found: dict[str, set] = {}
    for path in (ROOT / "functions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "count" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                folder = path.relative_to(ROOT / "functions").parts[0]
                found.setdefault(folder, set()).add((node.args[0].value, tuple(k.arg for k in node.keywords)))
    return found


def test_the_catalog_declares_every_metric_the_code_emits():
    code = emitted_in_code()
    for fn in CATALOG:
        in_code = code.get(fn.name, set()) | (code["common"] if fn.routes else set())
        declared = {(m.name, m.breakdown) for m in fn.custom_metrics}
        assert in_code == declared, fn.name


# -- runbooks and growth --------------------------------------------------------------

def _prod_settings():
    from components.config import load_settings, stack_config
    return load_settings(stack_config("prod").get, "prod")


def test_docs_runbooks_md_is_up_to_date():
    """Regenerate with `make runbooks`."""
    settings = _prod_settings()
    assert (ROOT / "docs" / "runbooks.md").read_text().rstrip("\n") == render(
        CATALOG, settings, reference_names(settings)).rstrip("\n")


def test_a_new_catalog_entry_gets_alarms_widgets_and_runbook_with_no_other_change():
    newcomer = Function("newcomer", "A function added later", routes=(Route("GET", "/api/v1/newcomer"),))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaging, "function_archive", lambda name, *_: pulumi.AssetArchive({}))
        run = run_program("prod", catalog=CATALOG + (newcomer,))
    assert {f"serenya-prod-newcomer-{s}" for s in ("errors", "error-rate", "throttles", "duration-p99")} \
        <= set(alarms_of(run))
    assert "serenya-prod-newcomer-errors" in paging_alarm(run)["alarmRule"]
    by_title = {w["properties"].get("title", ""): w for w in bodies(run)["operations"]["widgets"]}
    for title in ("Invocations by function", "Duration p99 by function (ms)"):  # a series of each
        assert "serenya-prod-newcomer" in [m[3] for m in by_title[title]["properties"]["metrics"]]
    settings = run.settings
    assert "## newcomer-errors" in render(CATALOG + (newcomer,), settings, reference_names(settings))


def test_stream_and_asynchronous_functions_get_their_queue_and_lag_alarms():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaging, "function_archive", lambda name, *_: pulumi.AssetArchive({}))
        found = alarms_of(run_program("dev", catalog=SAMPLE_CATALOG))
    assert found["serenya-dev-streamer-iterator-age"]["statistic"] == "Maximum"
    assert found["serenya-dev-streamer-failed-events"]["dimensions"] == {"QueueName": "serenya-dev-streamer-failures"}
    assert found["serenya-dev-streamer-failed-events"]["tags"]["severity"] == "critical"
    assert found["serenya-dev-worker-failed-events"]["metricName"] == "ApproximateNumberOfMessagesVisible"


def test_catalog_overrides_change_one_alarm():
    fn = Function("tuned", "x", timeout_s=60, alarm_overrides={"duration-p99": {"threshold": 55_000}})
    names = reference_names(run_program("dev").settings)
    specs = {s.signal: s for s in alarms.function_alarms(fn, run_program("dev").settings, names)}
    assert specs["duration-p99"].threshold == 55_000 and specs["errors"].threshold == 10


def alarm_metrics(alarm: dict) -> list[dict]:
    """(namespace, metricName, dimensions) of every metric an alarm reads."""
    if "metricQueries" in alarm:
        return [q["metric"] for q in alarm["metricQueries"] if "metric" in q]
    return [{"namespace": alarm["namespace"], "metricName": alarm["metricName"], "dimensions": alarm["dimensions"]}]


def test_every_custom_metric_carries_the_stack(stack):
    """dev and prod share an account: a custom metric without the stack lets dev move prod's alarms."""
    env = stack.settings.env
    custom = [m for a in alarms_of(stack).values() for m in alarm_metrics(a) if m["namespace"] == "Serenya"]
    assert len(custom) > 5 and all(m["dimensions"]["stack"] == env for m in custom)
    for body in bodies(stack).values():
        for widget in body["widgets"]:
            for entry in widget["properties"].get("metrics", []) if widget["type"] == "metric" else []:
                if isinstance(entry[0], dict) and "Serenya" in entry[0]["expression"]:
                    assert f'stack="{env}"' in entry[0]["expression"]
                elif entry[0] == "Serenya":
                    assert entry[entry.index("stack") + 1] == env


def test_paging_alarms_read_only_metrics_this_stack_moves(stack):
    """Everything the composite pages on is named after this stack (a function, queue, table,
    API) or carries its stack dimension; account-wide metrics (AWS/Bedrock per model,
    DynamoDB UserErrors) only warn."""
    env = stack.settings.env
    composites, found = composites_of(stack), alarms_of(stack)
    paging, seen = set(), set()
    pending = list(rule_names(paging_alarm(stack)["alarmRule"]))
    while pending:  # a composite's inputs page through it: follow them down to metric alarms
        name = pending.pop()
        if name in composites and name not in seen:
            seen.add(name)
            pending += rule_names(composites[name]["alarmRule"])
        elif name in found:
            paging.add(name)
    assert f"serenya-{env}-process-model-failures" in paging
    assert f"serenya-{env}-bedrock-errors" in found and f"serenya-{env}-bedrock-errors" not in paging
    assert found[f"serenya-{env}-bedrock-errors"]["tags"]["severity"] == "warning"
    for name in paging:
        for metric in alarm_metrics(found[name]):
            dims = metric["dimensions"]
            ours = dims.get("stack") == env or any(str(v).startswith(f"serenya-{env}") for v in dims.values())
            assert ours, (name, metric)


def test_descriptions_open_with_the_severity_in_capitals_and_the_stack(stack):
    for name, alarm in alarms_of(stack).items():
        severity = alarm["tags"]["severity"]
        assert alarm["alarmDescription"].startswith(f"[{severity.upper()}] "), name
        assert f"({stack.settings.env}). Impact: " in alarm["alarmDescription"], name


def test_api_alarms_exist_only_where_the_catalog_has_an_api():
    from functions.catalog import AUTHORIZER, S3Trigger

    settings = run_program("dev").settings
    names = reference_names(settings)

    def api_alarms(catalog):
        return [s.key for s in alarms.all_alarms(catalog, settings, names, detailed=True) if s.resource == "api"]

    worker = Function("worker", "processes uploads", trigger=S3Trigger("incoming/"))
    assert api_alarms((worker,)) == []
    assert "api-5xx" in api_alarms((worker, Function(AUTHORIZER, "checks tokens")))  # the authorizer faces the API
    assert "api-5xx" in api_alarms((worker, Function("echo", "answers", routes=(Route("GET", "/api/v1/echo"),))))


def test_a_custom_metrics_alarm_links_the_dashboard_that_shows_it_or_operations():
    from functions.catalog import CustomMetric, Threshold

    settings = run_program("dev").settings
    threshold = Threshold(5, "jobs fail", ("one", "two", "three"))
    fn = Function("worker", "works", metrics=(
        CustomMetric("Unshown", "Unshown failures", alarm=threshold),
        CustomMetric("Shown", "Shown failures", dashboards=("security", "operations"), alarm=threshold)))
    assert {s.signal: s.dashboard for s in alarms.custom_alarms(fn, settings)} == {"unshown": "operations",
                                                                                 "shown": "security"}
    made = {d.inputs["dashboardName"] for d in run_program("dev").mocks.of_type("aws:cloudwatch/dashboard:Dashboard")}
    assert {settings.name("operations"), settings.name("security")} <= made


def test_a_threshold_over_several_periods_needs_every_one_of_them():
    """periods=3: three periods evaluated, all three breaching (an M of N with M = N)."""
    from functions.catalog import CustomMetric, Threshold

    metric = CustomMetric("Refusals", "Refusals", alarm=Threshold(5, "i", ("a", "b", "c"), periods=3))
    (spec,) = alarms.custom_alarms(Function("gate", "x", metrics=(metric,)), _prod_settings())
    assert (spec.periods, spec.datapoints) == (3, 3)


def test_descriptions_tag_what_pages_and_fit_exactly_at_the_limit():
    s = _prod_settings()
    spec = alarms.CompositeSpec("api", "pages", "t", ("a",), "OR", "i", ("c1", "c2", "c3"), severity="critical",
                                pages=True)
    assert alarms.description(spec, s, "d", "r").startswith("[PAGE] ")
    critical = dataclasses.replace(spec, pages=False)
    assert alarms.description(critical, s, "d", "r").startswith("[CRITICAL] ")
    text = alarms.description(critical, s, "d", "r")
    room = alarms.DESCRIPTION_LIMIT - len(text)
    exactly = dataclasses.replace(critical, checks=("c1", "c2", "c3" + "x" * room))
    assert len(alarms.description(exactly, s, "d", "r")) == alarms.DESCRIPTION_LIMIT
    assert alarms.description(exactly, s, "d", "r").endswith("Dashboard: d") and "…" not in alarms.description(
        exactly, s, "d", "r")  # kept whole: trimmed only over the limit
    over = dataclasses.replace(critical, checks=("c1", "c2", "c3" + "x" * (room + 1)))
    trimmed = alarms.description(over, s, "d", "r")
    assert len(trimmed) <= alarms.DESCRIPTION_LIMIT and "…" in trimmed and trimmed.endswith("Dashboard: d")


def test_the_errors_expression_says_which_expected_raises_it_leaves_out():
    from functions.catalog import CustomMetric, Threshold

    refusals = CustomMetric("Refusals", "Refusals", function_error=True,
                            alarm=Threshold(1, "i", ("a", "b", "c")))
    errors, _ = alarms.failures(Function("gate", "x", metrics=(refusals,)), _prod_settings())
    assert errors.label == "errors other than Refusals"
