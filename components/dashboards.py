"""The three CloudWatch dashboards, generated from the catalog: executive, operations,
security. Pure functions returning dashboard bodies; widgets are laid out on
CloudWatch's 24-column grid in rows. Custom metrics are queried with exactly the
dimension sets the functions emit (service, stack, function [+ breakdown]).
"""

from __future__ import annotations

import re

from components.alarm_builders import TABLE_OPERATIONS
from components.alarms import (
    CRITICAL,
    KMS_QUOTAS,
    NAMESPACE,
    WARNING,
    Indicator,
    StackNames,
    indicators,
    kms_usage,
)
from components.config import Settings
from components.runbook_text import BUDGET_WIDGET_TITLE
from functions.catalog import AVAILABILITY, UNHANDLED_ERRORS, CustomMetric, Function, StreamTrigger

GRID = 24
DAY, WEEK, MONTH = 86_400, 604_800, 2_592_000
LIMITS = {"widgets": 500, "metrics": 2500}


class Layout:
    """Places widgets left to right, wrapping at the grid's width."""

    def __init__(self):
        self.widgets: list[dict] = []
        self._x = self._y = self._row_height = 0

    def add(self, widget: dict, width: int = 8, height: int = 6) -> None:
        if self._x + width > GRID:
            self._x, self._y, self._row_height = 0, self._y + self._row_height, 0
        self.widgets.append({**widget, "x": self._x, "y": self._y, "width": width, "height": height})
        self._x += width
        self._row_height = max(self._row_height, height)

    def text(self, markdown: str, height: int = 2) -> None:
        self.add({"type": "text", "properties": {"markdown": markdown}}, width=GRID, height=height)


def _metric_widget(
    title: str,
    metrics: list,
    region: str,
    stat: str = "Sum",
    period: int = 300,
    view: str = "timeSeries",
    stacked: bool = False,
) -> dict:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "metrics": metrics,
            "region": region,
            "stat": stat,
            "period": period,
            "view": view,
            "stacked": stacked,
        },
    }


def _totals(metric: CustomMetric, fn: Function, settings: Settings, **options) -> list:
    return [
        NAMESPACE,
        metric.name,
        "service",
        settings.project,
        "stack",
        settings.env,
        "function",
        fn.name,
        options or {},
    ]


def _breakdown(metric: CustomMetric, fn: Function, settings: Settings, stat: str = "Sum", period: int = 300) -> list:
    dims = ",".join(["service", "stack", "function", *metric.breakdown])
    search = (
        f'SEARCH(\'{{{NAMESPACE},{dims}}} MetricName="{metric.name}" service="{settings.project}" '
        f'stack="{settings.env}" function="{fn.name}"\', \'{stat}\', {period})'
    )
    return [[{"expression": search, "id": f"e_{fn.name}_{metric.name.lower()}", "label": ""}]]


def _generated(settings: Settings, name: str) -> str:
    return (
        f"# Serenya {settings.env}: {name}\nGenerated from `functions/catalog.py` by "
        f"`components/dashboards.py`; edits here are overwritten on the next `pulumi up`. "
        f"Runbooks: `docs/runbooks.md`."
    )


def _declared(catalog: tuple[Function, ...], dashboard: str) -> list[tuple[Function, CustomMetric]]:
    return [(fn, m) for fn in catalog for m in fn.custom_metrics if dashboard in m.dashboards]


def error_budget(indicator: Indicator, region: str) -> dict:
    """One objective's error budget left over its window, as one number: the share of bad
    events over the whole range (`setPeriodToTimeRange`), against the share the objective
    allows. 100% is untouched, 0% spent, below 0 overspent. Dashboard body format:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html"""
    objective = indicator.objective
    window = objective.window_days * DAY
    metrics: list = [
        [
            m.namespace,
            m.name,
            *[x for pair in m.dimensions.items() for x in pair],
            {"id": key, "stat": m.statistic, "visible": False},
        ]
        for key, m in indicator.metrics(window).items()
    ]
    metrics.append(
        [
            {
                "expression": f"100 * (1 - ({indicator.share}) / {objective.budget:g})",
                "id": "left",
                "label": "error budget left (%)",
            }
        ]
    )
    return {
        "type": "metric",
        "properties": {
            "title": BUDGET_WIDGET_TITLE.format(
                indicator=indicator.title, target=objective.target, window_days=objective.window_days
            ),
            "metrics": metrics,
            "region": region,
            "view": "singleValue",
            "start": f"-P{objective.window_days}D",
            "setPeriodToTimeRange": True,
            "period": window,
        },
    }


