"""The stack's CloudWatch dashboards, drawn locally from the local metrics.

The bodies are the program's own: the `aws.cloudwatch.Dashboard` resources
`components/observability.py` declares (rendered by `components/dashboards.py`), as the
Pulumi mocks the local stack runs the program under recorded them, with the body
`pulumi up` sends. Each widget of a body is evaluated here, server-side, on the metric
store (local/metric_store.py), metric math (local/metric_math.py), SEARCH
(local/metric_search.py) and the alarm engine (local/alarms.py); the page
(local/static/dashboard.js, plotly.js served from the `plotly` package) only draws.

Routes: GET /local/dashboards (links), /local/dashboards/{name} (the page),
/local/dashboards/{name}/data (what the page draws, JSON) and /local/static/{file}.

Semantics, from https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html:

- Time range: the body's `start` (an ISO 8601 duration before now, default `-PT3H`,
  `?start=-PT1H` to change it), in CloudWatch time: locally `SERENYA_LOCAL_PERIOD_S /
  300` as long (3 h last 6 min by default); a widget's own `start`/`end` (relative)
  replace it for that widget. Each widget obeys its own period (as with
  `periodOverride: inherit`); the range is extended back to the start of the period
  that holds its start, so a bar of a one-day period covers that whole (local) day.
- Metric widgets (`view` timeSeries, singleValue, gauge, bar, pie, table): `metrics`
  (local/widget_metrics.py), `stat` (default Average), `period` (default 300),
  per-metric options (`stat`, `period`, `label`, `color`, `visible`, `yAxis`, `id`),
  expressions with metric math and SEARCH, `stacked`, `yAxis`, `legend`,
  `annotations` (horizontal, vertical, and `alarms`: the alarm's metric and
  threshold), `setPeriodToTimeRange`, `sparkline`; singleValue, gauge, bar and pie show
  each series' latest datapoint (the whole range with `setPeriodToTimeRange`).
  Dynamic labels: ${LABEL}, ${MIN}, ${MAX}, ${AVG}, ${SUM}, ${FIRST}, ${LAST},
  ${DATAPOINT_COUNT} and ${PROP('MetricName' | 'Namespace' | 'Period' | 'Stat' |
  'Region' | 'Dim.<name>')}.
- Alarm status widgets: the alarms named by ARN, in their local state, filtered by
  `states` and sorted by `sortBy` (default: by name; stateUpdatedTimestamp: ALARM,
  then INSUFFICIENT_DATA, then OK, each most recent change first; timestamp: most
  recent change first).
- Text widgets: markdown rendered without raw HTML (markdown-it-py, CommonMark), so a
  body cannot inject markup or script into the page.

A widget that cannot be evaluated (an unknown statistic, an expression error, an
alarm the stack does not define, a widget type not emulated) says why on the page and
in its `error`; it is never dropped silently.
"""

from __future__ import annotations

import html
import importlib.util
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from markdown_it import MarkdownIt

from local import metric_math, metric_search
from local.alarms import ALARM, INSUFFICIENT, OK, AlarmEngine, CompositeAlarm, MetricAlarm
from local.gateway import HttpResponse, json_error
from local.metric_store import MINUTE, MetricStat, MetricStore
from local.metric_store import _key as series_key
from local.widget_metrics import Entry, ExpressionEntry, MetricEntry, MetricsArrayError, resolve

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
DEFAULT_START = "-PT3H"
DEFAULT_STAT, DEFAULT_PERIOD = "Average", 300
VIEWS = ("timeSeries", "singleValue", "gauge", "bar", "pie", "table")
STATIC = Path(__file__).resolve().parent / "static"
_DURATION = re.compile(r"(-?)P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


class WidgetError(ValueError):
    """Why a widget cannot be drawn from the local metrics."""


# -- time -------------------------------------------------------------------------------------


def _offset(text: str) -> int:
    """CloudWatch seconds before now of a relative time (-PT3H, -P1D, -PT15M, -P2W, P0D)."""
    m = _DURATION.fullmatch(text or "") if isinstance(text, str) else None
    if not m or not any(m.groups()[1:]) or (m.group(1) != "-" and any(int(g or 0) for g in m.groups()[1:])):
        raise WidgetError(f"time {text!r}: only a relative time before now (-PT3H, -P1D, ...) is emulated locally")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in m.groups()[1:])
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


