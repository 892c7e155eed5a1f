"""The dashboards in a real browser: each page of the local stack, opened in headless
Chromium after some traffic, draws every widget of the body the program deploys."""

import json
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pytest

from functions.catalog import CATALOG, ScheduleTrigger
from local import headless

needs_chromium = pytest.mark.skipif(
    headless.chromium() is None,
    reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)")


class Widgets(HTMLParser):
    """The widget sections of a dumped page, with their data-* attributes."""

    def __init__(self):
        super().__init__()
        self.sections, self.grid = [], {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "data-widget-index" in attrs:
            self.sections.append(attrs)
        if attrs.get("id") == "grid":
            self.grid = attrs


def get(stack, path):
    try:
        with urllib.request.urlopen(stack.url + path, timeout=30) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


@pytest.fixture(scope="module")
def traffic(client):
    token = client.onboard("google", "dashboards-1")[1]["access_token"]
    client.onboard("apple", "dashboards-2")
    assert client.call("GET", "/api/v1/user/profile", token=token)[0] == 200
    assert client.call("GET", "/api/v1/user/profile", token="not-a-token")[0] == 401
    assert client.call("POST", "/api/v1/process/upload", {"content_type": "application/pdf", "file_size": 1000},
                       token=token)[0] == 201
    return token


def test_the_index_links_every_dashboard_and_unknown_ones_are_404(stack, traffic):
    status, kind, body = get(stack, "/local/dashboards")
    assert status == 200 and kind.startswith("text/html")
    for short in ("executive", "operations", "security"):
        assert f'href="/local/dashboards/{short}"'.encode() in body
    status, kind, body = get(stack, "/local/dashboards/finance")
    assert status == 404 and kind == "application/json"
    assert json.loads(body)["error"]["code"] == "dashboard_not_found"


def test_the_data_is_the_traffic_just_sent(stack, traffic):
    data = json.loads(get(stack, "/local/dashboards/operations/data")[2])
    api = next(w for w in data["widgets"] if w["title"] == "API requests and errors")
    counts = {s["label"]: sum(s["v"]) for s in api["series"]}
    assert counts["requests"] >= 4 and counts["4XX"] >= 1
    rejected = next(w for w in json.loads(get(stack, "/local/dashboards/security/data")[2])["widgets"]
                    if w["title"].startswith("Rejected access tokens"))
    assert not rejected["empty"]


@needs_chromium
@pytest.mark.parametrize("short", ["executive", "operations", "security"])
def test_every_widget_of_the_deployed_body_is_drawn_in_chromium(stack, traffic, short):
    body = stack.dashboards.bodies[short]
    page = Widgets()
    page.feed(headless.dump_dom(f"{stack.url}/local/dashboards/{short}"))
    assert page.grid.get("data-complete") == "true"
    assert len(page.sections) == len(body["widgets"]) == int(page.grid["data-widgets"])
    assert [s.get("data-error") for s in page.sections if s.get("data-rendered") != "true"] == []
    assert [s["data-widget-type"] for s in page.sections] == [w["type"] for w in body["widgets"]]
    # Traffic was sent: some metric widgets have data, drawn as such.
    drawn = [s for s in page.sections if s["data-widget-type"] == "metric" and s.get("data-empty") != "true"]
    assert drawn


@needs_chromium
def test_no_operations_widget_is_empty_under_traffic_of_every_journey(stack, traffic):
    headless.traffic(stack.url, seconds=8, fault_between=(2.0, 2.0))  # every journey, no fault
    body = stack.dashboards.bodies["operations"]
    scheduled = {fn.name for fn in CATALOG if isinstance(fn.trigger, ScheduleTrigger)}  # not run locally
    page = Widgets()
    page.feed(headless.dump_dom(f"{stack.url}/local/dashboards/operations"))
    assert page.grid.get("data-complete") == "true"
    assert page.sections[0]["data-widget-type"] == "alarm"
    titles = [w["properties"].get("title", "") for w in body["widgets"]]
    empty = [titles[int(s["data-widget-index"])] for s in page.sections if s.get("data-empty") == "true"]
    assert [t for t in empty if t.split(":")[0] not in scheduled] == []
