"""The stack's alarms, generated from the catalog and the stack's resources.

Nothing here names a function: `all_alarms` gathers the metric alarms of every builder
(components/alarm_builders.py: each function, custom metric and service; components/slo.py:
each objective's burn-rate windows), `composite_alarms` the alarms on their states (the
burn rates, and the one that pages), `description` what a notification says. The types
are components/alarm_specs.py, the words components/runbook_text.py.
`components/observability.py` renders the definitions as CloudWatch alarms;
`components/runbooks.py` renders the same definitions as docs/runbooks.md; the local
stack evaluates them. Pure Python: they can be read and tested without Pulumi.
"""

from __future__ import annotations

from components import runbook_text

# Re-exported: the one import of the alarms' consumers (observability, runbooks, dashboards, tests).
from components.alarm_builders import (  # noqa: F401
    KMS_QUOTAS,
    KmsQuota,
    api_alarms,
    bedrock_alarms,
    custom_alarms,
    custom_metric,
    failures,
    function_alarms,
    kms_quota_alarm,
    kms_usage,
    platform_alarms,
    route_slug,
    routes_read_per_method,
    stream_dimensions,
    table_alarms,
    waf_alarm,
)
from components.alarm_specs import (  # noqa: F401
    COMPOSITE,
    COMPOSITE_RULE_LIMIT,
    CRITICAL,
    DAY,
    DESCRIPTION_LIMIT,
    ERRORS_BY_REQUEST,
    FIVE_MINUTES,
    HOUR,
    JOB_STORY,
    MINUTE,
    NAMESPACE,
    SLOWEST_REQUESTS,
    USER_REQUESTS,
    WARNING,
    AlarmSpec,
    CompositeSpec,
    Expression,
    Metric,
    StackNames,
    composite_rule,
)
from components.config import Settings
from components.slo import (  # noqa: F401
    BURN_RATES,
    FAST_BURN,
    MIN_BAD_EVENTS,
    SLOW_BURN,
    BurnRate,
    Indicator,
    burn_rate_alarms,
    indicators,
    objective_alarms,
    window_label,
)
from functions.catalog import AUTHORIZER, Function


def all_alarms(catalog: tuple[Function, ...], settings: Settings, names: StackNames, detailed: bool) -> list[AlarmSpec]:
    """Every metric alarm of the stack (the burn-rate windows included)."""
    specs: list[AlarmSpec] = []
    for fn in catalog:
        specs += function_alarms(fn, settings, names) + custom_alarms(fn, settings)
    if any(fn.routes for fn in catalog) or any(fn.name == AUTHORIZER for fn in catalog):
        specs += api_alarms(catalog, settings, names)
    specs += objective_alarms(catalog, names)[0]
    specs += table_alarms(settings, names)
    if any(fn.access.bedrock for fn in catalog):
        specs += bedrock_alarms(settings)
    specs += platform_alarms(settings, names)
    return [s for s in specs if detailed or not s.detailed]


def composite_alarms(
    catalog: tuple[Function, ...], settings: Settings, names: StackNames, detailed: bool
) -> list[CompositeSpec]:
    """The burn-rate composites, then the paging alarm: any critical alarm of the stack's
    region that is no composite's input, or any critical composite. Each composite only
    names alarms listed before it (metric alarms, then the composites in this order)."""
    burns = objective_alarms(catalog, names)[1]
    paging = [
        s.key
        for s in all_alarms(catalog, settings, names, detailed)
        if s.severity == CRITICAL and s.region is None and s.part_of is None
    ]
    paging += [c.key for c in burns if c.severity == CRITICAL]
    service, signal = COMPOSITE.split("-", 1)
    prose = runbook_text.PAGING.format(env=settings.env)
    return burns + [
        CompositeSpec(
            service,
            signal,
            prose.title,
            tuple(paging),
            "OR",
            prose.impact,
            prose.checks,
            severity=CRITICAL,
            pages=True,
            queries=(ERRORS_BY_REQUEST,),
            playbook=runbook_text.PAGING_PLAYBOOK,
        )
    ]


def runbook_anchor(spec: AlarmSpec | CompositeSpec) -> str:
    return spec.key


def description(spec: AlarmSpec | CompositeSpec, settings: Settings, dashboard_url: str, runbook_url: str) -> str:
    """What fired, the impact, the first three checks, the runbook and the dashboard."""
    checks = " ".join(f"{i}) {c}" for i, c in enumerate(spec.checks, 1))
    tag = "PAGE" if isinstance(spec, CompositeSpec) and spec.pages else spec.severity.upper()
    text = (
        f"[{tag}] {spec.title} ({settings.env}). Impact: {spec.impact} "
        f"First checks: {checks} Runbook: {runbook_url}#{runbook_anchor(spec)} Dashboard: {dashboard_url}"
    )
    if len(text) > DESCRIPTION_LIMIT:  # trim the checks, never the links
        room = DESCRIPTION_LIMIT - (len(text) - len(checks)) - 1
        text = text.replace(checks, checks[:room] + "…")
    return text