def duration_seconds(text: str) -> int:
    """CloudWatch seconds of a relative start such as -PT3H, -P1D, -PT15M, -P2W."""
    total = _offset(text)
    if total < MINUTE:
        raise WidgetError(f"start {text!r}: at least one minute before now")
    return total


@dataclass(frozen=True)
class TimeRange:
    start: float  # store seconds
    end: float
    seconds: int  # CloudWatch seconds

    def until(self, store: MetricStore) -> float:
        """Where queries stop: the end of the minute holding `end`, so that the period in
        progress is shown (the store's windows end before the minute holding their end)."""
        return (store.minute(self.end) + 1) * store.resolution

    def aligned(self, store: MetricStore, period: int) -> float:
        """The start of the period (counted from the epoch on the store's clock) holding `start`."""
        length = store.local_seconds(period)
        return math.floor(self.start / length + 1e-9) * length


def time_range(store: MetricStore, start: str, end: str | None = None) -> TimeRange:
    before, after = duration_seconds(start), _offset(end) if end else 0
    if after >= before:
        raise WidgetError(f"end {end!r} is not after start {start!r}")
    now = store.clock.now()
    return TimeRange(now - store.local_seconds(before), now - store.local_seconds(after), before - after)


def _range_json(store: MetricStore, rng: TimeRange) -> dict:
    return {
        "start": round(rng.start * 1000),
        "end": round(rng.end * 1000),
        "cloudwatch_s": rng.seconds,
        "local_s": store.local_seconds(rng.seconds),
        "scale": store.scale,
    }


# -- metric widgets ---------------------------------------------------------------------------


@dataclass
class Context:
    store: MetricStore
    engine: AlarmEngine
    range: TimeRange | None
    region: str
    range_error: str | None = None  # why the dashboard's own range cannot be used


