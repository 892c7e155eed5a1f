"""Fault injection: the model, S3, DynamoDB and KMS failing the way the real services fail.

`POST /local/faults {"target", "error_rate", "seconds"?}` makes that share of the
functions' calls to the target fail from now on, for `seconds` or until
`DELETE /local/faults`. A failed call gets one of the target's real errors, with the
service's HTTP status, as the botocore ClientError the function's client raises
(the modelled exception class, e.g. `client.exceptions.ThrottlingException`):

- s3: InternalError (500), ServiceUnavailable (503), SlowDown (503)
  https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
- dynamodb: InternalServerError (500), ServiceUnavailable (503),
  ProvisionedThroughputExceededException (400), ThrottlingException (400)
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
- kms: KMSInternalException (500), DependencyTimeoutException (500), ThrottlingException (400)
  https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html
- model (Bedrock Converse): ThrottlingException (429), ServiceUnavailableException (503),
  ModelNotReadyException (429), InternalServerException (500)
  https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html

Where: at the boundary the functions call. AWS services through a botocore `before-call`
handler on the functions' session (the default one), which answers the call with the
error instead of sending it; the SDK's own retries are therefore not involved, so
`error_rate` is the share of calls a function sees fail after its SDK's retries. The
model through the offline provider's interface (`OfflineProvider.converse`, which stands
in for Bedrock locally), where a ClientError of a real bedrock-runtime client is raised.
Only calls made while a function runs are affected: the local stack's own pollers and a
test's direct calls are not the application's calls.

Which calls fail is drawn from a seeded random generator per target
(SERENYA_LOCAL_FAULT_SEED, default 0), so a run with the same calls fails the same ones.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.awsrequest import AWSResponse

from local.runtime import current_function

ERRORS: dict[str, tuple[tuple[str, int, str], ...]] = {
    "s3": (
        ("InternalError", 500, "We encountered an internal error. Please try again."),
        ("ServiceUnavailable", 503, "Please reduce your request rate."),
        ("SlowDown", 503, "Please reduce your request rate."),
    ),
    "dynamodb": (
        ("InternalServerError", 500, "Internal server error"),
        ("ServiceUnavailable", 503, "The service is currently unavailable or busy."),
        (
            "ProvisionedThroughputExceededException",
            400,
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        ("ThrottlingException", 400, "Throughput exceeds the current throughput limit for your account."),
    ),
    "kms": (
        ("KMSInternalException", 500, "An internal error occurred."),
        ("DependencyTimeoutException", 500, "The system timed out while trying to fulfill the request."),
        (
            "ThrottlingException",
            400,
            "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
        ),
    ),
    "model": (
        ("ThrottlingException", 429, "Too many requests, please wait before trying again."),
        ("ServiceUnavailableException", 503, "Service unavailable. Try your request again."),
        ("ModelNotReadyException", 429, "The model is not ready to serve inference requests."),
        ("InternalServerException", 500, "An internal server error occurred. Retry your request."),
    ),
}
TARGETS = tuple(ERRORS)
_SERVICES = {"s3": "s3", "dynamodb": "dynamodb", "kms": "kms"}  # botocore service ids of the AWS targets


class FaultRequestError(ValueError):
    """A request to /local/faults the contract refuses: `code` is its error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class Fault:
    target: str
    error_rate: float
    until: float | None  # time.time() when it ends; None: until DELETE
    rng: random.Random

    def describe(self) -> dict:
        until = (
            None
            if self.until is None
            else datetime.fromtimestamp(self.until, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        return {"target": self.target, "error_rate": self.error_rate, "until": until}


def validate(body: object) -> tuple[str, float, float | None]:
    """(target, error_rate, seconds) of a POST /local/faults body, or FaultRequestError."""
    if not isinstance(body, dict):
        raise FaultRequestError("invalid_request", 'the body must be {"target", "error_rate", "seconds"?}')
    target = body.get("target")
    if target not in ERRORS:
        raise FaultRequestError("unknown_target", f"target must be one of {', '.join(TARGETS)}")
    rate = body.get("error_rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise FaultRequestError("invalid_error_rate", "error_rate must be a number from 0 to 1")
    seconds = body.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 86_400
    ):
        raise FaultRequestError("invalid_seconds", "seconds, when given, must be a number from 0 to 86400")
    unknown = sorted(set(body) - {"target", "error_rate", "seconds"})
    if unknown:
        raise FaultRequestError("invalid_request", f"unknown field(s): {', '.join(unknown)}")
    return target, float(rate), None if seconds is None else float(seconds)


class Faults:
    def __init__(self, seed: int = 0, wall: Callable[[], float] = time.time):
        self._seed, self._wall = seed, wall
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._emitters: list = []
        self._wrapped_models: list[tuple[Any, Callable]] = []  # (provider class, its own converse)
        self.injected: dict[str, int] = {t: 0 for t in TARGETS}  # calls failed so far, by target

    # -- the contract ------------------------------------------------------------------
    def set(self, target: str, error_rate: float, seconds: float | None) -> list[dict]:
        with self._lock:
            until = None if seconds is None else self._wall() + seconds
            self._faults[target] = Fault(target, error_rate, until, random.Random(f"{self._seed}:{target}"))
        return self.active()

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict]:
        now = self._wall()
        with self._lock:
            return [f.describe() for f in self._faults.values() if f.until is None or f.until > now]

    def draw(self, target: str) -> tuple[str, int, str] | None:
        """The error this call of `target` fails with, or None."""
        with self._lock:
            fault = self._faults.get(target)
            if fault is None:
                return None
            if fault.until is not None and fault.until <= self._wall():
                del self._faults[target]
                return None
            if fault.rng.random() >= fault.error_rate:
                return None
            self.injected[target] += 1
            return fault.rng.choice(ERRORS[target])

    # -- AWS services: botocore before-call on the functions' session --------------------
    def attach(self, events) -> None:
        for service in _SERVICES.values():
            events.register_first(f"before-call.{service}", self._before_call)
        self._emitters.append(events)

    def detach(self) -> None:
        for events in self._emitters:
            for service in _SERVICES.values():
                events.unregister(f"before-call.{service}", self._before_call)
        self._emitters.clear()

    def _before_call(self, model, **_):
        if current_function() is None:
            return None
        target = next(t for t, s in _SERVICES.items() if s == model.service_model.service_name)
        error = self.draw(target)
        if error is None:
            return None
        code, status, message = error
        return (
            AWSResponse(
                f"https://{model.service_model.endpoint_prefix}.amazonaws.com", status, {"x-amzn-errortype": code}, None
            ),
            {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {
                    "HTTPStatusCode": status,
                    "HTTPHeaders": {"x-amzn-errortype": code},
                    "RequestId": "local-fault",
                    "RetryAttempts": 0,
                },
            },
        )

    # -- the model: the offline provider's interface -------------------------------------
    def wrap_model(self, provider_class, region: str, observe: Callable[[int, str, float, dict | None], None]):
        """Wraps `provider_class.converse` (the model's interface) so faults fail it as Bedrock
        would, and `observe(status, code, latency_ms, usage)` sees every call."""
        import boto3
        from botocore.exceptions import ClientError

        errors = (
            boto3.session.Session()
            .client("bedrock-runtime", region_name=region, aws_access_key_id="local", aws_secret_access_key="local")
            .exceptions
        )  # the modelled exception classes, no call is made
        original = provider_class.converse
        faults = self

        def converse(provider, **kwargs):
            started = time.monotonic()
            error = faults.draw("model")
            if error is not None:
                code, status, message = error
                observe(status, code, (time.monotonic() - started) * 1000, None)
                raise errors.from_code(code)(
                    {
                        "Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {
                            "HTTPStatusCode": status,
                            "HTTPHeaders": {"x-amzn-errortype": code},
                            "RequestId": "local-fault",
                            "RetryAttempts": 0,
                        },
                    },
                    "Converse",
                )
            try:
                reply = original(provider, **kwargs)
            except ClientError as e:
                observe(
                    e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400),
                    e.response["Error"]["Code"],
                    (time.monotonic() - started) * 1000,
                    None,
                )
                raise
            observe(200, "", (time.monotonic() - started) * 1000, reply.get("usage"))
            return reply

        provider_class.converse = converse
        self._wrapped_models.append((provider_class, original))

    def unwrap_model(self) -> None:
        """Every wrapped provider class (one per execution environment) its own converse back."""
        while self._wrapped_models:
            provider_class, original = self._wrapped_models.pop()
            provider_class.converse = original
