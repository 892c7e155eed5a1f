"""docs/runbooks.md, rendered from the same alarm definitions as the alarms themselves.

`python -m components.runbooks` (or `make runbooks`) prints it for the prod stack; a
test fails when the checked-in file differs. Alarm descriptions link to the sections
by their anchors (`#{resource}-{signal}`).
"""

from __future__ import annotations

from components import alarms
from components.alarms import AlarmSpec, Expression, Metric
from components.config import Settings
from functions.catalog import CATALOG, Function

COMPOSITE = "service-degraded"
RUNBOOKS_PATH = "docs/runbooks.md"


def _source(spec: AlarmSpec) -> str:
    def metric(m: Metric) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in m.dimensions.items() if isinstance(v, str))
        where = f" in {m.region}" if m.region else ""
        return f"`{m.namespace}/{m.name}` ({dims or 'no dimensions'}; {m.statistic} over {m.period_s}s{where})"

    if isinstance(spec.source, Expression):
        parts = "; ".join(f"`{key}` = {metric(m)}" for key, m in spec.source.metrics.items())
        return f"`{spec.source.expression}` where {parts}"
    return metric(spec.source)


def render(catalog: tuple[Function, ...], settings: Settings, names: alarms.StackNames) -> str:
    specs = alarms.all_alarms(catalog, settings, names, detailed=True)
    critical = [s for s in specs if s.severity == alarms.CRITICAL and not s.region]
    lines = [
        "# Runbooks",
        "",
        f"Generated from `functions/catalog.py` and `components/alarms.py` (`make runbooks`); names are the "
        f"{settings.env} stack's, dev's read `serenya-dev-...`. Do not edit by hand: a test compares this file "
        "with the definitions.",
        "",
        "Critical alarms do not page one by one: they feed one composite alarm per stack, "
        f"`{settings.name(COMPOSITE)}`, which pages on-call through the critical topic. Every alarm, critical or "
        "warning, also mails the warning topic. Alarms marked *detailed* exist only where "
        "`serenya:detailedAlarms` is true (prod).",
        "",
        f"## {COMPOSITE}",
        "",
        f"**{settings.name(COMPOSITE)}** (pages on-call): at least one critical alarm is in ALARM.",
        "",
        "1. Open the operations dashboard: the alarm widget shows which critical alarms fired.",
        "2. Follow that alarm's section below.",
        "3. Several at once usually share one cause: start with DynamoDB, KMS and Bedrock.",
        "",
        "Watches: " + ", ".join(f"[{s.key}](#{s.key})" for s in critical) + ".",
        "",
    ]
    for spec in specs:
        tags = [spec.severity] + (["detailed"] if spec.detailed else []) + ([spec.region] if spec.region else [])
        lines += [
            f"## {spec.key}",
            "",
            f"**{spec.name(settings)}** ({', '.join(tags)}): {spec.title}.",
            "",
            f"- Fires when {_source(spec)} is {_comparison(spec)} {spec.threshold:g} in {spec.datapoints} of "
            f"{spec.periods} period(s); missing data: {spec.missing}.",
            f"- Likely impact: {spec.impact}",
            "",
            "First checks:",
            "",
            *[f"{i}. {check}" for i, check in enumerate(spec.checks, 1)],
            "",
        ]
    return "\n".join(lines)


def _comparison(spec: AlarmSpec) -> str:
    return {"GreaterThanThreshold": "above", "GreaterThanOrEqualToThreshold": "at or above",
            "LessThanThreshold": "below"}[spec.comparison]


def reference_names(settings: Settings) -> alarms.StackNames:
    return alarms.StackNames(
        table=settings.name(), temp_bucket=f"{settings.name('temp')}-<account>", api=settings.name("api"),
        stage="v1", web_acl=settings.name("api") if settings.cloudfront else None,
        failure_queues={fn.name: settings.name(fn.name, "failures") for fn in CATALOG if fn.trigger})


def main() -> None:
    from components.config import load_settings, stack_config

    settings = load_settings(stack_config("prod").get, "prod")
    print(render(CATALOG, settings, reference_names(settings)))


if __name__ == "__main__":
    main()
