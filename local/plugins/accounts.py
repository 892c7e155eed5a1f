"""The outside parties of sign-in and subscriptions: the identity providers (Google,
Apple) and the app stores (App Store Server API and notifications, Google Play)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from typing import cast

from components.config import StoreSettings
from functions.subscriptions.apple import NOTIFICATION_TYPES as APPLE_TYPES
from functions.subscriptions.google import SUBSCRIPTION_TYPES as GOOGLE_TYPES
from local.gateway import HttpResponse, json_error
from local.identity import PROVIDERS, LocalIdentityProvider
from local.plugins import LocalRequest, Route, StackContext, StandIn, json_response
from local.plugins.aws import MotoPlugin
from local.store import StoreSimulator

# Delivers (headers, body) to the API's subscription webhook, as a store would.
Webhook = Callable[[dict[str, str], bytes], HttpResponse]
WEBHOOK = "/api/v1/subscriptions/webhook"


class IdentityPlugin(StandIn):
    """Google's and Apple's sign-in: their keys, and ID tokens for any subject."""

    name = "identity"
    provider: LocalIdentityProvider

    def __init__(self, moto: MotoPlugin):
        super().__init__()
        self._moto = moto

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        settings = self._moto.program.settings
        self.provider = LocalIdentityProvider(
            context.url, {"google": settings.google_client_ids, "apple": settings.apple_client_ids}
        )

    def environment(self) -> dict[str, str]:
        return self.provider.environment()

    def routes(self) -> tuple[Route, ...]:
        found: list[Route] = []
        for provider in PROVIDERS:
            found.append(Route("GET", f"/local/idp/{provider}/jwks.json", partial(self._jwks, provider)))
            found.append(Route("POST", f"/local/idp/{provider}/token", partial(self._token, provider)))
        return tuple(found)

    def _jwks(self, provider: str, _: LocalRequest) -> HttpResponse:
        return json_response(200, self.provider.jwks(provider))

    def _token(self, provider: str, request: LocalRequest) -> HttpResponse:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("sub"), str) or not body["sub"]:
            return json_error(400, "invalid_request", 'the body must be {"sub": "...", ...}', "local")
        fields = {k: body[k] for k in ("email", "name", "nonce") if isinstance(body.get(k), str)}
        token = self.provider.id_token(
            provider, body["sub"], email_verified=body.get("email_verified", True) is True, **fields
        )
        return json_response(200, {"id_token": token})


class StoresPlugin(StandIn):
    """The App Store and Google Play, with their credentials in the stack's secret."""

    name = "stores"
    store: StoreSimulator
    _stores: StoreSettings

    def __init__(self, moto: MotoPlugin, identity: IdentityPlugin, webhook: Webhook):
        super().__init__()
        self._moto, self._identity, self._webhook = moto, identity, webhook

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        stores = self._moto.program.settings.stores
        if stores is None:  # load_settings always reads them; only a Settings built by hand has none
            raise RuntimeError("the stack's settings name no stores")
        self._stores = stores
        self.store = StoreSimulator(
            self._identity.provider,
            context.url,
            stores.apple_bundle_id,
            stores.apple_environment,
            stores.google_package_name,
            stores.google_pubsub_audience,
            stores.google_pubsub_service_account,
        )
        self._moto.client("secretsmanager").put_secret_value(
            SecretId=self._moto.program.outputs["secret_arn"], SecretString=json.dumps(self.store.secret())
        )

    def environment(self) -> dict[str, str]:
        return self.store.environment_overrides()

    def routes(self) -> tuple[Route, ...]:
        return (
            Route("POST", "/local/store/apple/notify", lambda r: self._notify("apple", r)),
            Route("POST", "/local/store/google/notify", lambda r: self._notify("google", r)),
            Route("POST", "/local/play/token", self._play_token),
            Route(
                "GET",
                "/local/play/androidpublisher/",
                lambda r: json_response(*self.store.play_subscription(r.path, r.headers.get("Authorization", ""))),
                prefix=True,
            ),
            Route(
                "POST",
                "/local/play/androidpublisher/",
                lambda r: json_response(*self.store.play_acknowledge(r.path, r.headers.get("Authorization", ""))),
                prefix=True,
            ),
        )

    def _notify(self, store: str, request: LocalRequest) -> HttpResponse:
        """Builds a correctly signed store notification and delivers it to the webhook."""
        try:
            body = request.json()
        except ValueError:
            body = None
        kind = (body or {}).get("notification_type") if isinstance(body, dict) else None
        valid_kind = isinstance(kind, str) if store == "apple" else isinstance(kind, int) and not isinstance(kind, bool)
        if not isinstance(body, dict) or not isinstance(body.get("user_id"), str) or not valid_kind:
            return json_error(
                400,
                "invalid_request",
                'the body must be {"user_id", "notification_type", '
                '"product_id"?} (Apple: a type name, Google: an RTDN code)',
                "local",
            )
        # The webhook rightly treats a type it does not know as one the store added since
        # (no change); here an unknown type is a typo in a test or a demo: say so.
        known = APPLE_TYPES if store == "apple" else GOOGLE_TYPES
        if kind not in known:
            return json_error(
                400,
                "unknown_notification_type",
                f"{store} defines no notification type {kind!r}; known: {', '.join(map(str, sorted(known)))}",
                "local",
            )
        product = body.get("product_id") or self._stores.premium_products[0]
        if store == "apple":  # valid_kind: a str for Apple, an int for Google
            payload = self.store.apple_notification(body["user_id"], cast(str, kind), product, body.get("subtype"))
            headers = {"Content-Type": "application/json"}
        else:
            payload, headers = self.store.google_notification(body["user_id"], cast(int, kind), product)
        answer = self._webhook(headers, json.dumps(payload).encode())
        return HttpResponse(answer.status, {"Content-Type": "application/json"}, answer.body)

    def _play_token(self, request: LocalRequest) -> HttpResponse:
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(request.body.decode()).items()}
        answer = self.store.play_token(form)
        return json_response(200, answer) if answer else json_response(400, {"error": "invalid_grant"})
