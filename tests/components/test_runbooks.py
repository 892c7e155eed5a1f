"""On-call at 3 a.m.: every runbook section links its dashboard in the stack's region,
prints the saved queries it needs (which the program saves over its own log groups) and
the commands of its procedures, naming resources the program really creates. Rendered
for both stacks from the settings the program runs with, and checked against the
program's resources under mocks."""

import re

import pytest

from components import alarms, queries, waf
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