def executive(catalog: tuple[Function, ...], settings: Settings, names: StackNames) -> dict:
    layout = Layout()
    layout.text(
        _generated(settings, "executive")
        + "\nFigures follow the glossary (`docs/audit-events.md`). Active users are distinct accounts, which "
        "CloudWatch cannot count: run `daily_active_users` or `monthly_active_users` (Athena, `make analytics`)."
    )
    if any(fn.routes for fn in catalog):
        layout.text(
            "## Error budgets\nWhat is left of each objective's error budget (`functions/catalog.py`): "
            "below 0, the objective is missed. Burn-rate alarms page long before (docs/runbooks.md)."
        )
        for indicator in indicators(catalog, names):
            layout.add(error_budget(indicator, settings.region), width=6, height=4)
    for fn, metric in _declared(catalog, "executive"):
        for label, period in (("per day", DAY), ("per week", WEEK), ("per month", MONTH)):
            layout.add(
                _metric_widget(
                    f"{metric.title} {label}",
                    [_totals(metric, fn, settings)],
                    settings.region,
                    period=period,
                    view="bar",
                ),
                width=8,
            )
        if metric.breakdown:
            layout.add(
                _metric_widget(
                    f"{metric.title} by {', '.join(metric.breakdown)} (daily)",
                    _breakdown(metric, fn, settings, period=DAY),
                    settings.region,
                    period=DAY,
                    stacked=True,
                ),
                width=GRID,
            )
    return {"widgets": layout.widgets}


# User journeys of the operations dashboard: (title, the functions that serve it). A
# function of the catalog in no journey is still in the per-function widgets.
JOURNEYS = (
    ("Sign-in", ("auth", "authorizer")),
    ("Upload → result", ("upload", "process", "status", "result")),
    ("Chat", ("chat_prompts", "chat_messages", "chat_status")),
    ("Subscriptions", ("subscriptions",)),
)
ALARMS_PER_WIDGET = 100  # CloudWatch's limit for an alarm status widget


def _dims(mapping) -> list:
    return [x for pair in mapping.items() for x in pair]


def _alarm_widgets(layout: Layout, alarm_arns: list[tuple[str, str]]) -> None:
    """The alarms in ALARM, critical apart from warning, most recent change first, each
    widget the grid's width so the names are whole."""
    for severity in (CRITICAL, WARNING):
        arns = [arn for arn, s in alarm_arns if s == severity]
        for start in range(0, len(arns), ALARMS_PER_WIDGET):
            layout.add(
                {
                    "type": "alarm",
                    "properties": {
                        "title": f"{severity.capitalize()} alarms in ALARM",
                        "alarms": arns[start : start + ALARMS_PER_WIDGET],
                        "states": ["ALARM"],
                        "sortBy": "stateUpdatedTimestamp",
                    },
                },
                width=GRID,
                height=3,
            )


def _journey_success(title: str, fns: list[Function], settings: Settings) -> dict:
    """The share of the journey's invocations that did not fail: Lambda errors other than
    the expected raises, unhandled errors (answered as 500, so not in Errors) and jobs the
    model failed (a critical custom metric), over invocations."""
    metrics: list = []
    bad, total = [], []
    for fn in fns:
        key = fn.name.lower()
        name = ["FunctionName", settings.name(fn.name)]
        metrics.append(["AWS/Lambda", "Invocations", *name, {"id": f"i_{key}", "visible": False}])
        metrics.append(["AWS/Lambda", "Errors", *name, {"id": f"e_{key}", "visible": False}])
        total.append(f"FILL(i_{key}, 0)")
        bad.append(f"FILL(e_{key}, 0)")
        for m in fn.custom_metrics:
            failing = m.name == UNHANDLED_ERRORS.name or (m.alarm is not None and m.alarm.severity == CRITICAL)
            if m.function_error or failing:
                mid = f"c_{key}_{m.name.lower()}"
                metrics.append(_totals(m, fn, settings, id=mid, visible=False))
                if m.function_error:  # inside Errors and invocations, never a failure
                    bad.append(f"-FILL({mid}, 0)")
                    total.append(f"-FILL({mid}, 0)")
                else:
                    bad.append(f"FILL({mid}, 0)")
    expression = f"100 * (1 - ({' + '.join(bad)}) / MAX([{' + '.join(total)}, 1]))".replace("+ -", "- ")
    metrics.append([{"expression": expression, "id": "success", "label": "succeeded (%)"}])
    widget = _metric_widget(f"{title}: success rate (objective {AVAILABILITY.target:.1%})", metrics, settings.region)
    widget["properties"]["annotations"] = {
        "horizontal": [{"label": "objective", "value": round(AVAILABILITY.target * 100, 6)}]
    }
    return widget


