"""docs/runbooks.md, rendered from the same definitions the program builds its alarms,
dashboards, saved queries and resource names from.

`python -m components.runbooks` (or `make runbooks`) prints it for the prod stack; a
test fails when the checked-in file differs. Alarm descriptions link to the sections
by their anchors (`#{resource}-{signal}`). Each section carries what on-call needs at
3 a.m.: what fired, the impact, the first checks, the console link of its dashboard,
the saved Logs Insights queries it needs (text included) and the commands of its
procedures with the stack's real names. A critical alarm's section follows its playbook
(components/runbook_text.Playbook): what the user sees, the first five minutes (widgets
by their titles, the saved queries, the first command), the likely causes with their
mitigations, what to tell users, how to confirm recovery.
"""

from __future__ import annotations

from components import alarms, dashboards, procedures, queries, waf
from components.alarms import COMPOSITE, AlarmSpec, CompositeSpec, Expression, Metric
from components.config import Settings
from components.runbook_text import Playbook, Widget
from functions.catalog import CATALOG, Function

RUNBOOKS_PATH = "docs/runbooks.md"
# A section spells out at most this many procedures; beyond, it links them (API-wide
# alarms: roll back whichever function a release broke).
INLINE_PROCEDURES = 2
# A playbook's parts, in the order a critical alarm's section gives them.
PARTS = (
    "What the user sees",
    "The first five minutes",
    "Likely causes",
    "What to tell users",
    "How to confirm recovery",
)


def _source(spec: AlarmSpec) -> str:
    def metric(m: Metric) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in m.dimensions.items() if isinstance(v, str))
        where = f" in {m.region}" if m.region else ""
        return f"`{m.namespace}/{m.name}` ({dims or 'no dimensions'}; {m.statistic} over {m.period_s}s{where})"

    if isinstance(spec.source, Expression):
        parts = "; ".join(f"`{key}` = {metric(m)}" for key, m in spec.source.metrics.items())
        return f"`{spec.source.expression}` where {parts}"
    return metric(spec.source)