def _number(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise WidgetError(f"{what} must be a positive whole number of seconds, not {value!r}")
    return int(value)


def _check_period(period: int) -> int:
    if period % MINUTE:
        raise WidgetError(
            f"period {period}: the local store keeps one-minute resolution (high-resolution periods are not emulated)"
        )
    return period


class _Series:
    def __init__(
        self,
        sid: str,
        label: str,
        points: Mapping[float, float],
        options: dict,
        unit: str | None = None,
        props: dict | None = None,
    ):
        self.id, self.label, self.options, self.unit = sid, label, options, unit
        self.points = {t: v for t, v in sorted(points.items()) if math.isfinite(v)}
        self.props = props or {}


def _dynamic_label(label: str, series: _Series) -> str:
    values = list(series.points.values())

    def stat(name: str) -> str:
        if not values and name != "DATAPOINT_COUNT":
            return ""
        number = {
            "MIN": lambda: min(values),
            "MAX": lambda: max(values),
            "SUM": lambda: sum(values),
            "AVG": lambda: sum(values) / len(values),
            "FIRST": lambda: values[0],
            "LAST": lambda: values[-1],
            "DATAPOINT_COUNT": lambda: len(values),
        }[name]()
        return f"{number:.4g}"

    def prop(m: re.Match) -> str:
        return str(series.props.get(m.group(1), m.group(0)))

    label = re.sub(r"\$\{(MIN|MAX|SUM|AVG|FIRST|LAST|DATAPOINT_COUNT)\}", lambda m: stat(m.group(1)), label)
    return re.sub(r"\$\{PROP\('([^']+)'\)\}", prop, label)


def _metric_stat(entry: MetricEntry, props: Mapping, period: int) -> MetricStat:
    stat = entry.options.get("stat") or props.get("stat") or DEFAULT_STAT
    try:
        return MetricStat(entry.namespace, entry.name, dict(entry.dimensions), stat, period)
    except ValueError as e:
        raise WidgetError(str(e)) from None


def _alarm_entries(alarms: list, ctx: Context) -> tuple[list[Entry], list[dict]]:
    """The metrics an alarm graph shows (`annotations.alarms`) and its threshold lines."""
    entries: list[Entry] = []
    lines: list[dict] = []
    for arn in alarms:
        alarm = _alarm_by_arn(ctx.engine, arn)
        if not isinstance(alarm, MetricAlarm):
            raise WidgetError(f"{arn}: an alarm graph needs a metric alarm")
        for q in alarm.queries:
            options = {"id": q.id, "visible": q.return_data, "period": alarm.period, "label": alarm.name}
            if q.metric:
                options["stat"] = q.metric.statistic
                entries.append(
                    MetricEntry(q.metric.namespace, q.metric.name, tuple(q.metric.dimensions.items()), options, q.id)
                )
            else:  # a query without a metric has an expression (alarms.metric_alarm)
                entries.append(ExpressionEntry(cast(str, q.expression), options, q.id))
        lines.append({"value": alarm.threshold, "label": f"{alarm.name} ({alarm.comparison})", "color": "#d62728"})
    return entries, lines


def metric_widget(props: Mapping, ctx: Context) -> dict:
    view = props.get("view", "timeSeries")
    if view not in VIEWS:
        raise WidgetError(f"view {view!r} is not one of {', '.join(VIEWS)}")
    try:
        entries = resolve(props.get("metrics", []))
    except MetricsArrayError as e:
        raise WidgetError(str(e)) from None
    annotations = props.get("annotations") or {}
    horizontal = list(annotations.get("horizontal") or [])
    if annotations.get("alarms"):
        alarm_entries, lines = _alarm_entries(annotations["alarms"], ctx)
        if not entries:
            entries = alarm_entries
        horizontal += lines
    if not entries:
        raise WidgetError("a metric widget needs `metrics` or an alarm annotation")
    widget_period = _number(props.get("period", DEFAULT_PERIOD), "period")
    whole = bool(props.get("setPeriodToTimeRange")) and view in ("singleValue", "bar", "pie")
    rng = ctx.range
    if rng is None:  # widget_data answers it without calling a widget
        raise WidgetError(ctx.range_error)

    # CloudWatch computes such a widget once over the whole range: one period from the
    # range's first minute through the minute in progress, never a last, nearly empty window.
    span = (ctx.store.minute(rng.until(ctx.store)) - ctx.store.minute(rng.start)) * MINUTE

    def period_of(entry) -> int:
        if whole:
            return span
        return _check_period(_number(entry.options.get("period", widget_period), "period"))

    def start_for(period: int) -> float:
        return rng.start if whole else rng.aligned(ctx.store, period)

    stats = {e.id: _metric_stat(e, props, period_of(e)) for e in entries if isinstance(e, MetricEntry)}
    expressions = {e.id: e for e in entries if isinstance(e, ExpressionEntry)}
    results: dict[str, object] = {}
    labels: dict[str, list[str]] = {}  # an expression's per-series labels (SEARCH results)

    def fetch_metric(metric_id: str) -> dict:
        metric = stats[metric_id]
        return ctx.store.query(metric, start_for(metric.period), rng.until(ctx.store)).as_dict()

    def value_of(expr_id: str, evaluating: tuple = ()):
        if expr_id in results:
            return results[expr_id]
        if expr_id in evaluating:
            raise WidgetError(f"expression {expr_id} depends on itself")
        entry = expressions[expr_id]
        period = period_of(entry)
        start = start_for(period)
        grid = [first * ctx.store.resolution for first, _ in ctx.store.windows(period, start, rng.until(ctx.store))]
        text, searched = entry.expression, {}
        try:
            calls = metric_search.find_calls(text)
        except metric_search.SearchError as e:
            raise WidgetError(str(e)) from None
        for n, (begin, end, search) in reversed(list(enumerate(calls))):
            ref = f"search{n}x{expr_id}"
            searched[ref] = search
            text = text[:begin] + ref + text[end:]
        search_labels: dict[str, list[str]] = {}

        def run_search(ref: str) -> list:
            search = searched[ref]
            found = metric_search.run(search, ctx.store.list_metrics())
            search_period = _check_period(search.period or period)
            series = []
            for namespace, name, dims in found:
                try:
                    metric = MetricStat(namespace, name, dims, search.statistic, search_period)
                except ValueError as e:
                    raise WidgetError(str(e)) from None
                series.append(metric_math.TimeSeries(ctx.store.query(metric, start, rng.until(ctx.store)).as_dict()))
            search_labels[ref] = [_search_label(search, name, dims) for _, name, dims in found]
            return series

        def fetch(ref: str):
            if ref in searched:
                return run_search(ref)
            if ref in stats:
                return fetch_metric(ref)
            if ref in expressions:
                return value_of(ref, evaluating + (expr_id,))
            raise metric_math.ExpressionError(f"{ref} is not a metric or expression of this widget")

        try:
            value = metric_math.evaluate(
                metric_math.parse(text),
                grid,
                fetch,
                list(stats),
                period_of=lambda i: stats[i].period if i in stats else period,
                quota_of=lambda i: ctx.engine.quota(stats[i]) if i in stats else None,
            )
        except metric_math.ExpressionError as e:
            raise WidgetError(f"{expr_id}: {e}") from None
        if isinstance(value, list) and len(searched) == 1:
            labels[expr_id] = next(iter(search_labels.values()))
        results[expr_id] = value
        return value

    series: list[_Series] = []
    for entry in entries:
        visible = entry.options.get("visible", True) is not False
        if isinstance(entry, MetricEntry):
            stat = stats[entry.id]
            if not visible:
                continue
            props_of = {
                "MetricName": entry.name,
                "Namespace": entry.namespace,
                "Period": stat.period,
                "Stat": stat.statistic,
                "Region": entry.options.get("region") or props.get("region") or ctx.region,
                **{f"Dim.{k}": v for k, v in entry.dimensions},
            }
            series.append(
                _Series(
                    entry.id,
                    entry.options.get("label") or entry.name,
                    fetch_metric(entry.id),
                    entry.options,
                    ctx.store.units.get(series_key(stat.namespace, stat.name, stat.dimensions)),
                    props_of,
                )
            )
            continue
        value = value_of(entry.id)
        if not visible:
            continue
        given = entry.options.get("label")
        if isinstance(value, metric_math.TimeSeries):
            series.append(_Series(entry.id, given or entry.expression, value.points, entry.options))
        elif isinstance(value, list):
            names = labels.get(entry.id) or [f"{entry.id} {n + 1}" for n in range(len(value))]
            for n, (item, name) in enumerate(zip(value, names, strict=False)):
                label = f"{given} {name}".strip() if given else name
                series.append(
                    _Series(
                        f"{entry.id}_{n}", label, item.points, {**entry.options, "color": None} if n else entry.options
                    )
                )
        else:
            raise WidgetError(f"{entry.id}: {entry.expression!r} gives a number, not a time series")
    units = {s.unit for s in series}
    return {
        "view": view,
        "stacked": bool(props.get("stacked")),
        "legend": (props.get("legend") or {}).get("position"),
        "yAxis": props.get("yAxis") or {},
        "sparkline": bool(props.get("sparkline")),
        "unit": units.pop() if len(units) == 1 else None,
        "period": widget_period,
        "stat": props.get("stat") or DEFAULT_STAT,
        "annotations": {"horizontal": horizontal, "vertical": annotations.get("vertical") or []},
        "series": [
            {
                "id": s.id,
                "label": _dynamic_label(s.label, s),
                "color": s.options.get("color"),
                "yAxis": s.options.get("yAxis", "left"),
                "unit": s.unit,
                "t": [round(t * 1000) for t in s.points],
                "v": list(s.points.values()),
            }
            for s in series
        ],
        "empty": not any(s.points for s in series),
    }


def _search_label(search: metric_search.Search, name: str, dimensions: Mapping[str, str]) -> str:
    """A search result's own label: the values of the dimensions the search did not pin to
    one value, else the metric name."""
    pinned = _pinned(search.terms)
    varying = [v for k, v in dimensions.items() if k not in pinned]
    return " ".join(varying) or name


def _pinned(node) -> set[str]:
    if isinstance(node, metric_search.Term):
        return {node.property} if node.exact and node.property else set()
    if isinstance(node, metric_search.BoolOp) and node.op == "AND":
        return _pinned(node.left) | _pinned(node.right)
    return set()


# -- alarm and text widgets -------------------------------------------------------------------


def _alarm_by_arn(engine: AlarmEngine, arn: str):
    name = arn.split(":alarm:", 1)[1] if isinstance(arn, str) and ":alarm:" in arn else arn
    alarms: tuple[MetricAlarm | CompositeAlarm, ...] = (*engine.metric_alarms, *engine.composites)
    for alarm in alarms:
        if alarm.name == name:
            return alarm
    raise WidgetError(f"{arn}: the stack defines no such alarm")


_STATE_ORDER = {ALARM: 0, INSUFFICIENT: 1, OK: 2}


def alarm_widget(props: Mapping, ctx: Context) -> dict:
    arns = props.get("alarms")
    if not isinstance(arns, list) or not arns:
        raise WidgetError("an alarm widget needs `alarms`, a list of alarm ARNs")
    engine = ctx.engine
    engine.evaluate_due()
    rows = []
    for arn in arns:
        alarm = _alarm_by_arn(engine, arn)
        state = engine.states[alarm.name]
        rows.append(
            {
                "name": alarm.name,
                "state": state.value,
                "reason": state.reason,
                "updated": state.updated,
                "severity": engine.severity(alarm.name),
                "runbook": alarm.runbook,
                "error": engine.errors.get(alarm.name),
            }
        )
    wanted = props.get("states")
    if wanted:
        rows = [r for r in rows if r["state"] in wanted]
    sort_by = props.get("sortBy", "default")
    recent_first = lambda r: -(r["updated"] or 0)  # noqa: E731 - never changed: last
    if sort_by == "stateUpdatedTimestamp":
        rows.sort(key=lambda r: (_STATE_ORDER[r["state"]], recent_first(r), r["name"]))
    elif sort_by == "timestamp":
        rows.sort(key=lambda r: (recent_first(r), r["name"]))
    elif sort_by == "default":
        rows.sort(key=lambda r: r["name"])
    else:
        raise WidgetError(f"sortBy {sort_by!r}: default, stateUpdatedTimestamp or timestamp")
    for r in rows:
        r["updated"] = None if r["updated"] is None else round(r["updated"] * 1000)
    return {"alarms": rows}


def text_widget(props: Mapping, _: Context) -> dict:
    markdown = props.get("markdown")
    if not isinstance(markdown, str):
        raise WidgetError("a text widget needs `markdown`")
    return {"html": _markdown.render(markdown), "background": props.get("background", "solid")}


WIDGETS: dict[str, Callable[[Mapping, Context], dict]] = {
    "metric": metric_widget,
    "alarm": alarm_widget,
    "text": text_widget,
}


def widget_data(widget: Mapping, ctx: Context) -> dict:
    """What the page draws for one widget: its place, title, and data or the error."""
    kind = widget.get("type")
    props = widget.get("properties") or {}
    out = {
        "type": kind,
        "x": widget.get("x", 0),
        "y": widget.get("y", 0),
        "width": widget.get("width", 6),
        "height": widget.get("height", 6),
        "title": props.get("title", ""),
    }
    try:
        if ctx.range is None:
            raise WidgetError(ctx.range_error)
        if props.get("start") or props.get("end"):  # a widget's own time range, independent of the dashboard's
            own = time_range(ctx.store, props.get("start") or DEFAULT_START, props.get("end"))
            ctx = Context(ctx.store, ctx.engine, own, ctx.region)
            out["range"] = _range_json(ctx.store, own)
        if kind not in WIDGETS:
            raise WidgetError(f"widget type {kind!r} is not emulated locally")
        out.update(WIDGETS[kind](props, ctx))
    except (WidgetError, metric_math.ExpressionError, metric_search.SearchError, KeyError, TypeError) as e:
        out["error"] = f"{type(e).__name__}: {e}" if not isinstance(e, WidgetError) else str(e)
    return out


# -- the dashboards of a program run ----------------------------------------------------------


def bodies_of(resources, prefix: str) -> dict[str, tuple[str, dict]]:
    """{short name: (dashboard name, body)} of the dashboards a program run declared
    (`RecordingMocks.of_type`); the short name is the name without the stack's `prefix-`."""
    out = {}
    for r in resources(DASHBOARD):
        name = r.inputs["dashboardName"]
        short = name[len(prefix) + 1 :] if name.startswith(prefix + "-") else name
        out[short] = (name, json.loads(r.inputs["dashboardBody"]))
    return out


@dataclass
class Dashboards:
    deployed: dict[str, tuple[str, dict]]  # short name -> (dashboard name, body), as `bodies_of` gives
    store: MetricStore
    engine: AlarmEngine
    region: str
    env: str

    def __post_init__(self):
        # A one-month bar needs a month of history: keep what the longest period or range
        # asks for (the store's cell cap still bounds its memory).
        for _, body in self.deployed.values():
            self.store.retain(_longest(body))

    @property
    def bodies(self) -> dict[str, dict]:
        return {short: body for short, (_, body) in self.deployed.items()}

    @property
    def names(self) -> dict[str, str]:
        return {short: name for short, (name, _) in self.deployed.items()}

    def data(self, short: str, start: str | None = None) -> dict:
        """What the page draws; a bad `start` asked for raises WidgetError (the request's
        fault), a bad one in the body is every widget's error (the body's)."""
        body = self.bodies[short]
        if start:
            rng, error = time_range(self.store, start), None
        else:
            try:
                rng, error = time_range(self.store, body.get("start") or DEFAULT_START, body.get("end")), None
            except WidgetError as e:
                rng, error = None, str(e)
        ctx = Context(self.store, self.engine, rng, self.region, error)
        shown = rng or time_range(self.store, DEFAULT_START)
        return {
            "name": self.names[short],
            "short": short,
            "range": _range_json(self.store, shown),
            "widgets": [widget_data(w, ctx) for w in body.get("widgets", [])],
        }

    def index_html(self) -> str:
        links = "\n".join(
            f'<li><a href="/local/dashboards/{html.escape(s)}">{html.escape(self.names[s])}</a> '
            f"({len(self.bodies[s].get('widgets', []))} widgets)</li>"
            for s in sorted(self.bodies)
        )
        return _page(
            f"Serenya {self.env}: dashboards",
            f"<h1>Serenya {html.escape(self.env)}: dashboards</h1>"
            f"<p>The dashboards the stack deploys, drawn from the local metrics.</p><ul>{links}</ul>",
        )

    def page_html(self, short: str, start: str | None) -> str:
        payload = json.dumps(self.data(short, start), allow_nan=False)
        # Inside <script type="application/json">: "</" would end the element.
        payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        nav = " · ".join(
            f'<a href="/local/dashboards/{html.escape(s)}"{" aria-current=page" if s == short else ""}>'
            f"{html.escape(s)}</a>"
            for s in sorted(self.bodies)
        )
        body = (
            f'<header><h1>{html.escape(self.names[short])}</h1><nav>{nav} · <a href="/local/dashboards">all</a>'
            f'</nav><p id="range"></p><label><input type="checkbox" id="refresh"> refresh every 10 s</label>'
            f'</header><main id="grid" data-dashboard="{html.escape(short)}"></main>'
            f'<script id="dashboard-data" type="application/json">{payload}</script>'
            f'<script src="/local/static/plotly.min.js"></script><script src="/local/static/dashboard.js"></script>'
        )
        return _page(self.names[short], body)


def _longest(body: Mapping) -> int:
    """CloudWatch seconds of history a body reads: its range, or a widget's longest period."""
    longest: float
    try:
        longest = duration_seconds(body.get("start") or DEFAULT_START)
    except WidgetError:
        longest = duration_seconds(DEFAULT_START)
    for widget in body.get("widgets", []):
        props = widget.get("properties") or {}
        periods = [props.get("period")]
        try:
            periods.append(duration_seconds(props["start"]) if props.get("start") else None)
        except WidgetError:
            pass
        for entry in props.get("metrics") or [] if isinstance(props.get("metrics"), list) else []:
            options = entry[-1] if isinstance(entry, list) and entry and isinstance(entry[-1], dict) else {}
            periods.append(options.get("period"))
            periods += [int(p) for p in re.findall(r"SEARCH\(.*?,\s*(\d+)\s*\)", options.get("expression", ""))]
        longest = max([longest, *(p for p in periods if isinstance(p, (int, float)) and not isinstance(p, bool))])
    return int(longest)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="/local/static/dashboard.css"></head><body>{body}</body></html>'
    )


