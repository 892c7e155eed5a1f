"""The three CloudWatch dashboards, generated from the catalog: executive, operations,
security. Pure functions returning dashboard bodies; widgets are laid out on
CloudWatch's 24-column grid in rows. Custom metrics are queried with exactly the
dimension sets the functions emit (service, stack, function [+ breakdown]).
"""

from __future__ import annotations

from components.alarms import KMS_QUOTAS, NAMESPACE, Indicator, StackNames, indicators, kms_usage
from components.config import Settings
from components.runbook_text import BUDGET_WIDGET_TITLE
from functions.catalog import CustomMetric, Function, StreamTrigger

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
    layout.text(_generated(settings, "executive") + "\nDistinct active users come from the audit events in Athena.")
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


def operations(catalog: tuple[Function, ...], settings: Settings, names: StackNames, alarm_arns: list[str]) -> dict:
    layout = Layout()
    region = settings.region
    layout.text(_generated(settings, "operations"))
    for start in range(0, len(alarm_arns), 100):  # an alarm widget shows at most 100 alarms
        layout.add(
            {
                "type": "alarm",
                "properties": {
                    "title": "Alarms",
                    "alarms": alarm_arns[start : start + 100],
                    "sortBy": "stateUpdatedTimestamp",
                },
            },
            width=GRID,
            height=4,
        )
    api = ["ApiName", names.api, "Stage", names.stage]
    layout.add(
        _metric_widget(
            "API requests and errors",
            [
                ["AWS/ApiGateway", "Count", *api],
                ["AWS/ApiGateway", "4XXError", *api],
                ["AWS/ApiGateway", "5XXError", *api],
            ],
            region,
        )
    )
    layout.add(
        _metric_widget(
            "API latency p99 (ms)",
            [["AWS/ApiGateway", "Latency", *api], ["AWS/ApiGateway", "IntegrationLatency", *api]],
            region,
            stat="p99",
        )
    )
    table = ["TableName", names.table]
    layout.add(
        _metric_widget(
            "DynamoDB throttles and errors",
            [
                ["AWS/DynamoDB", "ReadThrottleEvents", *table],
                ["AWS/DynamoDB", "WriteThrottleEvents", *table],
                ["AWS/DynamoDB", "UserErrors"],
                # Published per operation only: what table-system-errors watches, one series each.
                [
                    {
                        "expression": f'SEARCH(\'{{AWS/DynamoDB,Operation,TableName}} MetricName="SystemErrors" '
                        f"TableName=\"{names.table}\"', 'Sum', 300)",
                        "id": "system_errors",
                        "label": "SystemErrors ${PROP('Dim.Operation')}",
                    }
                ],
            ],
            region,
        )
    )
    for fn in catalog:
        name = ["FunctionName", settings.name(fn.name)]
        # Expected raises (refused tokens) are inside Errors: show them beside it, as the
        # errors alarms subtract them (components/alarms.failures).
        expected = [
            _totals(m, fn, settings, label=f"{m.name} (inside Errors, never paged)")
            for m in fn.custom_metrics
            if m.function_error
        ]
        layout.add(
            _metric_widget(
                f"{fn.name}: invocations, errors, throttles",
                [
                    ["AWS/Lambda", "Invocations", *name],
                    ["AWS/Lambda", "Errors", *name],
                    ["AWS/Lambda", "Throttles", *name],
                    *expected,
                ],
                region,
            ),
            width=12,
        )
        layout.add(
            _metric_widget(
                f"{fn.name}: duration p99 (timeout {fn.timeout_s}s)",
                [["AWS/Lambda", "Duration", *name]],
                region,
                stat="p99",
            ),
            width=12,
        )
        if isinstance(fn.trigger, StreamTrigger):
            layout.add(
                _metric_widget(
                    f"{fn.name}: stream iterator age (ms)",
                    [["AWS/Lambda", "IteratorAge", *name]],
                    region,
                    stat="Maximum",
                ),
                width=12,
            )
    if any(fn.access.bedrock for fn in catalog):
        model = ["ModelId", settings.bedrock_model_id]
        layout.add(
            _metric_widget(
                "Bedrock invocations, errors, throttles",
                [
                    ["AWS/Bedrock", "Invocations", *model],
                    ["AWS/Bedrock", "InvocationClientErrors", *model],
                    ["AWS/Bedrock", "InvocationServerErrors", *model],
                    ["AWS/Bedrock", "InvocationThrottles", *model],
                ],
                region,
            )
        )
        layout.add(
            _metric_widget(
                "Bedrock latency p99 (ms)", [["AWS/Bedrock", "InvocationLatency", *model]], region, stat="p99"
            )
        )
    for fn, metric in _declared(catalog, "operations"):
        stat = "p99" if metric.unit == "Milliseconds" else "Sum"
        widgets = [_totals(metric, fn, settings)] if not metric.breakdown else _breakdown(metric, fn, settings, stat)
        layout.add(_metric_widget(f"{fn.name}: {metric.title}", widgets, region, stat=stat))
    return {"widgets": layout.widgets}


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
