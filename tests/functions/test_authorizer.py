"""The token authorizer: a policy valid for the whole API under caching, nothing else."""

import pytest

from functions.authorizer.handler import api_resource, handler
from functions.common import tokens, users
from functions.common.clock import now_iso
from functions.common.oauth import Identity
from local.gateway import policy_allows
from tests.conftest import FakeContext

API = "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1"


def event(token, method="GET", path="/api/v1/user/profile"):
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": f"{API}/{method}{path}"}


@pytest.fixture
def user(aws_env):
    identity = Identity("google", "g-auth", None, False, None, None, None)
    account = users.new_account(identity, None, None, {}, {}, {}, now_iso())
    users.create(account, identity)
    return account.user_id


def test_valid_token_allows_every_route_of_the_stage(user):
    answer = handler(event(f"Bearer {tokens.issue(user, 's-1').token}"), FakeContext())
    assert answer["principalId"] == user
    assert answer["context"] == {"user_id": user, "session_id": "s-1"}
    policy = answer["policyDocument"]
    # API Gateway reuses this answer for the same token on any route for 5 minutes.
    for method, path in [("GET", "/api/v1/user/profile"), ("POST", "/api/v1/process/upload"),
                         ("DELETE", "/api/v1/process/cleanup/result_x")]:
        assert policy_allows(policy, f"{API}/{method}{path}")
    assert not policy_allows(policy, "arn:aws:execute-api:eu-west-1:123456789012:other/v1/GET/api/v1/user/profile")
    assert not policy_allows(policy, f"{API.replace('/v1', '/v2')}/GET/api/v1/user/profile")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic abc", "bearer x.y.z", "Bearer not-a-jwt"])
def test_malformed_headers_are_unauthorized(aws_env, header):
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler(event(header), FakeContext())


def test_a_deleted_accounts_token_is_unauthorized(user):
    token = tokens.issue(user, "s-1").token
    users.delete(users.get(user))
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler(event(f"Bearer {token}"), FakeContext())


def test_api_resource_rejects_unexpected_arns():
    assert api_resource(f"{API}/GET/api/v1/x") == f"{API}/*/api/v1/*"
    with pytest.raises(ValueError):
        api_resource("arn:aws:lambda:eu-west-1:1:function:x")
