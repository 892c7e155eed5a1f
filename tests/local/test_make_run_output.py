"""What `make run` prints: a readable line per request and the functions' errors; their
JSON log and EMF lines, and the deployment's advice (no alert email), go to the log
file, and --verbose shows them on the console too."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from local.console import FunctionLog, error_line
from local.program import ROOT
from tests.e2e.conftest import CONSENTS, DEVICE

INFO = json.dumps({"level": "INFO", "message": "request answered", "function_name": "serenya-dev-auth"})
ERROR = json.dumps({"level": "ERROR", "message": "request failed", "function_name": "serenya-dev-auth",
                    "route": "POST /api/v1/auth/oauth-onboarding", "exception_name": "ClientError"})
EMF = json.dumps({"_aws": {"Timestamp": 1, "CloudWatchMetrics": []}, "SignIns": [1.0]})


def test_an_error_line_is_readable_and_other_lines_are_not_errors():
    assert error_line(ERROR) == "error serenya-dev-auth POST /api/v1/auth/oauth-onboarding: request failed (ClientError)"
    assert [error_line(line) for line in (INFO, EMF, "plain text", "{not json", "[1]")] == [None] * 5


@pytest.mark.parametrize("verbose", [False, True])
def test_the_function_log_keeps_every_line_and_the_console_what_it_should(verbose):
    file, console = io.StringIO(), io.StringIO()
    log = FunctionLog(file, console, verbose)
    for line in (INFO, EMF, ERROR):
        log.write(line + "\n")
    assert file.getvalue().splitlines() == [INFO, EMF, ERROR]
    expected = [INFO, EMF, ERROR] if verbose else [error_line(ERROR)]
    assert console.getvalue().splitlines() == expected


def _call(url, method, path, body=None, headers=None):
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.mark.parametrize("verbose", [False, True], ids=["default", "verbose"])
def test_make_run_prints_requests_and_errors_and_logs_the_rest_to_its_file(tmp_path, verbose):
    shell = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    log_file = tmp_path / "functions.log"
    process = subprocess.Popen([sys.executable, "-m", "local", "--log-file", str(log_file),
                                *(["--verbose"] if verbose else [])], cwd=ROOT, env={**shell, "PORT": "0"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed, url = [], None
        for line in process.stdout:  # bounded: the process prints its banner or exits
            printed.append(line)
            url = url or (m.group(1) if (m := re.search(r"API\s+(http://[^/\s]+)", line)) else None)
            if "Ctrl-C" in line:
                break
        assert url, "".join(printed)
        assert f"function logs  {log_file}" in "".join(printed)
        drain = threading.Thread(target=lambda: printed.extend(process.stdout), daemon=True)
        drain.start()
        # The authorizer refuses a bad token (its metric: an EMF line); then onboarding with
        # every DynamoDB call failing: a 500 whose error the function logs.
        assert _call(url, "GET", "/api/v1/user/profile", headers={"Authorization": "Bearer x"})[0] == 401
        assert _call(url, "POST", "/local/faults", {"target": "dynamodb", "error_rate": 1, "seconds": 60})[0] == 200
        token = _call(url, "POST", "/local/idp/google/token", {"sub": "console", "email": "c@example.com"})[1]
        status, _ = _call(url, "POST", "/api/v1/auth/oauth-onboarding",
                          {"provider": "google", "id_token": token["id_token"], "device": DEVICE, "consents": CONSENTS})
        assert status == 500
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        drain.join(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
    console = "".join(printed)
    logged = log_file.read_text()
    assert re.search(r"^GET /api/v1/user/profile -> 401 \(\d+ ms\) user_profile$", console, re.M), console
    assert re.search(r"^POST /api/v1/auth/oauth-onboarding -> 500 \(\d+ ms\) auth$", console, re.M), console
    json_lines = [line for line in logged.splitlines() if line.startswith("{")]
    assert any('"_aws"' in line for line in json_lines) and any('"level":"ERROR"' in line for line in json_lines)
    assert "no serenya:alertEmail" in logged  # the deployment's advice: in the file
    if verbose:
        assert all(line in console for line in json_lines) and "no serenya:alertEmail" in console
    else:  # the error as one readable line, instead of its JSON record
        assert re.search(r"^error serenya-dev-auth POST /api/v1/auth/oauth-onboarding: unhandled error \(ClientError\)$",
                         console, re.M), console
        assert [line for line in console.splitlines() if line.startswith("{")] == []
        assert "alertEmail" not in console
        assert "Found endpoint" not in console  # botocore's INFO lines: the file's
