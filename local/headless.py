"""Headless Chromium (Debian's `chromium`) for the local dashboards: the DOM once a page
has drawn (the tests), and a screenshot of the operations dashboard with traffic (docs).

    python -m local.headless docs/dashboard-operations.png   # make dashboard-screenshot

The screenshot run starts the local stack with SERENYA_LOCAL_PERIOD_S=2 (3 CloudWatch
hours last 72 s), sends about a minute and a half of mixed traffic (sign-ups, sign-ins,
profiles, upload tickets, chat questions, refused tokens) with the model failing for
part of it (/local/faults), and shoots the whole page 1600 px wide; the stack's own output
goes to a log file, so the run prints one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

BROWSERS = ("chromium", "chromium-browser")
BUDGET_MS = 20_000  # virtual time for the page's scripts; drawing takes far less


def chromium() -> str | None:
    """The headless browser on PATH, or None."""
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def _run(url: str, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess:
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="serenya-chromium-") as profile:
        return subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={BUDGET_MS}",
                *flags,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )


def dump_dom(url: str) -> str:
    """The page's DOM after its scripts ran (chromium --dump-dom)."""
    return _run(url, "--dump-dom").stdout


ROW_PX, GAP_PX, HEADER_PX = 40, 8, 90  # local/static/dashboard.css: one grid row, the gap, the header


def page_height(widgets: list[dict]) -> int:
    """Pixels of a dashboard page with these widgets (x, y, width, height on the grid)."""
    rows = max((w["y"] + w["height"] for w in widgets), default=0)
    return HEADER_PX + rows * (ROW_PX + GAP_PX) + 2 * GAP_PX


def screenshot(url: str, path: str, width: int = 1600, height: int = 2400) -> None:
    _run(url, f"--screenshot={os.path.abspath(path)}", f"--window-size={width},{height}")


@contextlib.contextmanager
def quiet(log_path: str):
    """The process's own stdout and stderr (the local stack's request and metric lines, a
    library's warnings) go to `log_path` meanwhile: the screenshot run prints one line."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# -- the documentation screenshot --------------------------------------------------------------


def _call(base: str, method: str, path: str, body=None, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def traffic(base: str, seconds: float, fault_between: tuple[float, float] = (0.6, 1.5)) -> int:
    """Mixed requests for `seconds`, the model failing during `fault_between` (shares of it)."""
    consents = {
        "privacy_policy": {"version": "2025-01", "accepted": True},
        "terms_of_service": {"version": "2025-01", "accepted": True},
    }
    device = {"platform": "ios", "device_id": "screenshot", "app_version": "1.0.0"}
    started, sent, tokens, faulted = time.monotonic(), 0, [], False
    while (elapsed := time.monotonic() - started) < seconds:
        n = sent // 6
        share = elapsed / seconds
        if not faulted and share >= fault_between[0]:
            _call(
                base,
                "POST",
                "/local/faults",
                {"target": "model", "error_rate": 1.0, "seconds": (fault_between[1] - fault_between[0]) * seconds},
            )
            faulted = True
        provider = ("google", "apple")[n % 2]
        sub = f"screenshot-{n % 12}"
        id_token = _call(
            base,
            "POST",
            f"/local/idp/{provider}/token",
            {"sub": sub, "email": f"{sub}@example.com", "name": "Screen Shot"},
        )[1]["id_token"]
        status, answer = _call(
            base,
            "POST",
            "/api/v1/auth/oauth-onboarding",
            {"provider": provider, "id_token": id_token, "device": device, "consents": consents},
        )
        if status in (200, 201):
            tokens.append(answer["access_token"])
        token = tokens[-1] if tokens else None
        # every journey of the operations dashboard: sign-in, upload -> result, chat, subscriptions
        _call(base, "POST", "/api/v1/auth/oauth-signin", {"provider": provider, "id_token": id_token, "device": device})
        _call(base, "GET", "/api/v1/subscriptions", token=token)
        _call(base, "GET", "/api/v1/user/profile", token=token)
        _call(base, "GET", "/api/v1/user/profile", token="not-a-token")
        _call(
            base,
            "POST",
            "/api/v1/process/upload",
            {"content_type": "application/pdf", "file_size": 20_000},
            token=token,
        )
        chat = _call(
            base, "POST", "/api/v1/chat/messages", {"message": "What is a normal ferritin level?"}, token=token
        )
        job = (chat[1] or {}).get("job_id") if isinstance(chat[1], dict) else None
        if job:
            _call(base, "GET", f"/api/v1/chat/status/{job}", token=token)
            _call(base, "GET", f"/api/v1/process/status/{job}", token=token)
            _call(base, "GET", f"/api/v1/process/result/{job}", token=token)
        _call(base, "GET", "/api/v1/chat/prompts", token=token)
        sent += 8 + (3 if job else 0)
        time.sleep(0.3)
    return sent


def main(argv: list[str]) -> int:
    target = argv[1] if len(argv) > 1 else "docs/dashboard-operations.png"
    if chromium() is None:
        print("chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    os.environ.setdefault("SERENYA_LOCAL_PERIOD_S", "2")
    from local.server import LocalStack

    log = os.path.join(tempfile.gettempdir(), "serenya-dashboard-screenshot.log")
    with quiet(log):
        stack = LocalStack(port=0, run_schedules=True).start()  # the canary walks too, as deployed
        try:
            sent = traffic(stack.url, seconds=85)
            time.sleep(2)  # the last jobs finish and the alarms see them
            widgets = _call(stack.url, "GET", "/local/dashboards/operations/data")[1]["widgets"]
            # the whole page, not the first screenful
            screenshot(f"{stack.url}/local/dashboards/operations", target, height=page_height(widgets))
            states = _call(stack.url, "GET", "/local/alarms")[1]
            firing = sorted(a["name"] for a in states["alarms"] if a["state"] == "ALARM")
        finally:
            stack.stop()
    print(f"{sent} requests; {len(widgets)} widgets; alarms in ALARM: {', '.join(firing) or 'none'}; wrote {target}")
    print(f"(the local stack's log: {log})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
