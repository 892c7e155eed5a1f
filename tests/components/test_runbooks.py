"""On-call at 3 a.m.: every runbook section links its dashboard in the stack's region,
prints the saved queries it needs (which the program saves over its own log groups) and
the commands of its procedures, naming resources the program really creates. Rendered
for both stacks from the settings the program runs with, and checked against the
program's resources under mocks."""

import dataclasses
import json
import re

import pytest

from components import alarms, queries, waf
from components.config import load_settings, stack_config
from components.procedures import all_procedures
from components.runbooks import render
from functions.catalog import CATALOG

QUERY_DEFINITION = "aws:cloudwatch/queryDefinition:QueryDefinition"


def runbook(run) -> str:
    settings = run.settings
    names = alarms.StackNames(table=settings.name(), temp_bucket=f"{settings.name('temp')}-<account>",
                              api=settings.name("api"), stage="v1",
                              web_acls=waf.web_acls(settings),
                              failure_queues={fn.name: settings.name(fn.name, "failures")
                                              for fn in CATALOG if fn.trigger})
    return render(CATALOG, settings, names)


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (\S+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def physical(run, type_: str, key: str = "name") -> set[str]:
    return {r.inputs[key] for r in run.mocks.of_type(type_) if r.inputs.get(key)}


@pytest.fixture(scope="module")
def books(dev_run, prod_run):
    return {"dev": runbook(dev_run), "prod": runbook(prod_run)}


def test_every_alarm_has_a_section_linking_its_dashboard_in_the_stacks_region(stack_run, books):
    s, found = stack_run.settings, sections(books[stack_run.settings.env])
    dashboards = physical(stack_run, "aws:cloudwatch/dashboard:Dashboard", "dashboardName")
    alarm_names = physical(stack_run, "aws:cloudwatch/metricAlarm:MetricAlarm") | \
        physical(stack_run, "aws:cloudwatch/compositeAlarm:CompositeAlarm", "alarmName")
    assert {f"serenya-{s.env}-{key}" for key in found if key != "procedures"} >= alarm_names
    for key, body in found.items():
        if key == "procedures":
            continue
        link = re.search(r"^- Dashboard: \[(\S+)\]\((\S+)\)$", body, re.M)
        assert link, key
        name, url = link.groups()
        assert name in dashboards, key
        assert url == (f"https://{s.region}.console.aws.amazon.com/cloudwatch/home?region={s.region}"
                       f"#dashboards:name={name}"), key


def test_composite_descriptions_fit_and_point_to_their_sections(stack_run, books):
    found = sections(books[stack_run.settings.env])
    for composite in stack_run.mocks.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm"):
        text = composite.inputs["alarmDescription"]
        assert len(text) <= alarms.DESCRIPTION_LIMIT
        assert re.search(r"docs/runbooks\.md#(\S+)", text)[1] in found
        assert f"region={stack_run.settings.region}" in text


def test_the_saved_queries_are_query_definitions_over_the_programs_log_groups(stack_run):
    s = stack_run.settings
    groups = physical(stack_run, "aws:cloudwatch/logGroup:LogGroup")
    saved = {d.inputs["name"]: d.inputs for d in stack_run.mocks.of_type(QUERY_DEFINITION)}
    expected = queries.saved_queries(CATALOG, s)
    assert set(saved) == {q.name(s) for q in expected} and len(expected) == 4
    for query in expected:
        definition = saved[query.name(s)]
        assert definition["queryString"] == query.text
        assert definition["logGroupNames"] == list(query.log_groups)
        assert set(query.log_groups) <= groups, query.key
        assert len(query.log_groups) <= queries.MAX_LOG_GROUPS


def test_sections_print_the_queries_their_alarm_names(stack_run, books):
    s, found = stack_run.settings, sections(books[stack_run.settings.env])
    by_key = queries.by_key(CATALOG, s)
    specs = alarms.all_alarms(CATALOG, s, alarms.StackNames(s.name(), "t", s.name("api"), "v1"), True)
    specs += alarms.composite_alarms(CATALOG, s, alarms.StackNames(s.name(), "t", s.name("api"), "v1"), True)
    with_queries = [spec for spec in specs if spec.queries and not getattr(spec, "part_of", None)]
    assert len(with_queries) > 20
    for spec in with_queries:
        for key in spec.queries:
            assert f"`{by_key[key].name(s)}`" in found[spec.key], (spec.key, key)
            assert by_key[key].text.splitlines()[0] in found[spec.key], (spec.key, key)


def test_commands_name_the_programs_real_resources(stack_run, books):
    s, text = stack_run.settings, books[stack_run.settings.env]
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))
    functions = physical(stack_run, "aws:lambda/function:Function")
    aliased = {a.inputs["functionName"]: a.inputs["name"] for a in stack_run.mocks.of_type("aws:lambda/alias:Alias")}
    # Alias function names are the function's name output: map them back through the functions.
    by_output = {f.state["name"] for f in stack_run.mocks.of_type("aws:lambda/function:Function")}
    assert set(aliased) <= by_output
    queues = physical(stack_run, "aws:sqs/queue:Queue")
    tables = physical(stack_run, "aws:dynamodb/table:Table")
    key_aliases = physical(stack_run, "aws:kms/alias:Alias")

    named = re.findall(r"--function-name (\S+)((?: --(?:name|qualifier) \S+)?)", blocks)
    assert named and {f for f, _ in named} <= functions
    for function, qualifier in named:
        if qualifier:
            assert aliased.get(function) == qualifier.split()[-1], (function, qualifier)
    assert set(re.findall(r"--queue-name (\S+)", blocks)) == queues  # every failure queue has its redrive
    assert set(re.findall(r"--(?:source-)?table-name (\S+)", blocks)) <= tables | {'"$RESTORED"'}
    assert set(re.findall(r"KMSMasterKeyId=(\S+)", blocks)) <= key_aliases
    assert set(re.findall(r"--region (\S+)", blocks)) == {s.region}
    assert set(re.findall(r"pulumi up --stack (\S+)", blocks)) <= {s.env}