def plotly_js() -> Path:
    """plotly.min.js as the `plotly` package ships it (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed (make install)")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


STATIC_FILES = {
    "plotly.min.js": ("application/javascript", plotly_js),
    "dashboard.js": ("application/javascript", lambda: STATIC / "dashboard.js"),
    "dashboard.css": ("text/css", lambda: STATIC / "dashboard.css"),
}
# The page runs only the local scripts; plotly.js adds <style> elements and inline styles.
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


# -- routes -----------------------------------------------------------------------------------


def _html(text: str) -> HttpResponse:
    return HttpResponse(200, dict(PAGE_HEADERS), text.encode())


def routes(dashboards: Dashboards) -> tuple[Callable, Callable, Callable]:
    """The handlers of GET /local/dashboards, /local/dashboards/{name}[/data] and /local/static/{file}."""

    def index(_request) -> HttpResponse:
        return _html(dashboards.index_html())

    def one(request) -> HttpResponse:
        rest = request.path[len("/local/dashboards/") :]
        short, _, tail = rest.partition("/")
        if short not in dashboards.deployed or tail not in ("", "data"):
            return json_error(
                404,
                "dashboard_not_found",
                f"no dashboard {short!r}; the stack has {', '.join(sorted(dashboards.deployed))}",
                "local",
            )
        start = (request.query.get("start") or [None])[-1]
        try:
            if tail == "data":
                return HttpResponse(
                    200,
                    {"Content-Type": "application/json", "Cache-Control": "no-store"},
                    json.dumps(dashboards.data(short, start), allow_nan=False).encode(),
                )
            return _html(dashboards.page_html(short, start))
        except WidgetError as e:  # a bad ?start=
            return json_error(400, "invalid_request", str(e), "local")

    def static(request) -> HttpResponse:
        entry = STATIC_FILES.get(request.path[len("/local/static/") :])
        if entry is None:
            return json_error(404, "not_found", f"no local static file {request.path}", "local")
        content_type, path = entry
        return HttpResponse(
            200,
            {
                "Content-Type": f"{content_type}; charset=utf-8",
                "Cache-Control": "max-age=3600",
                "X-Content-Type-Options": "nosniff",
            },
            path().read_bytes(),
        )

    return index, one, static