class _Renderer:
    def __init__(self, catalog: tuple[Function, ...], settings: Settings):
        self.settings = settings
        self.queries = queries.by_key(catalog, settings)
        self.procedures = procedures.all_procedures(catalog, settings)

    def dashboard(self, spec: AlarmSpec | CompositeSpec) -> str:
        name = self.settings.name(spec.dashboard)
        return f"- Dashboard: [{name}]({dashboards.dashboard_url(self.settings, name)})"

    def saved_queries(self, keys: tuple[str, ...], indent: str = "") -> list[str]:
        lines: list[str] = []
        for key in keys:
            q = self.queries[key]
            where = "the API access log" if q.source == "access" else f"{len(q.log_groups)} function log group(s)"
            asks = f"; replace {' and '.join(f'`{a}`' for a in q.asks)} first: {q.how}" if q.asks else ""
            lines += [
                f"{indent}- Run the saved query `{q.name(self.settings)}` (Logs Insights > Saved queries): {q.title} "
                f"({where}{asks}).",
                "",
                f"{indent}  ```",
                *[f"{indent}  {line}" for line in q.text.splitlines()],
                f"{indent}  ```",
                "",
            ]
        return lines

    def widget(self, w: Widget) -> str:
        name = self.settings.name(w.dashboard)
        return f"widget `{w.title}` on [{name}]({dashboards.dashboard_url(self.settings, name)}): {w.read}"

    def procedures_of(self, keys: tuple[str, ...], indent: str = "", shown: set[str] | None = None) -> list[str]:
        """Spelt out, unless there are many or the section showed them already: then linked."""
        shown = set() if shown is None else shown
        links = ", ".join(f"[{key.split(':', 1)[-1]}](#{self.procedures[key].anchor})" for key in keys)
        if len(keys) > INLINE_PROCEDURES:
            return [f"{indent}Roll back the function a release broke: {links}.", ""]
        if keys and set(keys) <= shown:
            return [f"{indent}Procedures above: {links}.", ""]
        shown.update(keys)
        return [
            f"{indent}{line}" if line else "" for key in keys for line in self.procedure(self.procedures[key], False)
        ]

    def playbook(self, spec: AlarmSpec | CompositeSpec, book: Playbook) -> list[str]:
        command = self.procedures[book.command]
        lines = [
            f"**{PARTS[0]}.** {book.user_sees}",
            "",
            f"**{PARTS[1]}.**",
            "",
            *[f"- Look at the {self.widget(w)}." for w in book.widgets],
            *self.saved_queries(spec.queries),
            f"- Run: {command.title} ([procedure](#{command.anchor})). {command.when}",
            "",
            "  ```bash",
            *[f"  {line}" for line in command.commands.splitlines()],
            "  ```",
            "",
            f"**{PARTS[2]}.**",
            "",
        ]
        shown: set[str] = set()
        for i, cause in enumerate(book.causes, 1):
            lines += [f"{i}. **{cause.name}.** {cause.signs} Mitigation: {cause.mitigation}", ""]
            keys = (*cause.procedures, *(spec.procedures if cause.own_procedures else ()))
            lines += self.procedures_of(keys, "   ", shown)
        lines += [
            f'**{PARTS[3]}.** "{book.tell_users}"',
            "",
            f"**{PARTS[4]}.** {book.recovery}: the {self.widget(book.recovery_widget)}; "
            f"`{spec.name(self.settings)}` returns to OK.",
            "",
        ]
        return lines

    def extras(self, spec: AlarmSpec | CompositeSpec) -> list[str]:
        lines: list[str] = []
        if spec.queries:
            lines += [
                f"Saved queries (CloudWatch > Logs Insights > Saved queries, folder `{self.settings.name()}`):",
                "",
            ]
            for key in spec.queries:
                q = self.queries[key]
                where = "the API access log" if q.source == "access" else f"{len(q.log_groups)} function log group(s)"
                asks = f"; replace {' and '.join(f'`{a}`' for a in q.asks)} first: {q.how}" if q.asks else ""
                lines += [
                    f"- `{q.name(self.settings)}`: {q.title} ({where}{asks}).",
                    "",
                    "  ```",
                    *[f"  {line}" for line in q.text.splitlines()],
                    "  ```",
                    "",
                ]
        if len(spec.procedures) > INLINE_PROCEDURES:
            links = ", ".join(f"[{key.split(':', 1)[-1]}](#{self.procedures[key].anchor})" for key in spec.procedures)
            lines += [f"Procedures: roll back the function a release broke: {links}.", ""]
        else:
            for key in spec.procedures:
                lines += self.procedure(self.procedures[key], heading=False)
        return lines

    @staticmethod
    def procedure(p: procedures.Procedure, heading: bool) -> list[str]:
        title = f"### {p.anchor}\n\n**{p.title}.**" if heading else f"**{p.title}** ([procedure](#{p.anchor})):"
        return [title, "", p.when, "", "```bash", *p.commands.splitlines(), "```", ""]

    def guidance(self, spec: AlarmSpec | CompositeSpec) -> list[str]:
        """A critical alarm's playbook; the first checks and extras of the others."""
        part_of = isinstance(spec, AlarmSpec) and spec.part_of
        if spec.playbook and not part_of:
            return self.playbook(spec, spec.playbook)
        checks = ["First checks:", "", *[f"{i}. {check}" for i, check in enumerate(spec.checks, 1)], ""]
        return checks + ([] if part_of else self.extras(spec))

    def metric_section(self, spec: AlarmSpec) -> list[str]:
        s = self.settings
        tags = [spec.severity] + (["detailed"] if spec.detailed else []) + ([spec.region] if spec.region else [])
        notifies = f" Notifies nobody: a window of [{spec.part_of}](#{spec.part_of})." if spec.part_of else ""
        return [
            f"## {spec.key}",
            "",
            f"**{spec.name(s)}** ({', '.join(tags)}): {spec.title}.{notifies}",
            "",
            f"- Fires when {_source(spec)} is {_comparison(spec)} {spec.threshold:g} in {spec.datapoints} of "
            f"{spec.periods} period(s); missing data: {spec.missing}.",
            f"- Likely impact: {spec.impact}",
            self.dashboard(spec),
            "",
            *self.guidance(spec),
        ]

    def composite_section(self, spec: CompositeSpec) -> list[str]:
        s = self.settings
        watched = f" {spec.operator} ".join(f"[{key}](#{key})" for key in spec.inputs)
        what = "pages on-call" if spec.pages else spec.severity
        return [
            f"## {spec.key}",
            "",
            f"**{spec.name(s)}** ({what}, composite): {spec.title}.",
            "",
            f"- Fires when {'any of' if spec.operator == 'OR' else 'all of'}: {watched}.",
            f"- Likely impact: {spec.impact}",
            self.dashboard(spec),
            "",
            *self.guidance(spec),
        ]


