"""`make cost` on the real program: both stacks evaluated as the other tests evaluate
them, every billable type priced, docs/cost.md current and adding up."""

import ast
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from cost.data import load_prices, load_profile
from cost.graph import from_run
from cost.pricing import PRICERS, UnpricedType, estimate, unpriced_types
from cost.report import STACKS, build, markdown, terminal
from local.program import ROOT, Recorded

PRICES = load_prices()
PROFILE = load_profile()


@pytest.fixture(scope="module")
def report(dev_run, prod_run):
    return build({"dev": from_run("dev", dev_run), "prod": from_run("prod", prod_run)}, PROFILE, PRICES)


def test_every_resource_type_of_both_stacks_is_priced_or_listed_free(stack_run):
    graph = from_run(stack_run.settings.env, stack_run)
    assert unpriced_types(graph, PRICES) == []
    assert graph.aws_types & set(PRICES.priced), "nothing billable found: the graph was not read"


def test_every_priced_type_has_a_pricer_and_none_is_both_priced_and_free():
    assert set(PRICERS) == set(PRICES.priced)
    assert not set(PRICES.priced) & set(PRICES.free)


def test_a_new_billable_type_stops_the_model_naming_it(prod_run):
    graph = from_run("prod", prod_run)
    newcomer = Recorded("aws:rds/instance:Instance", "serenya-prod-db", {"instanceClass": "db.t4g.micro"}, "db", {})
    with pytest.raises(UnpricedType, match=r"aws:rds/instance:Instance"):
        estimate(replace(graph, resources=graph.resources + (newcomer,)), PROFILE, PRICES)


def test_docs_cost_md_is_current(report):
    """Regenerate with `make cost`."""
    assert (ROOT / "docs" / "cost.md").read_text() == markdown(report)


@pytest.mark.parametrize("stack", STACKS)
def test_a_total_is_the_sum_of_its_lines(report, stack):
    est = report.estimates[stack]
    assert est.lines and est.total == sum(line.amount for line in est.lines)
    assert all(line.quantity >= 0 for line in est.lines)


# Prod's fixed monthly lines, worked by hand from cost/prices_eu-west-1.toml (the rates
# are written out here, not read from the table) and the program's resources:
#   provisioned concurrency: 1 instance x 0.5 GB x 730 h x 3600 s = 1,314,000 GB-s,
#     x $0.0000033334 = $4.3800876 -> $4.38 (auth, 512 MB); 657,000 GB-s -> $2.1900438
#     -> $2.19 (the 256 MB authorizer, status, result, upload)
#   KMS: 5 customer managed keys x $1.00 = $5.00; 3 of them symmetric and rotated
#     yearly, so by month 12 each has one rotated version: 3 x $1.00 = $3.00
#   Secrets Manager: 1 secret x $0.40 = $0.40
#   WAF: each web ACL $5.00, each rule $1.00: CloudFront's ACL 3 rules = $3.00, the
#     regional ACL 4 rules = $4.00
#   dashboards: executive, operations, security: 3 x $3.00 = $9.00
PROD_BY_HAND = {
    ("lambda.arm64.provisioned_gb_second", "auth"): (Decimal("1314000"), Decimal("4.38")),
    ("lambda.arm64.provisioned_gb_second", "authorizer"): (Decimal("657000"), Decimal("2.19")),
    ("lambda.arm64.provisioned_gb_second", "status"): (Decimal("657000"), Decimal("2.19")),
    ("lambda.arm64.provisioned_gb_second", "result"): (Decimal("657000"), Decimal("2.19")),
    ("lambda.arm64.provisioned_gb_second", "upload"): (Decimal("657000"), Decimal("2.19")),
    ("kms.key_month", "customer managed keys (6)"): (Decimal(6), Decimal("6.00")),  # the canary's signing key
    ("kms.rotation_month", "rotated key versions (month 12)"): (Decimal(3), Decimal("3.00")),
    ("secretsmanager.secret_month", "secrets (1)"): (Decimal(1), Decimal("0.40")),
    ("waf.web_acl_month", "serenya-prod-api: web ACL"): (Decimal(1), Decimal("5.00")),
    ("waf.web_acl_month", "serenya-prod-api-regional: web ACL"): (Decimal(1), Decimal("5.00")),
    ("waf.rule_month", "serenya-prod-api: rules"): (Decimal(3), Decimal("3.00")),
    ("waf.rule_month", "serenya-prod-api-regional: rules"): (Decimal(4), Decimal("4.00")),
    ("cloudwatch.dashboard_month", "dashboards (serenya-prod-executive, serenya-prod-operations, "
                                   "serenya-prod-security)"): (Decimal(3), Decimal("9.00")),
}


