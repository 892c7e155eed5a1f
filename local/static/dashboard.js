// Draws a dashboard of the local stack from what /local/dashboards/{name}/data computed
// (embedded in the page as JSON). Every widget gets data-rendered="true" once drawn, or
// data-error with the reason; the grid gets data-complete="true" when all are done.
(function () {
  "use strict";

  var grid = document.getElementById("grid");
  var STATE_CLASS = { ALARM: "alarm", OK: "ok", INSUFFICIENT_DATA: "insufficient" };
  var CONFIG = { displayModeBar: false, responsive: true };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function duration(seconds) {
    if (seconds >= 86400 && seconds % 86400 === 0) return seconds / 86400 + " d";
    if (seconds >= 3600 && seconds % 3600 === 0) return seconds / 3600 + " h";
    if (seconds >= 60) return Math.round(seconds / 60 * 10) / 10 + " min";
    return Math.round(seconds * 10) / 10 + " s";
  }

  function describeRange(range) {
    return "Last " + duration(range.cloudwatch_s) + " of CloudWatch time, " + duration(range.local_s) +
      " locally (one CloudWatch minute lasts " + duration(60 * range.scale) + "); as of " +
      new Date(range.end).toLocaleTimeString() + ".";
  }

  function latest(series) {
    return series.v.length ? series.v[series.v.length - 1] : null;
  }

  function format(value, unit) {
    if (value === null || value === undefined) return "no data";
    var text = Math.abs(value) >= 1000 || Number.isInteger(value) ? value.toLocaleString() : value.toPrecision(4);
    return unit && unit !== "None" && unit !== "Count" ? text + " " + unit : text;
  }

  function axisTitle(data, side) {
    var axis = (data.yAxis && data.yAxis[side]) || {};
    if (axis.label) return axis.label;
    return side === "left" && data.unit && data.unit !== "None" && axis.showUnits !== false ? data.unit : "";
  }

  function axis(data, side) {
    var spec = (data.yAxis && data.yAxis[side]) || {};
    var out = { title: { text: axisTitle(data, side) }, rangemode: "tozero", zeroline: true, automargin: true };
    if (spec.min !== undefined || spec.max !== undefined) {
      out.range = [spec.min !== undefined ? spec.min : 0, spec.max !== undefined ? spec.max : null];
      out.autorange = spec.max === undefined ? "max" : false;
    }
    return out;
  }

  function baseLayout(data) {
    return {
      margin: { l: 48, r: 16, t: 8, b: 8 }, autosize: true, font: { size: 11 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      showlegend: data.legend !== "hidden",
      legend: data.legend === "right" ? { orientation: "v" } : { orientation: "h", y: -0.2, yanchor: "top" }
    };
  }

  function noData(layout) {
    layout.annotations = (layout.annotations || []).concat([{
      text: "No data for this time range", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
      font: { size: 13, color: "#687078" } }]);
    return layout;
  }

  function timeSeries(node, data, range) {
    var right = data.series.some(function (s) { return s.yAxis === "right"; });
    var traces = data.series.map(function (s) {
      var trace = {
        type: "scatter", name: s.label, x: s.t.map(function (t) { return new Date(t); }), y: s.v,
        mode: s.v.length < 3 ? "lines+markers" : "lines", line: { width: 1.5 }, yaxis: s.yAxis === "right" ? "y2" : "y"
      };
      if (s.color) { trace.line.color = s.color; trace.marker = { color: s.color }; }
      if (data.stacked) { trace.stackgroup = s.yAxis === "right" ? "right" : "left"; }
      return trace;
    });
    var layout = baseLayout(data);
    // A period longer than the range starts before it (its datapoint is labelled with its start).
    var first = data.series.reduce(function (low, s) { return s.t.length ? Math.min(low, s.t[0]) : low; }, range.start);
    layout.xaxis = { type: "date", range: [new Date(first), new Date(range.end)], automargin: true };
    layout.yaxis = axis(data, "left");
    if (right) { layout.yaxis2 = Object.assign(axis(data, "right"), { overlaying: "y", side: "right" }); }
    layout.shapes = [];
    layout.annotations = [];
    (data.annotations.horizontal || []).forEach(function (a) {
      var band = Array.isArray(a);
      var first = band ? a[0] : a;
      if (first.visible === false) return;
      var yref = first.yAxis === "right" ? "y2" : "y";
      var color = first.color || "#d62728";
      if (band) {
        layout.shapes.push({ type: "rect", xref: "paper", x0: 0, x1: 1, yref: yref, y0: a[0].value, y1: a[1].value,
          fillcolor: color, opacity: 0.15, line: { width: 0 } });
      } else {
        layout.shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: yref, y0: a.value, y1: a.value,
          line: { color: color, width: 1, dash: "dash" } });
      }
      if (first.label) {
        layout.annotations.push({ xref: "paper", x: 1, xanchor: "right", yref: yref, y: first.value,
          yanchor: "bottom", text: first.label, showarrow: false, font: { size: 10, color: color } });
      }
    });
    (data.annotations.vertical || []).forEach(function (a) {
      var spec = Array.isArray(a) ? a[0] : a;
      if (spec.visible === false) return;
      layout.shapes.push({ type: "line", yref: "paper", y0: 0, y1: 1, xref: "x", x0: spec.value, x1: spec.value,
        line: { color: spec.color || "#7f7f7f", width: 1 } });
    });
    if (data.empty) noData(layout);
    return Plotly.newPlot(node, traces, layout, CONFIG);
  }

  function singleValue(node, data, gauge) {
    var n = Math.max(data.series.length, 1);
    var spark = data.sparkline && !gauge;
    var traces = [];
    data.series.forEach(function (s, i) {
      var value = latest(s);
      var domain = { x: [i / n + 0.01, (i + 1) / n - 0.01], y: spark ? [0.35, 1] : [0, 1] };
      var unit = data.unit && data.unit !== "None" && data.unit !== "Count" ? " " + data.unit : "";
      var trace = { type: "indicator", mode: gauge ? "gauge+number" : "number", domain: domain,
        title: { text: s.label, font: { size: 12 } }, number: { suffix: unit, font: { size: gauge ? 22 : 30 } } };
      if (value === null) {
        trace.mode = gauge ? "gauge" : "number";
        trace.number = { valueformat: "", font: { size: 1, color: "rgba(0,0,0,0)" } };
        trace.title.text = s.label + "<br><span style='color:#687078'>no data</span>";
      } else {
        trace.value = value;
      }
      if (gauge) {
        var left = (data.yAxis && data.yAxis.left) || {};
        trace.gauge = { axis: { range: [left.min !== undefined ? left.min : 0, left.max !== undefined ? left.max : 100] },
          bar: { color: s.color || "#1f77b4" } };
      } else if (s.color) {
        trace.number.font.color = s.color;
      }
      traces.push(trace);
      if (spark) {
        traces.push({ type: "scatter", mode: "lines", x: s.t.map(function (t) { return new Date(t); }), y: s.v,
          xaxis: "x" + (i + 1), yaxis: "y" + (i + 1), line: { color: s.color || "#1f77b4", width: 1 },
          hoverinfo: "y", showlegend: false });
      }
    });
    var layout = baseLayout(data);
    layout.showlegend = false;
    layout.margin = { l: 8, r: 8, t: 24, b: 8 };
    if (spark) {
      data.series.forEach(function (s, i) {
        var suffix = i ? String(i + 1) : "";
        layout["xaxis" + suffix] = { domain: [i / n + 0.02, (i + 1) / n - 0.02], anchor: "y" + (i + 1), visible: false };
        layout["yaxis" + suffix] = { domain: [0, 0.3], anchor: "x" + (i + 1), visible: false };
      });
    }
    if (!data.series.length) noData(layout);
    return Plotly.newPlot(node, traces, layout, CONFIG);
  }

  function bar(node, data) {
    var shown = data.series;
    var traces = shown.map(function (s) {
      var value = latest(s);
      var trace = { type: "bar", name: s.label, x: [s.label], y: [value === null ? 0 : value],
        text: [format(value, data.unit)], textposition: "auto" };
      if (s.color) trace.marker = { color: s.color };
      return trace;
    });
    var layout = baseLayout(data);
    layout.showlegend = false;
    layout.xaxis = { automargin: true };
    layout.yaxis = axis(data, "left");
    if (data.empty) noData(layout);
    return Plotly.newPlot(node, traces, layout, CONFIG);
  }

  function pie(node, data) {
    var withData = data.series.filter(function (s) { return latest(s) !== null; });
    var traces = [{ type: "pie", labels: withData.map(function (s) { return s.label; }),
      values: withData.map(latest), sort: false, textinfo: "label+value",
      marker: { colors: withData.map(function (s) { return s.color || null; }) } }];
    var layout = baseLayout(data);
    if (data.empty) noData(layout);
    return Plotly.newPlot(node, traces, layout, CONFIG);
  }

  function table(node, data) {
    var stamps = [];
    data.series.forEach(function (s) { s.t.forEach(function (t) { if (stamps.indexOf(t) < 0) stamps.push(t); }); });
    stamps.sort(function (a, b) { return b - a; });
    stamps = stamps.slice(0, 12);
    var tableEl = el("table", "values");
    var head = el("tr");
    head.appendChild(el("th", null, "Label"));
    stamps.forEach(function (t) { head.appendChild(el("th", null, new Date(t).toLocaleTimeString())); });
    tableEl.appendChild(head);
    data.series.forEach(function (s) {
      var row = el("tr");
      row.appendChild(el("th", null, s.label));
      stamps.forEach(function (t) {
        var at = s.t.indexOf(t);
        row.appendChild(el("td", null, at < 0 ? "" : format(s.v[at], s.unit)));
      });
      tableEl.appendChild(row);
    });
    node.appendChild(tableEl);
    if (data.empty) node.appendChild(el("p", "nodata", "No data for this time range"));
    return Promise.resolve();
  }

  function alarms(node, data) {
    // Tiles, as the console draws an alarm status widget: the state, then the name.
    var list = el("ul", "alarms");
    if (!data.alarms.length) node.appendChild(el("p", "nodata", "No alarms in the states shown"));
    data.alarms.forEach(function (a) {
      var tile = el("li", "state-" + (STATE_CLASS[a.state] || "insufficient") + " severity-" + a.severity);
      tile.title = a.name + " (" + a.severity + ")\n" + a.reason +
        (a.updated ? "\nchanged " + new Date(a.updated).toLocaleTimeString() : "");
      tile.appendChild(el("span", "badge", a.state === "INSUFFICIENT_DATA" ? "INSUFFICIENT" : a.state));
      tile.appendChild(el("span", "severity", a.severity));
      tile.appendChild(el("span", "name", a.name));
      list.appendChild(tile);
    });
    node.appendChild(list);
    return Promise.resolve();
  }

  function text(node, data) {
    node.classList.add("markdown", data.background === "transparent" ? "transparent" : "solid");
    node.innerHTML = data.html; // rendered server-side by markdown-it without raw HTML
    return Promise.resolve();
  }

  var METRIC_VIEWS = {
    timeSeries: timeSeries,
    singleValue: function (node, data) { return singleValue(node, data, false); },
    gauge: function (node, data) { return singleValue(node, data, true); },
    bar: bar, pie: pie, table: table
  };

  function drawWidget(section, body, w, range) {
    if (w.error) return Promise.reject(new Error(w.error));
    if (w.type === "text") return text(body, w);
    if (w.type === "alarm") return alarms(body, w);
    if (w.type === "metric") return METRIC_VIEWS[w.view](body, w, range);
    return Promise.reject(new Error("widget type " + w.type + " is not drawn"));
  }

  function render(payload) {
    document.getElementById("range").textContent = describeRange(payload.range);
    Array.prototype.forEach.call(grid.querySelectorAll(".js-plotly-plot"), function (n) { Plotly.purge(n); });
    grid.textContent = "";
    grid.dataset.complete = "false";
    grid.dataset.widgets = String(payload.widgets.length);
    var drawn = payload.widgets.map(function (w, index) {
      var section = el("section", "widget widget-" + w.type);
      section.dataset.widgetIndex = String(index);
      section.dataset.widgetType = w.type;
      if (w.view) section.dataset.view = w.view;
      section.style.gridColumn = (w.x + 1) + " / span " + w.width;
      section.style.gridRow = (w.y + 1) + " / span " + w.height;
      if (w.title) section.appendChild(el("h2", null, w.title));
      var body = el("div", "body");
      section.appendChild(body);
      grid.appendChild(section);
      return Promise.resolve().then(function () { return drawWidget(section, body, w, w.range || payload.range); })
        .then(function () {
          section.dataset.rendered = "true";
          if (w.empty) section.dataset.empty = "true";
        }, function (error) {
          section.dataset.rendered = "false";
          section.dataset.error = String(error && error.message || error);
          body.textContent = "";
          body.appendChild(el("p", "error", section.dataset.error));
        });
    });
    return Promise.all(drawn).then(function () { grid.dataset.complete = "true"; });
  }

  var timer = null;
  document.getElementById("refresh").addEventListener("change", function (event) {
    if (timer) { clearInterval(timer); timer = null; }
    if (!event.target.checked) return;
    timer = setInterval(function () {
      fetch("/local/dashboards/" + encodeURIComponent(grid.dataset.dashboard) + "/data" + location.search)
        .then(function (r) { return r.json(); }).then(render);
    }, 10000);
  });

  render(JSON.parse(document.getElementById("dashboard-data").textContent));
})();