def _journey_latency(title: str, fns: list[Function], found: list[Indicator], settings: Settings) -> dict:
    """The share of each route's requests within its latency target, against the
    objective (components/slo.py); Lambda duration where the journey has no target."""
    if not found:
        return _metric_widget(
            f"{title}: duration p99 (ms, no latency objective)",
            [["AWS/Lambda", "Duration", "FunctionName", settings.name(fn.name), {"label": fn.name}] for fn in fns],
            settings.region,
            stat="p99",
        )
    metrics: list = []
    targets = set()
    for n, indicator in enumerate(found):
        for key, m in indicator.metrics(300).items():
            metrics.append(
                [m.namespace, m.name, *_dims(m.dimensions), {"id": f"{key}{n}", "stat": m.statistic, "visible": False}]
            )
        share = re.sub(r"\b(within|requests)\b", rf"\g<1>{n}", indicator.share)
        target = indicator.objective.target
        targets.add(target)
        metrics.append([{"expression": f"100 * (1 - {share})", "id": f"l{n}", "label": indicator.title}])
    widget = _metric_widget(
        f"{title}: requests within their latency target (objective "
        + ", ".join(f"{t:.0%}" for t in sorted(targets))
        + ")",
        metrics,
        settings.region,
    )
    widget["properties"]["annotations"] = {
        "horizontal": [{"label": "objective", "value": round(t * 100, 6)} for t in sorted(targets)]
    }
    return widget


def operations(
    catalog: tuple[Function, ...], settings: Settings, names: StackNames, alarm_arns: list[tuple[str, str]]
) -> dict:
    """What is broken first: the alarms in ALARM (`alarm_arns`: (ARN, severity) of every
    alarm of the region and composite), then one row per user journey (success rate and
    latency against their objectives), the shared dependencies, and per-function detail
    with one series per function. Signals that are empty on a healthy stack (throttles,
    unhandled errors, failures by reason) share a widget with one that is not."""
    layout = Layout()
    _alarm_widgets(layout, alarm_arns)
    layout.text(
        _generated(settings, "operations")
        + " Below: each user journey's success rate and latency against its objective, then what they "
        "depend on, then every function.",
        height=2,
    )
    by_name = {fn.name: fn for fn in catalog}
    objectives = [i for i in indicators(catalog, names) if i.function is not None]
    for title, members in JOURNEYS:
        fns = [by_name[m] for m in members if m in by_name]
        if not fns:
            continue
        layout.add(_journey_success(title, fns, settings), width=12)
        routes = [i for i in objectives if i.function in members]
        layout.add(_journey_latency(title, fns, routes, settings), width=12)
    _dependencies(layout, catalog, settings, names)
    _per_function(layout, catalog, settings)
    return {"widgets": layout.widgets}


