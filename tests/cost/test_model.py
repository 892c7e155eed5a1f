"""`make cost` on the real program: both stacks evaluated as the other tests evaluate
them, every billable type priced, docs/cost.md current and adding up."""

import ast
import re
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

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
def test_a_total_is_the_sum_of_its_lines_each_a_quantity_times_a_price(report, stack):
    est = report.estimates[stack]
    assert est.total == sum(line.amount for line in est.lines)
    for line in est.lines:
        assert line.amount == (Decimal(f"{line.quantity:.6f}") * line.rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert line.quantity >= 0


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
    assert set(PROFILE["jobs"]["kinds"]) == {r["job"] for r in routes.values() if "job" in r}


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