def test_prods_fixed_lines_match_the_amounts_worked_by_hand(report, prod_run):
    # The facts the hand-worked figures rest on, read from the program itself.
    functions = {f.inputs["name"]: f.inputs["memorySize"] for f in prod_run.mocks.of_type("aws:lambda/function:Function")}
    warm = {c.inputs["functionName"]: c.inputs["provisionedConcurrentExecutions"]
            for c in prod_run.mocks.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")}
    assert {n.removeprefix("serenya-prod-"): (functions[n], c) for n, c in warm.items()} == {
        "auth": (512, 1), "authorizer": (256, 1), "status": (256, 1), "result": (256, 1), "upload": (256, 1)}
    keys = prod_run.mocks.of_type("aws:kms/key:Key")
    assert (len(keys), sum(bool(k.inputs.get("enableKeyRotation")) for k in keys)) == (6, 3)
    assert sorted(len(a.inputs["rules"]) for a in prod_run.mocks.of_type("aws:wafv2/webAcl:WebAcl")) == [3, 4]

    lines = {(l.price, l.resource or l.item): l for l in report.estimates["prod"].lines}
    for key, (quantity, amount) in PROD_BY_HAND.items():
        line = lines[key]
        assert (Decimal(str(line.quantity)), line.amount) == (quantity, amount), key


def test_the_page_adds_up_stack_by_stack(report):
    page = (ROOT / "docs" / "cost.md").read_text()
    for stack in STACKS:
        section = page.split(f"## Line items: {stack} (")[1].split("\n## ")[0]
        amounts = [Decimal(m.replace(",", "")) for m in re.findall(r"^\|[^\n]*\| \$([\d,]+\.\d\d) \|$", section, re.M)]
        stated = Decimal(re.search(r"\*\*total\*\* \| \| \| \*\*\$([\d,]+\.\d\d)\*\*", section).group(1).replace(",", ""))
        assert amounts and sum(amounts) == stated == report.estimates[stack].total
        assert f"| {stack} | ${stated:,.2f} |" in page


def test_make_cost_prints_one_total_line_per_stack_then_the_top_items(report):
    printed = terminal(report, top=5).splitlines()
    assert [re.fullmatch(r"(dev|prod) total: \$[\d,]+\.\d\d/month", l).group(1) for l in printed[:2]] == ["dev", "prod"]
    for stack in STACKS:
        at = printed.index(f"top items, {stack}:")
        items = printed[at + 1:at + 6]
        amounts = [Decimal(re.match(r"\s+\$([\d,]+\.\d\d)  ", i).group(1).replace(",", "")) for i in items]
        assert amounts == sorted(amounts, reverse=True) and amounts[0] == report.estimates[stack].top(1)[0].amount


def test_prod_pays_for_what_dev_does_not_configure(report):
    dev, prod = report.estimates["dev"], report.estimates["prod"]
    warm = [l for l in prod.lines if l.price.endswith(".provisioned_gb_second")]
    assert warm and not [l for l in dev.lines if l.price.endswith(".provisioned_gb_second")]
    assert any(l.price == "dynamodb.pitr_gb_month" for l in prod.lines)
    assert not any(l.price == "dynamodb.pitr_gb_month" for l in dev.lines)
    emails = {e.stack: next(l for l in e.lines if l.price == "sns.email").quantity for e in (dev, prod)}
    assert emails["dev"] == 0 < emails["prod"]


def test_the_design_choices_save_and_the_listed_changes_lower_prod(report):
    choices = {a.title: a for a in report.choices}
    assert all(a.difference > 0 for a in choices.values()), "a choice the design made costs more than its alternative"
    assert next(a for t, a in choices.items() if t.startswith("Lambda on arm64")).difference > Decimal("1")
    lowering = report.lowering
    assert all(a.total < a.base for a in lowering)
    assert lowering[-1].total == min(a.total for a in lowering)     # together lowers most
    no_warm = lowering[0].estimate
    assert not [l for l in no_warm.lines if l.price.endswith(".provisioned_gb_second")]


def test_the_default_profile_is_the_seeds_month():
    routes = PROFILE["routes"]
    assert PROFILE["users"] == 10_000
    assert sum(r["requests"] for r in routes.values()) == 1_000_000
    assert sum(r["requests"] for r in routes.values() if r.get("job") == "lab") == 3_000
    # Every job kind is started by a route or by a schedule (the canary's synthetic report).
    scheduled = {kind for spec in PROFILE["scheduled"].values() for kind in spec.get("jobs", {})}
    assert set(PROFILE["jobs"]["kinds"]) == {r["job"] for r in routes.values() if "job" in r} | scheduled


def test_every_price_is_dated_sourced_and_says_whether_it_was_confirmed():
    date.fromisoformat(PRICES.as_of)
    entries = list(PRICES.prices.values()) + list(PRICES.models.values())
    for entry in entries:
        assert entry.source.startswith("https://aws.amazon.com/") or entry.source.startswith("https://docs.aws.")
        assert isinstance(entry.confirmed, bool) and entry.note
    assert all(p.usd > 0 for p in PRICES.prices.values())


def test_the_configured_bedrock_model_of_each_stack_has_a_price(report):
    for est in report.estimates.values():
        assert est.usage.model_id in PRICES.models


def test_lambda_code_never_imports_the_cost_model():
    for path in (ROOT / "functions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "cost" or n.startswith("cost.") for n in names), path


def test_lines_follow_the_resources_inputs_not_a_list_of_names(prod_run):
    """Doubling one function's memory doubles its provisioned line and nothing else's."""
    graph = from_run("prod", prod_run)
    base = {l.item: l for l in estimate(graph, PROFILE, PRICES).lines}

    def bigger_auth(inputs: dict) -> dict:
        return {**inputs, "memorySize": inputs["memorySize"] * 2} if inputs["name"].endswith("-auth") else inputs
    changed = estimate(graph.with_inputs("aws:lambda/function:Function", bigger_auth), PROFILE, PRICES)
    warm = [l for l in changed.lines if l.price.endswith(".provisioned_gb_second")]
    auth = next(l for l in warm if l.resource == "auth")
    assert auth.quantity == 2 * next(l for l in base.values() if l.resource == "auth"
                                     and l.price.endswith(".provisioned_gb_second")).quantity
    assert all(l.quantity == base[l.item].quantity for l in warm if l.resource != "auth")


def test_detailed_metrics_are_priced_per_method_the_program_enables(report, prod_run):
    """Only the routes whose per-method metrics are read are billed for them, and the
    design choice prices the stage's `*/*` metricsEnabled (every route) against it."""
    graph = from_run("prod", prod_run)
    line = next(l for l in estimate(graph, PROFILE, PRICES).lines if "API Gateway detailed metrics" in l.item)
    enabled = [s for s in prod_run.mocks.of_type("aws:apigateway/methodSettings:MethodSettings")
               if s.inputs["methodPath"] != "*/*" and s.inputs["settings"]["metricsEnabled"]]
    assert f"({len(enabled)} methods x" in line.item and 0 < len(enabled) < len(graph.routes)
    choice = next(a for a in report.choices if a.title.startswith("API Gateway detailed metrics only on"))
    everywhere = next(l for l in choice.estimate.lines if "API Gateway detailed metrics" in l.item)
    assert f"({len(graph.routes)} methods x" in everywhere.item
    assert choice.difference == everywhere.amount - line.amount


def test_the_canary_is_priced_at_its_stacks_rate_with_its_api_requests(dev_run, prod_run):
    import copy

    from cost.usage import derive

    without = copy.deepcopy(PROFILE)
    without["scheduled"]["canary"]["requests"] = {}
    for stack, run, runs in (("dev", dev_run, 730 * 2), ("prod", prod_run, 730 * 6)):  # every 30 and 10 minutes
        graph = from_run(stack, run)
        usage, bare = (derive(graph, p, PRICES.seconds_per_month) for p in (PROFILE, without))
        assert usage.jobs["canary"] == pytest.approx(runs)
        per_run = sum(PROFILE["scheduled"]["canary"]["requests"].values())
        # Each run's requests reach the API, its routes' functions and one authorizer call (a fresh token).
        assert usage.api_requests - bare.api_requests == pytest.approx(runs * per_run)
        assert usage.authorizer_invocations - bare.authorizer_invocations == pytest.approx(runs)
        status = "GET /api/v1/process/status/{job_id}"
        assert usage.route_requests[status] - bare.route_requests[status] == pytest.approx(runs * 3)
        assert usage.function("status").invocations > bare.function("status").invocations