def _dependencies(layout: Layout, catalog: tuple[Function, ...], settings: Settings, names: StackNames) -> None:
    region = settings.region
    api = ["ApiName", names.api, "Stage", names.stage]
    layout.add(
        _metric_widget(
            "API requests and errors",
            [
                ["AWS/ApiGateway", "Count", *api, {"label": "requests"}],
                ["AWS/ApiGateway", "4XXError", *api, {"label": "4XX"}],
                ["AWS/ApiGateway", "5XXError", *api, {"label": "5XX"}],
            ],
            region,
        )
    )
    layout.add(
        _metric_widget(
            "API latency p99 (ms)",
            [
                ["AWS/ApiGateway", "Latency", *api, {"label": "latency"}],
                ["AWS/ApiGateway", "IntegrationLatency", *api, {"label": "integration latency"}],
            ],
            region,
            stat="p99",
        )
    )
    table = ["TableName", names.table]
    # SystemErrors is published per operation only; the latency of the requests that
    # succeeded keeps the widget drawn on a healthy stack (right axis).
    latency = (
        f'SEARCH(\'{{AWS/DynamoDB,TableName,Operation}} MetricName="SuccessfulRequestLatency" '
        f"TableName=\"{names.table}\"', 'Average', 300)"
    )
    layout.add(
        _metric_widget(
            "DynamoDB system errors, throttles and latency",
            [
                *[
                    ["AWS/DynamoDB", "SystemErrors", *table, "Operation", op, {"label": f"system errors {op}"}]
                    for op in TABLE_OPERATIONS
                ],
                ["AWS/DynamoDB", "ReadThrottleEvents", *table, {"label": "read throttles"}],
                ["AWS/DynamoDB", "WriteThrottleEvents", *table, {"label": "write throttles"}],
                ["AWS/DynamoDB", "UserErrors", {"label": "user errors (account)"}],
                [{"expression": latency, "id": "latency", "label": "latency (ms)", "yAxis": "right"}],
            ],
            region,
        )
    )
    if any(fn.access.bedrock for fn in catalog):
        model = ["ModelId", settings.bedrock_model_id]
        layout.add(
            _metric_widget(
                "Bedrock invocations, errors, throttles, latency",
                [
                    ["AWS/Bedrock", "Invocations", *model, {"label": "invocations"}],
                    ["AWS/Bedrock", "InvocationClientErrors", *model, {"label": "client errors"}],
                    ["AWS/Bedrock", "InvocationServerErrors", *model, {"label": "server errors"}],
                    ["AWS/Bedrock", "InvocationThrottles", *model, {"label": "throttles"}],
                    [
                        "AWS/Bedrock",
                        "InvocationLatency",
                        *model,
                        {"label": "latency p99 (ms)", "stat": "p99", "yAxis": "right"},
                    ],
                ],
                region,
            )
        )
    for fn in catalog:
        queue = names.failure_queues.get(fn.name)
        if isinstance(fn.trigger, StreamTrigger):
            metrics: list = [
                ["AWS/Lambda", "IteratorAge", "FunctionName", settings.name(fn.name), {"label": "iterator age (ms)"}]
            ]
            if queue:
                metrics.append(
                    [
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesVisible",
                        "QueueName",
                        queue,
                        {"label": "failed events waiting", "yAxis": "right"},
                    ]
                )
            layout.add(
                _metric_widget(f"{fn.name}: stream iterator age and failed events", metrics, region, stat="Maximum")
            )


def _per_function(layout: Layout, catalog: tuple[Function, ...], settings: Settings) -> None:
    """Every function on one widget per signal, labelled by function; the catalog's
    operations metrics of each function beside its invocations."""
    region = settings.region

    def each(metric: str, label=lambda fn: fn.name) -> list:
        return [["AWS/Lambda", metric, "FunctionName", settings.name(fn.name), {"label": label(fn)}] for fn in catalog]

    layout.add(_metric_widget("Invocations by function", each("Invocations"), region), width=12)
    expected = [
        _totals(m, fn, settings, label=f"{fn.name} {m.title.lower()} (inside Errors, never paged)")
        for fn in catalog
        for m in fn.custom_metrics
        if m.function_error
    ]
    scope = f'service="{settings.project}" stack="{settings.env}"'
    unhandled = (
        f"SEARCH('{{{NAMESPACE},service,stack,function}} MetricName=\"{UNHANDLED_ERRORS.name}\" {scope}', 'Sum', 300)"
    )
    # Unquoted: a partial match on the stack's prefix (a quoted value matches one whole name).
    throttles = (
        f'SUM(SEARCH(\'{{AWS/Lambda,FunctionName}} MetricName="Throttles" '
        f"FunctionName={settings.name()}', 'Sum', 300))"
    )
    layout.add(
        _metric_widget(
            "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
            [
                *each("Errors"),
                *expected,
                [{"expression": unhandled, "id": "unhandled", "label": "unhandled"}],
                [{"expression": throttles, "id": "throttles", "label": "throttles, all functions"}],
            ],
            region,
        ),
        width=12,
    )
    layout.add(
        _metric_widget(
            "Duration p99 by function (ms)",
            each("Duration", lambda fn: f"{fn.name} (timeout {fn.timeout_s} s)"),
            region,
            stat="p99",
        ),
        width=12,
    )
    for fn in catalog:
        declared = [m for m in fn.custom_metrics if "operations" in m.dashboards and m.name != UNHANDLED_ERRORS.name]
        for unit in sorted({m.unit for m in declared}):
            shown = [m for m in declared if m.unit == unit]
            stat = "p99" if unit == "Milliseconds" else "Sum"
            metrics: list = []
            for m in shown:
                if m.breakdown:
                    [[entry]] = _breakdown(m, fn, settings, stat)
                    metrics.append([{**entry, "label": m.title.lower()}])
                else:
                    metrics.append(_totals(m, fn, settings, label=m.title.lower()))
            titles = ", ".join(m.title for m in shown)
            if unit == "Milliseconds":
                title = f"{fn.name}: {titles} p99 (ms)"
            else:  # beside the invocations, so a healthy function's failures read 0 of N, not nothing
                metrics.append(
                    ["AWS/Lambda", "Invocations", "FunctionName", settings.name(fn.name), {"label": "invocations"}]
                )
                title = f"{fn.name}: {titles}"
            layout.add(_metric_widget(title, metrics, region, stat=stat), width=12)