def test_warm_functions_roll_back_through_their_alias_only_where_the_stack_has_one(dev_run, prod_run, books):
    assert "update-alias" not in books["dev"]  # dev keeps nothing warm: a rollback is a redeploy
    prod = books["prod"]
    for fn in CATALOG:
        alias = prod_run.settings.live_alias(fn)
        assert (f"update-alias --function-name serenya-prod-{fn.name} --name live" in prod) is bool(alias), fn.name
    assert "Point-in-time recovery is off" in sections(books["dev"])["procedures"]
    assert "restore-table-to-point-in-time --source-table-name serenya-prod " in prod


def test_failure_queues_are_replayed_through_their_function_never_moved_by_sqs(books):
    """StartMessageMoveTask only redrives dead-letter queues of other SQS queues: "Non-SQS
    queue sources of dead-letter queues, such as AWS Lambda or Amazon SNS topics, are
    currently not supported"
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html)."""
    for text in books.values():
        assert "start-message-move-task" not in text
    prod = sections(books["prod"])
    assert "aws lambda invoke --function-name serenya-prod-process --invocation-type Event" in \
        prod["process-failed-events"]
    assert "get-shard-iterator" in prod["stream_processor-failed-events"]
    assert "--payload fileb://event.json" in prod["stream_processor-failed-events"]


def test_every_procedure_an_alarm_names_exists_and_is_rendered(stack_run, books):
    s = stack_run.settings
    known = all_procedures(CATALOG, s)
    names = alarms.StackNames(s.name(), "t", s.name("api"), "v1")
    specs = alarms.all_alarms(CATALOG, s, names, True) + alarms.composite_alarms(CATALOG, s, names, True)
    assert {key for spec in specs for key in spec.procedures} <= set(known)
    procedures_section = sections(books[s.env])["procedures"]
    for procedure in known.values():
        assert f"### {procedure.anchor}" in procedures_section


def critical_specs(settings):
    names = alarms.StackNames(settings.name(), "t", settings.name("api"), "v1")
    specs = alarms.all_alarms(CATALOG, settings, names, True) + alarms.composite_alarms(CATALOG, settings, names, True)
    return [s for s in specs if s.severity == alarms.CRITICAL and not getattr(s, "part_of", None)]


def widgets_by_title(settings) -> dict[str, dict[str, list[dict]]]:
    from components import dashboards
    names = alarms.StackNames(settings.name(), "t", settings.name("api"), "v1", waf.web_acls(settings))
    bodies = {"operations": dashboards.operations(CATALOG, settings, names, [("arn:c", "critical"), ("arn:w", "warning")]),
              "executive": dashboards.executive(CATALOG, settings, names),
              "security": dashboards.security(CATALOG, settings, names)}
    found: dict[str, dict[str, list[dict]]] = {}
    for dashboard, body in bodies.items():
        for w in body["widgets"]:
            if w["properties"].get("title"):
                found.setdefault(dashboard, {}).setdefault(w["properties"]["title"], []).append(w)
    return found


def test_every_critical_section_gives_the_playbook_parts_in_order(stack_run, books):
    from components.runbooks import PARTS
    found = sections(books[stack_run.settings.env])
    critical = critical_specs(stack_run.settings)
    assert len(critical) > 20 and all(spec.playbook for spec in critical), \
        [spec.key for spec in critical if not spec.playbook]
    for spec in critical:
        body = found[spec.key]
        places = [body.find(f"**{part}.**") for part in PARTS]
        assert -1 not in places and places == sorted(places), (spec.key, places)
        first_five = body[places[1]:places[2]]
        assert "Look at the widget `" in first_five and "Run the saved query `" in first_five, spec.key
        assert "```bash" in first_five, spec.key
        causes = body[places[2]:places[3]]
        assert causes.count("Mitigation: ") == len(spec.playbook.causes) >= 1, spec.key
        assert f"`{spec.name(stack_run.settings)}` returns to OK" in body[places[4]:], spec.key


