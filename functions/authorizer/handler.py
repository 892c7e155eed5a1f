"""authorizer: the API's token authorizer.

Verifies the bearer access token with the signing key's public half, cached per
container (no KMS call when warm), then checks that the account still exists (one
DynamoDB read per token and cache period; its role may read only the profile's key).
API Gateway reuses the answer for the cache period, so the authorizer alone cannot stop
a deleted account at once: every authorized route checks again (common/accounts.py).
https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html The policy allows every route of the API
stage, so API Gateway's per-token result cache stays correct for any route.
"""

from __future__ import annotations

import jwt  # noqa: F401 - every invocation verifies a token: PyJWT is loaded at init, not by the first request

from functions.common import tokens, users
from functions.common.observability import count, instrumented, logger


class Unauthorized(Exception):
    def __init__(self):
        super().__init__("Unauthorized")  # API Gateway answers exactly this message with 401


def _refuse(reason: str) -> Unauthorized:
    count("AuthorizerRejections", reason=reason)
    logger.info("token refused", extra={"reason": reason})
    return Unauthorized()


def api_resource(method_arn: str) -> str:
    """arn:...:{api}/{stage}/{METHOD}/{path} -> every method and path of that stage's API."""
    arn, _, rest = method_arn.partition(":execute-api:")
    parts = rest.split("/")
    if not arn or len(parts) < 3:
        raise ValueError("unexpected method ARN")
    return f"{arn}:execute-api:{parts[0]}/{parts[1]}/*/api/v1/*"


@instrumented()
def handler(event, context):
    scheme, _, token = (event.get("authorizationToken") or "").partition(" ")
    if scheme.lower() != "bearer" or not token:  # auth-scheme names are case-insensitive (RFC 9110, 11.1)
        raise _refuse("malformed_header")
    try:
        claims = tokens.verify(token)
    except tokens.InvalidToken as e:
        raise _refuse(e.reason) from None
    if not users.exists(claims["sub"]):
        raise _refuse("account_deleted")
    return {
        "principalId": claims["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_resource(event["methodArn"])}
            ],
        },
        "context": {"user_id": claims["sub"], "session_id": claims["sid"]},
    }