def widget_titles(body: dict) -> set[str]:
    """The titles of a dashboard body's widgets (alarm descriptions and runbooks name them)."""
    return {w["properties"]["title"] for w in body["widgets"] if w["properties"].get("title")}


def security(catalog: tuple[Function, ...], settings: Settings, names: StackNames) -> dict:
    layout = Layout()
    region = settings.region
    layout.text(_generated(settings, "security"))
    for fn, metric in _declared(catalog, "security"):
        widgets = _breakdown(metric, fn, settings) if metric.breakdown else [_totals(metric, fn, settings)]
        layout.add(
            _metric_widget(
                f"{metric.title} by {', '.join(metric.breakdown) or 'total'}", widgets, region, stacked=True
            ),
            width=12,
        )
    for acl in names.web_acls:  # each ACL's metrics where WAF publishes them (components/waf.py)
        dims = [x for pair in acl.dimensions.items() for x in pair]
        title = "CloudFront" if acl.scope == "CLOUDFRONT" else "execute-api stage"
        layout.add(
            _metric_widget(
                f"WAF ({title}) allowed and blocked requests",
                [["AWS/WAFV2", "BlockedRequests", *dims], ["AWS/WAFV2", "AllowedRequests", *dims]],
                acl.region,
            ),
            width=12,
        )
    # Every metric reads CallCount: the label names the quota (KMS publishes one metric per quota).
    layout.add(
        _metric_widget(
            "KMS calls per minute",
            [
                [m.namespace, m.name, *[x for pair in m.dimensions.items() for x in pair], {"label": q.title}]
                for q in KMS_QUOTAS
                for m in [kms_usage(q.resource)]
            ],
            region,
            period=60,
        ),
        width=12,
    )
    return {"widgets": layout.widgets}


def metric_count(body: dict) -> int:
    """Metrics a dashboard queries (CloudWatch's limit counts each metric or expression)."""
    return sum(len(w["properties"].get("metrics", [])) for w in body["widgets"] if w["type"] == "metric")


def custom_queries(body: dict) -> set[tuple[str, tuple[str, ...]]]:
    """(metric name, dimension names) of every Serenya metric the dashboard reads."""
    import re

    found: set[tuple[str, tuple[str, ...]]] = set()
    for widget in body["widgets"]:
        for entry in widget["properties"].get("metrics", []) if widget["type"] == "metric" else []:
            if isinstance(entry[0], dict):
                match = re.search(r"\{Serenya,([^}]*)\} MetricName=\"(\w+)\"", entry[0]["expression"])
                if match:
                    found.add((match[2], tuple(match[1].split(","))))
            elif entry[0] == NAMESPACE:
                dims = [d for d in entry[2:] if isinstance(d, str)][::2]
                found.add((entry[1], tuple(dims)))
    return found


def dashboard_url(settings: Settings, name: str, region: str | None = None) -> str:
    region = region or settings.region
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}"
