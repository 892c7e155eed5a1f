"""The local stack: the whole backend on 127.0.0.1 with no AWS account.

Start-up: an in-process moto server, provisioned by running the Pulumi program under
mocks that create its resources in moto; then the catalog's functions, in-process,
with the environment the program computed for each; the API Gateway emulator and the
`/local/...` routes on one HTTP port; and the pollers that stand in for S3
notifications and the DynamoDB stream.

Observability: the metrics CloudWatch would receive go to one metric store
(`stack.metrics`, local/metric_store.py; recorded by local/telemetry.py and local/emf.py),
the program's alarms are evaluated on it every CloudWatch minute (`stack.alarms`,
local/alarms.py; `GET /local/alarms`), and `POST/DELETE /local/faults` make the model,
S3, DynamoDB or KMS fail (local/faults.py). SERENYA_LOCAL_PERIOD_S (default 10) is how
long a 300 s alarm period lasts locally.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
import os
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

import boto3

from components.alarms import KMS_QUOTAS
from components.runbooks import COMPOSITE
from functions.catalog import CATALOG, Function, S3Trigger, StreamTrigger, by_name
from local import alarms as local_alarms
from local import dashboards as local_dashboards
from local import faults as local_faults
from local import aws_rules
from local.gateway import Gateway, HttpResponse, json_error
from local.metric_store import MetricStat, MetricStore, local_scale
from local.telemetry import StackFacts, Telemetry, detailed_methods
from local.identity import PROVIDERS, LocalIdentityProvider
from local.moto_server import MotoServer
from local.moto_stack import ACCESS_KEY_ID, SECRET_ACCESS_KEY, MotoMocks, aws_client
from local.program import ProgramRun, run_program, stack_config
from local.runtime import LocalLambda, Resolver, WaitClock, acting_as
from local.store import StoreSimulator
from local.triggers import DEFAULT_ASYNC_RETRIES, S3Dispatcher, StreamMapping, StreamPoller

ACCESS_LOG = logging.getLogger("local.access")  # not under "serenya": that is the functions' logger
# http.server's refusals of requests it cannot read, as (status, code, message).
LOCAL_REFUSALS = {
    431: (413, "payload_too_large", "request headers are too large"),
    414: (414, "uri_too_long", "the request line is too long"),
    400: (400, "bad_request", "the request could not be read"),
    505: (505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served"),
}
LocalRoute = Callable[["LocalRequest"], HttpResponse]
# SERVICE_QUOTA of each KMS usage metric: the lowest regional default of its quota
# (components/alarms.KMS_QUOTAS). The account's real quota is unknowable offline, and the
# lowest one makes the local kms quota alarms fire no later than the deployed ones.
KMS_USAGE_QUOTAS = {q.resource: q.lowest_default for q in KMS_QUOTAS}


class LocalRequest:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body

    def json(self) -> object:
        return json.loads(self.body or b"null")


def json_response(status: int, payload: object) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())


class LocalStack:
    """One per process: moto's state is process-wide."""

    def __init__(self, port: int = 8080, host: str = "127.0.0.1", stack: str = "dev",
                 catalog: tuple[Function, ...] = CATALOG, resolve: Optional[Resolver] = None,
                 background: bool = True, role_client_hook: Optional[Callable[[object], None]] = None,
                 config: Optional[dict[str, str]] = None):
        """`background=False` leaves the pollers to the caller (`poll_once`), for tests.
        `role_client_hook` sees each client the trigger stand-ins make calls with a
        function's role (stream reads, failure queues) before it is used. `config`
        replaces keys of Pulumi.<stack>.yaml (values as Pulumi passes them: JSON strings)."""
        self.host, self.port, self.stack = host, port, stack
        self.background = background
        self.catalog = catalog
        self._resolve = resolve
        self._saved_env: dict[str, Optional[str]] = {}
        self.local_routes: dict[tuple[str, str], LocalRoute] = {("GET", "/local/health"): self._health}
        self.local_prefix_routes: dict[tuple[str, str], LocalRoute] = {}
        self.pollers: list = []
        self.statuses: Counter[int] = Counter()  # every answer the HTTP server gave, by status
        self._statuses_lock = threading.Lock()
        self.program: Optional[ProgramRun] = None
        self._role_client_hook = role_client_hook
        self._config = config or {}
        self.metrics = MetricStore(local_scale(os.environ.get("SERENYA_LOCAL_PERIOD_S")))
        self.faults = local_faults.Faults(seed=int(os.environ.get("SERENYA_LOCAL_FAULT_SEED") or 0))
        self._ticker_stop = threading.Event()
        self.alarm_errors: list[str] = []  # failures of the background evaluation

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> "LocalStack":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
        # The local S3 checks presigned POSTs as S3 does (local/s3_post_upload.py), for the
        # buckets' region and the credentials the functions sign with.
        region = stack_config(self.stack)["aws:region"]
        self._moto = MotoServer(self.host, region, {ACCESS_KEY_ID: SECRET_ACCESS_KEY}).start()
        self.s3_post_policy = self._moto.post_policy
        moto_host, moto_port = self._moto.get_host_and_port()
        self.aws_endpoint_url = f"http://{moto_host}:{moto_port}"
        # moto keeps its state per process, not per server: start from nothing.
        urllib.request.urlopen(urllib.request.Request(f"{self.aws_endpoint_url}/moto-api/reset", method="POST"),
                               timeout=10).close()

        self.program = run_program(self.stack, MotoMocks(self.aws_endpoint_url, region), catalog=self.catalog,
                                   config={**stack_config(self.stack), **self._config})
        settings = self.program.settings
        self.region = settings.region

        # Bind first: the identity provider's URLs name the port.
        self._http = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self.identity = LocalIdentityProvider(self.url, {"google": settings.google_client_ids,
                                                         "apple": settings.apple_client_ids})
        stores = settings.stores
        self.store = StoreSimulator(self.identity, self.url, stores.apple_bundle_id, stores.apple_environment,
                                    stores.google_package_name, stores.google_pubsub_audience,
                                    stores.google_pubsub_service_account)
        aws_client("secretsmanager", self.aws_endpoint_url, self.region).put_secret_value(
            SecretId=self.program.outputs["secret_arn"], SecretString=json.dumps(self.store.secret()))
        self.local_routes[("POST", "/local/store/apple/notify")] = lambda r: self._notify("apple", r)
        self.local_routes[("POST", "/local/store/google/notify")] = lambda r: self._notify("google", r)
        self.local_routes[("POST", "/local/play/token")] = self._play_token
        self.local_prefix_routes[("GET", "/local/play/androidpublisher/")] = lambda r: json_response(
            *self.store.play_subscription(r.path, r.headers.get("Authorization", "")))
        self.local_prefix_routes[("POST", "/local/play/androidpublisher/")] = lambda r: json_response(
            *self.store.play_acknowledge(r.path, r.headers.get("Authorization", "")))
        for provider in PROVIDERS:
            self.local_routes[("GET", f"/local/idp/{provider}/jwks.json")] = \
                lambda _, p=provider: json_response(200, self.identity.jwks(p))
            self.local_routes[("POST", f"/local/idp/{provider}/token")] = \
                lambda request, p=provider: self._idp_token(p, request)
        # The functions' SDK clients come from the default session, created after this
        # (the environment below clears their caches): faults and metrics hook it first.
        self.telemetry = Telemetry(self.metrics, self._stack_facts())
        self._session_events = session_events = boto3._get_default_session().events
        self.faults.attach(session_events)
        aws_rules.attach(session_events)
        self.telemetry.attach(session_events)
        # Bedrock is out of reach locally: the offline analyser answers instead.
        self._set_environment({**self._function_environment(), **self.identity.environment(),
                               **self.store.environment_overrides(), "AI_PROVIDER": "offline"})

        physical = self.program.outputs["functions"]
        self.functions = LocalLambda(by_name(self.catalog), physical, self.region,
                                     self.program.mocks.account_id, self._resolve,
                                     observer=self.telemetry, waits=WaitClock(),
                                     output=lambda name, line: self.telemetry.emf_line(line, name))
        for fn in self.catalog:
            if fn.access.bedrock:  # the offline analyser of that function's own environment
                offline = self.functions.module(fn.name, "functions.process.offline")
                self.faults.wrap_model(offline.OfflineProvider, self.region, self.telemetry.model_call)
        # Validated with the document the program gives API Gateway.
        api_document = json.loads(self.program.mocks.one("aws:apigateway/restApi:RestApi").inputs["body"])
        self.gateway = Gateway(self.catalog, self.functions, self.region, self.program.mocks.account_id,
                               document=api_document, metrics=self.telemetry)
        self._start_pollers()
        self._start_alarms()

        self._http_thread = threading.Thread(target=self._http.serve_forever, name="http", daemon=True)
        self._http_thread.start()
        return self

    def stop(self) -> None:
        self._ticker_stop.set()
        if getattr(self, "_ticker", None):
            self._ticker.join(timeout=5)
        for poller in self.pollers:
            poller.stop()
        if hasattr(self, "telemetry"):
            self.telemetry.detach()
            self.faults.detach()
            aws_rules.detach(self._session_events)
            self.faults.unwrap_model()
        if hasattr(self, "functions"):
            self.functions.close()
        if hasattr(self, "_http"):
            self._http.shutdown()
            self._http.server_close()
        if hasattr(self, "_moto"):
            self._moto.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- wiring ------------------------------------------------------------------
    def _function_environment(self) -> dict[str, str]:
        """The union of the environments the program gave the functions, plus what points
        the AWS SDK at moto. All functions share this process, so a variable with two
        different values would be a real conflict: refuse to start."""
        env = {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
        merged: dict[str, str] = {}
        for fn in self.program.mocks.of_type("aws:lambda/function:Function"):
            for key, value in fn.inputs.get("environment", {}).get("variables", {}).items():
                if merged.setdefault(key, value) != value:
                    raise RuntimeError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
        return {**merged, **env}

    def _set_environment(self, env: dict[str, str]) -> None:
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def failure_queue_url(self, function: str) -> str:
        queue = self.program.mocks.one("aws:sqs/queue:Queue", f"-{function}-failures")
        return queue.state["url"]

    def _queue_url(self, arn: str) -> str:
        return next(q.state["url"] for q in self.program.mocks.of_type("aws:sqs/queue:Queue")
                    if q.state.get("arn") == arn)

    def _failure_sender(self, function: str, queue_arn: str) -> Callable[[dict], None]:
        """Lambda sends to a dead-letter queue or an on-failure destination with the
        function's execution role."""
        sqs, url = aws_client("sqs", self.aws_endpoint_url, self.region), self._queue_url(queue_arn)
        self._role_client(sqs)

        def send(payload: dict) -> None:
            with acting_as(function):
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps(payload, default=str))
        return send

    def _role_client(self, client) -> None:
        if self._role_client_hook:
            self._role_client_hook(client)

    def _deployed_function(self, fn: Function):
        physical = self.program.outputs["functions"][fn.name]
        return next(f for f in self.program.mocks.of_type("aws:lambda/function:Function")
                    if f.inputs["name"] == physical), physical

    def _start_pollers(self) -> None:
        """Each trigger with the settings the program deploys: the function's
        FunctionEventInvokeConfig and dead-letter queue, the stream's EventSourceMapping."""
        outputs, mocks = self.program.outputs, self.program.mocks
        for fn in self.catalog:
            if isinstance(fn.trigger, S3Trigger):
                function, physical = self._deployed_function(fn)
                configs = [c for c in mocks.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
                           if c.inputs["functionName"] == physical]
                retries = int(configs[0].inputs["maximumRetryAttempts"]) if configs else DEFAULT_ASYNC_RETRIES
                self.pollers.append(S3Dispatcher(
                    aws_client("s3", self.aws_endpoint_url, self.region), outputs["temp_bucket"],
                    fn.trigger.prefix, fn.name, self.functions, self.region,
                    self._failure_sender(fn.name, function.inputs["deadLetterConfig"]["targetArn"]), retries))
            elif isinstance(fn.trigger, StreamTrigger):
                physical = outputs["functions"][fn.name]
                mapping = next(m for m in mocks.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
                               if m.inputs["functionName"].split(":function:")[-1].split(":")[0] == physical)
                streams = aws_client("dynamodbstreams", self.aws_endpoint_url, self.region)
                self._role_client(streams)
                self.pollers.append(StreamPoller(
                    streams,
                    mapping.inputs["eventSourceArn"], fn.name, StreamMapping.from_inputs(mapping.inputs),
                    self.functions,
                    self._failure_sender(fn.name, mapping.inputs["destinationConfig"]["onFailure"]["destinationArn"])))
        if self.background:
            for poller in self.pollers:
                poller.start()

    # -- observability -----------------------------------------------------------------
    def _stack_facts(self) -> StackFacts:
        """What the recorded metrics are named after: the program's API, stage, method
        settings, functions, failure queues and buckets."""
        mocks, settings = self.program.mocks, self.program.settings
        stage = mocks.one("aws:apigateway/stage:Stage").inputs["stageName"]
        return StackFacts(
            api_name=mocks.one("aws:apigateway/restApi:RestApi").inputs["name"], stage=stage,
            detailed_api_metrics=detailed_methods(mocks.of_type("aws:apigateway/methodSettings:MethodSettings")),
            log_groups={name: f"/aws/lambda/{physical}" for name, physical in self.program.outputs["functions"].items()},
            model_id=settings.bedrock_model_id if any(fn.access.bedrock for fn in self.catalog) else None,
            queues={q.inputs["name"]: q.state["url"] for q in mocks.of_type("aws:sqs/queue:Queue")},
            buckets=tuple(b.inputs["bucket"] for b in mocks.of_type("aws:s3/bucket:Bucket")))

    def _start_alarms(self) -> None:
        """The program's alarms on the metric store, evaluated every CloudWatch minute."""
        sqs = aws_client("sqs", self.aws_endpoint_url, self.region)
        s3 = aws_client("s3", self.aws_endpoint_url, self.region)
        self.alarms = local_alarms.from_program(
            self.program.mocks.of_type, self.metrics, paging=self.program.settings.name(COMPOSITE),
            quota=_service_quota, before_evaluation=lambda at: self.telemetry.sample(sqs, s3, at))
        self.local_routes[("GET", "/local/alarms")] = self._alarms_route
        self.local_routes[("POST", "/local/faults")] = self._set_fault
        self.local_routes[("DELETE", "/local/faults")] = self._clear_faults
        self.dashboards = local_dashboards.attach(self)  # GET /local/dashboards[/{name}], drawn from the same store
        if self.background:
            self._ticker = threading.Thread(target=self._tick, name="alarms", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._ticker_stop.wait(self.metrics.resolution):
            try:
                self.alarms.evaluate_due()
            except Exception as e:  # keep evaluating; the failure is recorded, not swallowed
                self.alarm_errors.append(f"{type(e).__name__}: {e}")

    def _alarms_route(self, _: LocalRequest) -> HttpResponse:
        self.alarms.evaluate_due()
        return json_response(200, self.alarms.snapshot())

    def _set_fault(self, request: LocalRequest) -> HttpResponse:
        try:
            body = request.json()
        except ValueError:
            return json_error(400, "invalid_json", "the body must be JSON", "local")
        try:
            target, rate, seconds = local_faults.validate(body)
        except local_faults.FaultRequestError as e:
            return json_error(400, e.code, str(e), "local")
        return json_response(200, {"faults": self.faults.set(target, rate, seconds)})

    def _clear_faults(self, _: LocalRequest) -> HttpResponse:
        self.faults.clear()
        return HttpResponse(204, {}, b"")

    # -- local routes --------------------------------------------------------------
    def _notify(self, store: str, request: LocalRequest) -> HttpResponse:
        """Builds a correctly signed store notification and delivers it to the webhook."""
        try:
            body = request.json()
        except ValueError:
            body = None
        kind = (body or {}).get("notification_type") if isinstance(body, dict) else None
        valid_kind = isinstance(kind, str) if store == "apple" else isinstance(kind, int) and not isinstance(kind, bool)
        if not isinstance(body, dict) or not isinstance(body.get("user_id"), str) or not valid_kind:
            return json_error(400, "invalid_request", 'the body must be {"user_id", "notification_type", '
                                                      '"product_id"?} (Apple: a type name, Google: an RTDN code)',
                              "local")
        product = body.get("product_id") or self.program.settings.stores.premium_products[0]
        if store == "apple":
            payload = self.store.apple_notification(body["user_id"], kind, product, body.get("subtype"))
            headers = {"Content-Type": "application/json"}
        else:
            payload, headers = self.store.google_notification(body["user_id"], kind, product)
        answer = self.gateway.handle("POST", "/api/v1/subscriptions/webhook", {}, headers,
                                     json.dumps(payload).encode())
        return HttpResponse(answer.status, {"Content-Type": "application/json"}, answer.body)

    def _play_token(self, request: LocalRequest) -> HttpResponse:
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(request.body.decode()).items()}
        answer = self.store.play_token(form)
        return json_response(200, answer) if answer else json_response(400, {"error": "invalid_grant"})

    def _idp_token(self, provider: str, request: LocalRequest) -> HttpResponse:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("sub"), str) or not body["sub"]:
            return json_error(400, "invalid_request", 'the body must be {"sub": "...", ...}', "local")
        fields = {k: body[k] for k in ("email", "name", "nonce") if isinstance(body.get(k), str)}
        token = self.identity.id_token(provider, body["sub"], email_verified=body.get("email_verified", True) is True,
                                       **fields)
        return json_response(200, {"id_token": token})

    def _health(self, _: LocalRequest) -> HttpResponse:
        o = self.program.outputs
        return json_response(200, {
            "status": "ok",
            "stack": self.stack,
            "aws_endpoint_url": self.aws_endpoint_url,
            "resources": {
                "table": o["table"], "temp_bucket": o["temp_bucket"], "events_bucket": o["events_bucket"],
                "athena_results_bucket": o["athena_results_bucket"], "data_key_arn": o["data_key_arn"],
                "signing_key_arn": o["signing_key_arn"], "secret_arn": o["secret_arn"],
            },
            "functions": sorted(o["functions"]),
            "trigger_failures": [e for p in self.pollers for e in p.errors],
            # Alarm evaluation that failed (the ticker, or an alarm the evaluator cannot compute).
            "alarm_failures": self.alarm_errors + [f"{n}: {e}" for n, e in self.alarms.errors.items()]
            if hasattr(self, "alarms") else [],
        })

    def loggable_path(self, path: str) -> str:
        """What the access log may show of a path: an API route's template, a local route
        as registered, a local prefix route's prefix; never the variable parts (job ids,
        purchase tokens) nor an unmatched path (which could be anything)."""
        if path.startswith("/local/"):
            if any(p == path for _, p in self.local_routes):
                return path
            prefix = next((p for _, p in self.local_prefix_routes if path.startswith(p)), None)
            return f"{prefix}{{redacted}}" if prefix else "/local/{unknown}"
        template = self.gateway.template(path) if hasattr(self, "gateway") else None
        return template or "{unknown path}"

    def dispatch(self, request: LocalRequest) -> HttpResponse:
        if request.path.startswith("/local/"):
            route = self.local_routes.get((request.method, request.path)) or next(
                (r for (m, prefix), r in self.local_prefix_routes.items()
                 if m == request.method and request.path.startswith(prefix)), None)
            if route is None:
                return json_error(404, "not_found", f"no local route {request.method} {request.path}", "local")
            return route(request)
        return self.gateway.handle(request.method, request.path, request.query, request.headers, request.body)


def _service_quota(metric: MetricStat) -> Optional[float]:
    """SERVICE_QUOTA of a usage metric, as far as the local stack knows it."""
    d = metric.dimensions
    if metric.namespace == "AWS/Usage" and d.get("Service") == "KMS":
        return KMS_USAGE_QUOTAS.get(d.get("Resource"))
    return None


def _handler_for(stack: LocalStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            started = time.monotonic()
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = LocalRequest(self.command, url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True),
                                   {k: v for k, v in self.headers.items()}, body)
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
            ACCESS_LOG.info("%s %s -> %d (%.0f ms)", self.command, stack.loggable_path(url.path), response.status,
                            (time.monotonic() - started) * 1000)

        def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
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
