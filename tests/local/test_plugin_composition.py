"""The server composes its stand-ins: in order, each stop bounded, a failed start undone."""

import json
import socket
import threading
import urllib.request
from contextlib import ExitStack

import pytest

from local import server
from local.gateway import HttpResponse
from local.plugins import Route, StackContext, StandIn
from local.server import LocalStack


class Recorder(StandIn):
    def __init__(self, name, log, fail=False, hang=None, routes=()):
        super().__init__()
        self.name, self._log, self._fail, self._hang, self._routes = name, log, fail, hang, routes

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        self._log.append(f"start {self.name}")
        undo.callback(self._log.append, f"undo {self.name}")
        if self._fail:
            raise RuntimeError(f"{self.name} cannot start")

    def routes(self):
        return self._routes

    def stop(self) -> None:
        if self._hang:
            self._hang.wait()
        super().stop()


def composed(*plugins):
    stack = LocalStack(port=0)
    stack.plugins = plugins
    return stack


def port_is_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_plugins_start_in_order_and_stop_in_reverse():
    log = []
    stack = composed(Recorder("a", log), Recorder("b", log), Recorder("c", log)).start()
    stack.stop()
    assert log == ["start a", "start b", "start c", "undo c", "undo b", "undo a"]
    assert port_is_free(stack.port)
    stack.stop()  # a second stop has nothing left to stop
    assert log[-1] == "undo a" and len(log) == 6


def test_a_failed_start_undoes_itself_and_stops_what_started_before_it():
    log = []
    stack = composed(Recorder("a", log), Recorder("b", log), Recorder("bad", log, fail=True), Recorder("c", log))
    with pytest.raises(RuntimeError, match="bad cannot start"):
        stack.start()
    assert log == ["start a", "start b", "start bad", "undo bad", "undo b", "undo a"]
    assert port_is_free(stack.port)


def test_a_hanging_stop_is_abandoned_and_the_others_still_stop(monkeypatch):
    monkeypatch.setattr(server, "STOP_LIMIT_S", 0.2)
    log, release = [], threading.Event()
    stack = composed(Recorder("a", log), Recorder("stuck", log, hang=release), Recorder("c", log)).start()
    try:
        with pytest.raises(RuntimeError, match="stuck still stopping after 0.2 s"):
            stack.stop()
        assert log[-2:] == ["undo c", "undo a"]
    finally:
        release.set()


def test_local_routes_reach_their_plugin_and_one_path_has_one_owner():
    answer = Route("GET", "/local/echo", lambda r: HttpResponse(200, {}, json.dumps(r.path).encode()))
    tokens = Route("GET", "/local/tokens/", lambda r: HttpResponse(200, {}, b"{}"), prefix=True)
    stack = composed(Recorder("a", [], routes=(answer, tokens))).start()
    try:
        with urllib.request.urlopen(stack.url + "/local/echo", timeout=5) as response:
            assert json.loads(response.read()) == "/local/echo"
        assert stack.loggable_path("/local/tokens/secret-123") == "/local/tokens/{redacted}"
        assert stack.loggable_path("/local/nothing") == "/local/{unknown}"
    finally:
        stack.stop()
    log = []
    clash = composed(Recorder("a", log, routes=(answer,)), Recorder("b", log, routes=(answer,)))
    with pytest.raises(ValueError, match="b: GET /local/echo is already routed"):
        clash.start()
    assert log[-2:] == ["undo b", "undo a"]


def test_routes_outside_local_are_refused():
    stack = composed(Recorder("a", [], routes=(Route("GET", "/api/v1/x", lambda r: None),)))
    with pytest.raises(ValueError, match="under /local/"):
        stack.start()