def test_playbooks_name_widgets_queries_and_procedures_that_exist(stack_run, books):
    s = stack_run.settings
    widgets, known_queries, known = widgets_by_title(s), queries.by_key(CATALOG, s), all_procedures(CATALOG, s)
    found = sections(books[s.env])
    for spec in critical_specs(s):
        book = spec.playbook
        for w in (*book.widgets, book.recovery_widget):
            assert w.title in widgets[w.dashboard], (spec.key, w.dashboard, w.title)
            assert f"widget `{w.title}` on [{s.name(w.dashboard)}]" in found[spec.key], (spec.key, w.title)
        assert spec.queries and set(spec.queries) <= set(known_queries), spec.key
        named = {book.command} | {p for c in book.causes for p in c.procedures}
        assert named <= set(known), (spec.key, named - set(known))
        # Every section's widget titles, as rendered, are titles of the dashboards.
        for title in re.findall(r"widget `([^`]+)` on \[serenya-\w+-(\w+)\]", found[spec.key]):
            assert title[0] in widgets[title[1]], (spec.key, title)


def test_a_critical_metric_alarms_first_widgets_show_what_it_watches(stack_run):
    """The widget on-call opens first must graph the alarm's metric: table-system-errors'
    SystemErrors, model failures' ModelFailures, a function's Lambda Errors."""
    s = stack_run.settings
    widgets = widgets_by_title(s)
    for spec in critical_specs(s):
        if isinstance(spec, alarms.CompositeSpec):
            continue
        watched = spec.source.metrics.values() if isinstance(spec.source, alarms.Expression) else [spec.source]
        if isinstance(spec.source, alarms.Metric) and spec.source.namespace == "AWS/SQS":
            continue  # a failure queue: its runbook reads the function's errors, the replay empties the queue
        shown = json.dumps([widgets[w.dashboard][w.title] for w in spec.playbook.widgets])
        assert any(f'"{m.name}' in shown or f'\\"{m.name}\\"' in shown for m in watched), spec.key


def test_the_api_5xx_runbook_starts_from_the_unhandled_errors_not_lambda_errors(books):
    """The resolver answers an exception with a 500 (functions/common/http.py): Lambda's
    Errors stay 0, UnhandledErrors rises."""
    first_five = sections(books["prod"])["api-5xx"].split("**Likely causes.**")[0]
    assert "widget `Errors by function (Lambda errors, unhandled errors answered as 500, throttles)`" in first_five
    assert "MetricName=\\\"UnhandledErrors\\\"" in first_five


def test_the_model_failures_runbook_mitigates_throttling_with_exact_commands(stack_run, books):
    s = stack_run.settings
    body = sections(books[s.env])["process-model-failures"]
    assert "widget `process: Jobs finished, Jobs failed by the model," in body
    switch = re.search(r"pulumi config set serenya:bedrockModelId (\S+) --stack (\S+) && make preflight STACK=\2 "
                       r"&& pulumi up --stack \2", body)
    assert switch and switch[2] == s.env and switch[1] != s.bedrock_model_id
    # The fallback is a model id the stack's configuration accepts (its geography, no global. profile).
    config = stack_config(s.env)
    moved = load_settings(lambda k: switch[1] if k == "serenya:bedrockModelId" else config.get(k), s.env)
    assert moved.bedrock_model_id == switch[1]
    assert f"pulumi config set serenya:newJobsPaused true --stack {s.env} && pulumi up --stack {s.env}" in body


def test_alarm_descriptions_link_the_runbook_where_its_base_url_is_set(stack_run):
    base = stack_run.settings.runbook_base_url
    assert base and base.startswith("https://")
    for kind, key in (("aws:cloudwatch/metricAlarm:MetricAlarm", "alarmDescription"),
                      ("aws:cloudwatch/compositeAlarm:CompositeAlarm", "alarmDescription")):
        for alarm in stack_run.mocks.of_type(kind):
            text = alarm.inputs[key]
            assert len(text) <= alarms.DESCRIPTION_LIMIT
            assert re.search(rf"Runbook: {re.escape(base)}#[\w-]+ ", text), text[-300:]


def test_without_a_base_url_descriptions_name_the_runbooks_path(stack_run):
    from components.runbooks import RUNBOOKS_PATH
    s = dataclasses.replace(stack_run.settings, runbook_base_url=None)
    spec = critical_specs(s)[0]
    text = alarms.description(spec, s, "d", s.runbook_base_url or RUNBOOKS_PATH)
    assert f"Runbook: docs/runbooks.md#{spec.key} " in text