def render(catalog: tuple[Function, ...], settings: Settings, names: alarms.StackNames) -> str:
    specs = alarms.all_alarms(catalog, settings, names, detailed=True)
    composites = alarms.composite_alarms(catalog, settings, names, detailed=True)
    paging = next(c for c in composites if c.pages)
    burns = {c.key: c for c in composites if not c.pages}
    r = _Renderer(catalog, settings)
    lines = [
        "# Runbooks",
        "",
        f"Generated from `functions/catalog.py` and `components/` (`make runbooks`); names are the "
        f"{settings.env} stack's, dev's read `serenya-dev-...`. Do not edit by hand: a test compares this file "
        "with the definitions.",
        "",
        f"Critical alarms do not page one by one: they feed one composite alarm per stack, "
        f"`{settings.name(COMPOSITE)}`, which pages on-call through the critical topic. Every alarm, critical or "
        "warning, also mails the warning topic, except the windows of a burn rate, which only feed their "
        "composite. Alarms marked *detailed* exist only where `serenya:detailedAlarms` is true (prod).",
        "",
        "Objectives (`functions/catalog.py`) become multi-window burn-rate alarms: a fast burn (2% of the "
        "error budget in an hour: its 1 h and 5 min windows both over 14.4 times the budget's share) pages; "
        "a slow burn (5% in 6 hours: 6 h and 30 min windows over 6 times) mails. The executive dashboard "
        "shows what is left of each budget. Each section links its dashboard, prints the saved Logs Insights "
        "queries it needs and the commands of its procedures; every procedure is also under "
        "[procedures](#procedures).",
        "",
        *r.composite_section(paging),
    ]
    for spec in specs:
        if spec.part_of is None:
            lines += r.metric_section(spec)
        elif spec.part_of in burns:  # the composite, then its windows
            lines += r.composite_section(burns.pop(spec.part_of))
            lines += [
                line
                for key in _inputs(composites, spec.part_of)
                for line in r.metric_section(next(s for s in specs if s.key == key))
            ]
    lines += [
        "## procedures",
        "",
        "Every procedure of this stack, with its real names (`aws` CLI v2, `jq`, and `pulumi` for "
        "redeploying). Sections above include the ones they need.",
        "",
    ]
    for p in r.procedures.values():
        lines += r.procedure(p, heading=True)
    return "\n".join(lines)


def _inputs(composites: list[CompositeSpec], key: str) -> tuple[str, ...]:
    return next(c.inputs for c in composites if c.key == key)


def _comparison(spec: AlarmSpec) -> str:
    return {
        "GreaterThanThreshold": "above",
        "GreaterThanOrEqualToThreshold": "at or above",
        "LessThanThreshold": "below",
    }[spec.comparison]


def reference_names(settings: Settings) -> alarms.StackNames:
    return alarms.StackNames(
        table=settings.name(),
        temp_bucket=f"{settings.name('temp')}-<account>",
        api=settings.name("api"),
        stage="v1",
        web_acls=waf.web_acls(settings),
        failure_queues={fn.name: settings.name(fn.name, "failures") for fn in CATALOG if fn.trigger},
    )


def main() -> None:
    from components.config import load_settings, stack_config

    settings = load_settings(stack_config("prod").get, "prod")
    print(render(CATALOG, settings, reference_names(settings)))


if __name__ == "__main__":
    main()
