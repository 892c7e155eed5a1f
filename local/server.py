"""The local stack: the whole backend on one address and port with no AWS account.

This module composes the stand-ins (local/plugins/): moto provisioned by the Pulumi
program, the identity providers and app stores, the functions in-process, API Gateway,
the triggers, the metrics, alarms and dashboards, the fault injector. It binds the
HTTP port, starts them in order, routes `/local/...` to the routes they declare and
everything else to the gateway, and stops them in reverse order, each stop bounded.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from components.config import ROOT
from functions.catalog import CATALOG, Function
from local.gateway import HttpResponse, json_error
from local.metric_store import MetricStore, local_scale
from local.plugins import LocalRequest, Plugin, RouteTable, StackContext
from local.plugins.accounts import WEBHOOK, IdentityPlugin, StoresPlugin
from local.plugins.aws import MotoPlugin
from local.plugins.health import HealthPlugin
from local.plugins.lambdas import FunctionsPlugin, GatewayPlugin, TriggersPlugin
from local.plugins.observability import AlarmsPlugin, DashboardsPlugin, FaultsPlugin, MetricsPlugin
from local.plugins.uploads import UploadsPlugin
from local.runtime import Resolver

ACCESS_LOG = logging.getLogger("local.access")  # not under "serenya": that is the functions' logger
LOG = logging.getLogger("local")
# http.server's refusals of requests it cannot read, as (status, code, message).
LOCAL_REFUSALS = {
    431: (413, "payload_too_large", "request headers are too large"),
    414: (414, "uri_too_long", "the request line is too long"),
    400: (400, "bad_request", "the request could not be read"),
    505: (505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served"),
    413: (413, "payload_too_large", "the request body is larger than anything the stack takes"),
    411: (400, "bad_request", "the request's Content-Length or chunked encoding could not be read"),
}
# The largest body read: a 10 MiB upload (the ticket's limit, API Gateway's) with its form
# fields, with room to spare. Larger is refused before it is read.
MAX_BODY_BYTES = 11 * 1024 * 1024
# How long one stand-in's stop may take before the next one stops anyway. The slow ones
# (the alarm ticker, each poller, moto) wait 5 s at most for their threads.
STOP_LIMIT_S = 10
EXPOSED_WARNING = (
    "WARNING: the local stack listens on {host}, beyond this machine: anyone who can reach "
    "{url} can sign in as anyone (its identity provider signs any subject), grant premium, "
    "inject faults and read every user's data. It has none of the production stack's "
    "security (no TLS, no WAF, no throttling, local keys). Use it on a network you trust only."
)


def exposure_warning(host: str, url: str) -> str | None:
    """The warning for a bind beyond loopback, or None on loopback."""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:  # a host name: it may resolve to any interface
        pass
    return EXPOSED_WARNING.format(host=host, url=url)


OPENAPI_PATH = "/openapi.json"  # docs/openapi.json, served for client generators (API.md)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 reset connections when 20-40 requests came at
    # once (an adversarial review's bursts); API Gateway queues far more.
    request_queue_size = 128


class LocalStack:
    """One per process: moto's state is process-wide."""

    def __init__(
        self,
        port: int = 8080,
        host: str = "127.0.0.1",
        stack: str = "dev",
        catalog: tuple[Function, ...] = CATALOG,
        resolve: Resolver | None = None,
        background: bool = True,
        role_client_hook: Callable[[object], None] | None = None,
        config: dict[str, str] | None = None,
        public_url: str | None = None,
        run_schedules: bool = False,
    ):
        """`background=False` leaves the pollers and the alarm ticker to the caller
        (`poll_once`, `alarms.evaluate_due`), for tests. `role_client_hook` sees each
        client the trigger stand-ins make calls with a function's role (stream reads,
        failure queues) before it is used. `config` replaces keys of Pulumi.<stack>.yaml
        (values as Pulumi passes them: JSON strings). `public_url` is where clients reach
        the stack (a phone, an emulator): the URLs it hands out name it; default `url`.
        `run_schedules` runs the canary on its (scaled) schedule in the background."""
        self.host, self.port, self.stack = host, port, stack
        self._public_url = public_url.rstrip("/") if public_url else None
        self.background = background
        self.catalog = catalog
        self.statuses: Counter[int] = Counter()  # every answer the HTTP server gave, by status
        self._statuses_lock = threading.Lock()
        self.metrics = MetricStore(local_scale(os.environ.get("SERENYA_LOCAL_PERIOD_S")))
        self.routes = RouteTable()
        self._http: ThreadingHTTPServer | None = None
        self._started: list[Plugin] = []
        # The wiring: each stand-in gets the ones it uses; they start in this order.
        self._moto = MotoPlugin(config or {})
        self._identity = IdentityPlugin(self._moto)
        self._stores = StoresPlugin(self._moto, self._identity, self._deliver_to_webhook)
        self._metrics = MetricsPlugin(self._moto, self.metrics)
        self._faults = FaultsPlugin(self._moto, self._metrics, int(os.environ.get("SERENYA_LOCAL_FAULT_SEED") or 0))
        self._functions = FunctionsPlugin(
            self._moto, self._metrics, self._faults, resolve, (self._identity, self._stores)
        )
        self._gateway = GatewayPlugin(self._moto, self._functions, self._metrics)
        self._uploads = UploadsPlugin(self._moto)
        self._triggers = TriggersPlugin(self._moto, self._functions, role_client_hook, run_schedules)
        self._alarms = AlarmsPlugin(self._moto, self._metrics)
        self._dashboards = DashboardsPlugin(self._moto, self._metrics, self._alarms)
        self.plugins: tuple[Plugin, ...] = (
            self._moto,
            self._identity,
            self._stores,
            self._metrics,
            self._faults,
            self._functions,
            self._gateway,
            self._uploads,
            self._triggers,
            self._alarms,
            self._dashboards,
            HealthPlugin(self._moto, self._triggers, self._alarms),
        )

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> LocalStack:
        # Bind first: the identity provider's URLs name the port.
        http = _Server((self.host, self.port), _handler_for(self))
        self.port = http.server_address[1]
        warning = exposure_warning(self.host, self.public_url)
        if warning:
            LOG.warning("%s", warning)
        context = StackContext(self.stack, self.host, self.url, self.public_url, self.catalog, self.background)
        try:
            for plugin in self.plugins:
                plugin.start(context)
                self._started.append(plugin)
                for route in plugin.routes():
                    self.routes.add(plugin.name, route)
        except BaseException:
            for failure in self._stop_started():
                LOG.error("while undoing a failed start: %s", failure)
            http.server_close()
            raise
        self._http = http
        threading.Thread(target=http.serve_forever, name="http", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stops serving, then each stand-in in reverse order; raises after all stopped
        if any of them failed or overran STOP_LIMIT_S."""
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
        failures = self._stop_started()
        if http is not None:
            http.server_close()
        if failures:
            raise RuntimeError("the local stack did not stop cleanly: " + "; ".join(failures))

    def _stop_started(self) -> list[str]:
        failures = []
        while self._started:
            plugin = self._started.pop()
            failure = _bounded_stop(plugin)
            if failure:
                failures.append(failure)
        self.routes = RouteTable()
        return failures

    @property
    def url(self) -> str:
        """Where this machine reaches the server (a wildcard bind answers on loopback too)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://{host}:{self.port}"

    @property
    def public_url(self) -> str:
        return self._public_url or self.url

    # -- what the stand-ins expose (tests, `make run`) ----------------------------
    @property
    def program(self):
        return self._moto.program

    @property
    def aws_endpoint_url(self) -> str:
        return self._moto.endpoint_url

    @property
    def region(self) -> str:
        return self._moto.region

    @property
    def s3_post_policy(self):
        return self._moto.s3_post_policy

    @property
    def identity(self):
        return self._identity.provider

    @property
    def store(self):
        return self._stores.store

    @property
    def telemetry(self):
        return self._metrics.telemetry

    @property
    def faults(self):
        return self._faults.faults

    @property
    def functions(self):
        return self._functions.functions

    @property
    def gateway(self):
        return self._gateway.gateway

    @property
    def pollers(self) -> list:
        return self._triggers.pollers

    @property
    def schedules(self) -> dict:
        """The rate schedules (the canary's), by function: `poll_once()` runs one now."""
        return self._triggers.schedules

    def failure_queue_url(self, function: str) -> str:
        return self._triggers.failure_queue_url(function)

    @property
    def alarms(self):
        return self._alarms.alarms

    @property
    def dashboards(self):
        return self._dashboards.dashboards

    # -- requests ------------------------------------------------------------------
    def _deliver_to_webhook(self, headers: dict[str, str], body: bytes) -> HttpResponse:
        """A store's notification, handed to the API as the store's POST would be."""
        return self._gateway.handle(LocalRequest("POST", WEBHOOK, {}, headers, body))

    def loggable_path(self, path: str) -> str:
        """What the access log may show of a path: an API route's template, a local route
        as registered, a local prefix route's prefix; never the variable parts (job ids,
        purchase tokens) nor an unmatched path (which could be anything)."""
        if path == OPENAPI_PATH:
            return path
        if path.startswith("/local/"):
            return self.routes.loggable(path)
        return self._gateway.template(path) or "{unknown path}"

    def loggable_function(self, method: str, path: str) -> str:
        """The function an API request went to, for the access log ("" for the local routes)."""
        if path.startswith("/local/") or path == OPENAPI_PATH:
            return ""
        return self._gateway.gateway.function_of(method, path) or ""

    def dispatch(self, request: LocalRequest) -> HttpResponse:
        if request.path == OPENAPI_PATH and request.method in ("GET", "HEAD"):
            # The contract a client generator reads (API.md: local stack only; never deployed).
            document = (ROOT / "docs" / "openapi.json").read_bytes()
            return HttpResponse(200, {"Content-Type": "application/json"}, document)
        if request.path.startswith("/local/"):
            route = self.routes.find(request.method, request.path)
            if route is None:
                return json_error(404, "not_found", f"no local route {request.method} {request.path}", "local")
            return route(request)
        return self._gateway.handle(request)


def _bounded_stop(plugin: Plugin) -> str | None:
    """Runs `plugin.stop()` for at most STOP_LIMIT_S; what went wrong, or None."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            plugin.stop()
        except Exception as e:  # reported by the caller once every plugin had its turn
            LOG.exception("stopping %s failed", plugin.name)
            errors.append(e)

    thread = threading.Thread(target=run, name=f"stop-{plugin.name}", daemon=True)
    thread.start()
    thread.join(STOP_LIMIT_S)
    if thread.is_alive():
        return f"{plugin.name} still stopping after {STOP_LIMIT_S} s"
    return f"{plugin.name}: {type(errors[0]).__name__}: {errors[0]}" if errors else None


def _handler_for(stack: LocalStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            started = time.monotonic()
            url = urllib.parse.urlsplit(self.path)
            body = self._body()
            if body is None:
                return  # refused, the connection closed
            headers = {k: v for k, v in self.headers.items() if k.lower() != "transfer-encoding"}
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                headers["Content-Length"] = str(len(body))  # as read: what is passed on is whole
            request = LocalRequest(
                self.command,
                url.path,
                urllib.parse.parse_qs(url.query, keep_blank_values=True),
                headers,
                body,
            )
            try:
                response = stack.dispatch(request)
            except Exception as e:  # the emulator itself failed: say so, in the contract's format
                logging.getLogger("local").exception("local stack error")
                response = json_error(500, "internal_error", f"local stack error: {type(e).__name__}", "local")
            with stack._statuses_lock:
                stack.statuses[int(response.status)] += 1
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            # Route templates only, like the deployed access log ($context.resourcePath):
            # paths carry job ids and Play purchase tokens; queries and bodies personal data.
            function = stack.loggable_function(self.command, url.path)
            ACCESS_LOG.info(
                "%s %s -> %d (%.0f ms)%s",
                self.command,
                stack.loggable_path(url.path),
                response.status,
                (time.monotonic() - started) * 1000,
                f" {function}" if function else "",
            )

        def _body(self) -> bytes | None:
            """The request's body, by Content-Length or chunked (an app streaming a body of
            unknown length: URLSession with a body stream, OkHttp), at most MAX_BODY_BYTES;
            else None, after a refusal that closes the connection (never a read without end,
            nor the rest of a body taken for the next request)."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks, size = [], 0
                while True:
                    line = self.rfile.readline(1024)
                    try:
                        length = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        self.send_error(411)
                        return None
                    if length == 0:
                        break
                    size += length
                    if length < 0 or size > MAX_BODY_BYTES:
                        self.send_error(413)
                        return None
                    chunks.append(self.rfile.read(length))
                    self.rfile.readline(3)  # the chunk's CRLF
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            raw = self.headers.get("Content-Length")
            if raw is None:
                return b""
            if not raw.strip().isdigit():
                self.send_error(411)
                return None
            if int(raw) > MAX_BODY_BYTES:
                self.send_error(413)
                return None
            return self.rfile.read(int(raw))

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own refusals (request line over 64 KiB, a header line over 64 KiB,
            more than 100 headers, bad syntax) in the contract's error format, not its HTML
            page. Oversized headers are 413 payload_too_large, as API Gateway answers them."""
            status, code_name, text = LOCAL_REFUSALS.get(code, (code, "bad_request", "the request could not be read"))
            response = json_error(status, code_name, text, "local")
            with stack._statuses_lock:
                stack.statuses[status] += 1
            self.close_connection = True
            self.send_response(status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD" and status >= 200:
                self.wfile.write(response.body)
            ACCESS_LOG.info("%s (unreadable request) -> %d", self.command or "-", status)

        def __getattr__(self, name: str):
            # Every method, TRACE and unknown ones included, goes to the gateway (405 there),
            # never to http.server's HTML 501 page.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args) -> None:  # replaced by the line in _serve
            pass

    return Handler
