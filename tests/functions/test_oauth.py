"""Google and Apple ID token verification, against the local identity provider's keys."""

import time

import jwt
import pytest

from functions.common import oauth
from local.identity import LocalIdentityProvider

CLIENT_IDS = {"google": ("web.apps.googleusercontent.com", "ios.apps.googleusercontent.com"),
              "apple": ("health.serenya.app",)}


@pytest.fixture
def idp(monkeypatch):
    provider = LocalIdentityProvider("http://idp.test", CLIENT_IDS)
    for name, env in provider.environment().items():
        monkeypatch.setenv(name, env)
    monkeypatch.setenv("GOOGLE_CLIENT_IDS", ",".join(CLIENT_IDS["google"]))
    monkeypatch.setenv("APPLE_CLIENT_IDS", ",".join(CLIENT_IDS["apple"]))
    fetched = []

    def fetch(url):  # oauth.fetch_jwks without the network
        fetched.append(url)
        return provider.jwks(url.split("/")[-2]), "public, max-age=3600"

    monkeypatch.setattr(oauth, "fetch_jwks", fetch)
    oauth._clients.clear()
    provider.fetched = fetched
    return provider


def reason(provider, token, nonce=None):
    with pytest.raises(oauth.IdentityError) as e:
        oauth.verify_id_token(provider, token, nonce)
    return e.value.reason


def test_google_token_gives_the_identity(idp):
    identity = oauth.verify_id_token("google", idp.id_token("google", "g-1", email="a@b.co", name="Ana Lima"))
    assert (identity.provider, identity.subject, identity.email, identity.name) == ("google", "g-1", "a@b.co", "Ana Lima")
    assert identity.email_verified is True


def test_apple_email_verified_string_is_understood(idp):
    identity = oauth.verify_id_token("apple", idp.id_token("apple", "a-1", email="x@privaterelay.appleid.com"))
    assert identity.email_verified is True and identity.name is None


def test_any_configured_client_id_is_an_accepted_audience(idp):
    token = idp.id_token("google", "g-1", audience=CLIENT_IDS["google"][1])
    assert oauth.verify_id_token("google", token).subject == "g-1"


def test_keys_are_fetched_once_per_container(idp):
    for i in range(3):
        oauth.verify_id_token("google", idp.id_token("google", f"g-{i}"))
    assert len(idp.fetched) == 1


def test_nonce_is_checked_when_given(idp):
    token = idp.id_token("google", "g-1", nonce="n-123")
    assert oauth.verify_id_token("google", token, "n-123").subject == "g-1"
    assert reason("google", token, "n-999") == "nonce_mismatch"
    assert reason("google", idp.id_token("google", "g-1"), "n-123") == "nonce_mismatch"


def test_expired_token(idp):
    assert reason("google", idp.id_token("google", "g-1", lifetime=-(oauth.LEEWAY_SECONDS + 10))) == "expired"


def test_token_for_another_app(idp):
    assert reason("google", idp.id_token("google", "g-1", audience="evil.apps.googleusercontent.com")) == "wrong_audience"


def test_token_of_one_provider_presented_as_the_other(idp):
    assert reason("apple", idp.id_token("google", "g-1")) in {"unknown_key", "wrong_issuer", "wrong_audience"}


def test_unsigned_and_symmetric_tokens_are_refused(idp):
    claims = jwt.decode(idp.id_token("google", "g-1"), options={"verify_signature": False})
    assert reason("google", jwt.encode(claims, None, algorithm="none")) == "algorithm_not_allowed"
    assert reason("google", jwt.encode(claims, "secret" * 6, algorithm="HS256")) == "algorithm_not_allowed"


def test_a_token_signed_by_another_key_with_a_known_kid(idp):
    other = LocalIdentityProvider("http://idp.test", CLIENT_IDS)  # same issuer and kid, different key
    assert reason("google", other.id_token("google", "g-1")) == "invalid_signature_or_claims"


def test_unknown_provider_and_unconfigured_provider(idp, monkeypatch):
    assert reason("facebook", "x") == "unknown_provider"
    monkeypatch.setenv("APPLE_CLIENT_IDS", "")
    assert reason("apple", idp.id_token("apple", "a-1")) == "provider_not_configured"
    monkeypatch.delenv("APPLE_CLIENT_IDS")  # a stack that never set it
    assert reason("apple", idp.id_token("apple", "a-1")) == "provider_not_configured"


def test_garbage_is_refused(idp):
    assert reason("google", "not-a-jwt") == "invalid_signature_or_claims"


def test_a_token_with_a_nonce_needs_the_requests_nonce(idp):
    assert reason("google", idp.id_token("google", "g-1", nonce="n-123")) == "nonce_missing"


def signed(idp, provider, **claims):
    """An ID token from the identity provider's own key with any claims."""
    now = int(time.time())
    base = {"iss": idp.issuer(provider), "sub": "g-1", "iat": now, "exp": now + 600}
    return jwt.encode({**base, **claims}, idp._keys[provider], algorithm="RS256", headers={"kid": idp.kid(provider)})


def test_several_audiences_need_one_of_our_clients_as_azp(idp):
    ours, theirs = CLIENT_IDS["google"][0], "someone-else.apps.googleusercontent.com"
    assert oauth.verify_id_token("google", signed(idp, "google", aud=[ours, theirs], azp=ours)).subject == "g-1"
    assert reason("google", signed(idp, "google", aud=[ours, theirs], azp=theirs)) == "wrong_azp"
    assert reason("google", signed(idp, "google", aud=[ours, theirs])) == "wrong_azp"
    # One audience: azp may name another client of ours (Android's) and is not required.
    assert oauth.verify_id_token("google", signed(idp, "google", aud=ours, azp="android-client")).subject == "g-1"


def test_unverified_emails_are_reported(idp):
    identity = oauth.verify_id_token("google", idp.id_token("google", "g-1", email="a@b.co", email_verified=False))
    assert identity.email == "a@b.co" and identity.email_verified is False


@pytest.mark.parametrize("raw, clean", [
    ("Ana\u202eamiL", "AnaamiL"), ("\u2066Bob\u2069", "Bob"), ("Zoe\x00\x07\x1b[31m", "Zoe[31m"),
    ("  Ana \n Lima  ", "Ana Lima"), ("\u200f\u202e", None), ("x" * 500, "x" * 100), (None, None), (5, None),
    ("Émile Zoë 山田", "Émile Zoë 山田")])
def test_names_lose_control_and_bidi_characters_and_stop_at_100(raw, clean):
    assert oauth.clean_name(raw) == clean


def test_names_in_the_token_are_cleaned(idp):
    identity = oauth.verify_id_token("google", idp.id_token("google", "g-1", name="Eve\u202e" + "e" * 300))
    assert identity.name == "Eve" + "e" * 97


def test_a_token_without_a_nonce_does_not_match_the_text_none(idp):
    """The claim's absence is not the string "None" (nor empty): a request that sends a
    nonce gets a token carrying that very nonce or is refused."""
    token = idp.id_token("google", "g-1")
    assert reason("google", token, "None") == "nonce_mismatch"
    assert reason("google", token, "") == "nonce_mismatch"


def test_given_and_family_names_come_from_their_own_claims(idp):
    token = signed(idp, "google", aud=CLIENT_IDS["google"][0], name="Ana Lima", given_name=" Ana\u202e",
                   family_name="Lima ")
    identity = oauth.verify_id_token("google", token)
    assert (identity.name, identity.given_name, identity.family_name) == ("Ana Lima", "Ana", "Lima")


def test_a_provider_may_be_configured_with_several_issuers(idp, monkeypatch):
    """Google signs with iss "https://accounts.google.com" or "accounts.google.com": a comma
    separated <PROVIDER>_ISSUER trusts each of them, and only them."""
    monkeypatch.setenv("GOOGLE_ISSUER", f"{idp.issuer('google')},accounts.example.test")
    for iss in (idp.issuer("google"), "accounts.example.test"):
        token = signed(idp, "google", aud=CLIENT_IDS["google"][0], iss=iss)
        assert oauth.verify_id_token("google", token).subject == "g-1"
    assert reason("google", signed(idp, "google", aud=CLIENT_IDS["google"][0], iss="https://elsewhere.test")) \
        == "wrong_issuer"


# -- the JWKS cache: expiry from Cache-Control, bounded; a rate-limited refetch for unknown kids --

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Jwks:
    """A provider's key endpoint whose keys and Cache-Control the test changes."""

    def __init__(self, provider, cache_control):
        self.provider, self.cache_control, self.fetches = provider, cache_control, 0
        self.withdrawn = False

    def __call__(self, url):
        self.fetches += 1
        return {"keys": [] if self.withdrawn else self.provider.jwks("google")["keys"]}, self.cache_control


@pytest.fixture
def cached(idp):
    """(provider, its key endpoint, clock): verify_claims' cache for Google uses both."""
    clock = Clock()
    endpoint = Jwks(idp, "public, max-age=21600, must-revalidate, no-transform")  # what Google sends
    url = oauth._configured(oauth.PROVIDERS["google"])[1]
    oauth._clients[url] = oauth.KeyCache(url, endpoint, clock)
    return idp, endpoint, clock


def test_a_withdrawn_key_stops_working_within_the_hour_whatever_max_age_says(cached):
    """Google's certs answer says max-age of hours and asks clients to honour it
    (https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken);
    the cache keeps keys at most MAX_TTL_S (1 hour), so a withdrawn key dies with it."""
    idp, endpoint, clock = cached
    assert oauth.verify_id_token("google", idp.id_token("google", "g-1")).subject == "g-1"
    endpoint.withdrawn = True
    clock.now += oauth.MAX_TTL_S - 1
    assert oauth.verify_id_token("google", idp.id_token("google", "g-1")).subject == "g-1"  # still cached
    clock.now += 1
    assert reason("google", idp.id_token("google", "g-1")) == "unknown_key"
    assert endpoint.fetches == 2


def test_a_shorter_max_age_is_honoured(cached):
    idp, endpoint, clock = cached
    endpoint.cache_control = "public, max-age=600"
    oauth.verify_id_token("google", idp.id_token("google", "g-1"))
    clock.now += 599
    oauth.verify_id_token("google", idp.id_token("google", "g-1"))
    assert endpoint.fetches == 1
    clock.now += 1
    oauth.verify_id_token("google", idp.id_token("google", "g-1"))
    assert endpoint.fetches == 2


@pytest.mark.parametrize("header, seconds", [
    ("public, max-age=21600, must-revalidate, no-transform", 3600), ("max-age=600", 600), ("MAX-AGE = 90", 90),
    ("max-age=0", oauth.MIN_TTL_S), ("no-store", oauth.MIN_TTL_S), ("no-cache, max-age=600", oauth.MIN_TTL_S),
    ("public", oauth.DEFAULT_TTL_S), (None, oauth.DEFAULT_TTL_S), ("max-age=99999999999999", 3600),
    ("s-maxage=10", oauth.DEFAULT_TTL_S), ("max-age=abc", oauth.DEFAULT_TTL_S)])
def test_cache_control_is_read_within_bounds(header, seconds):
    """RFC 9111 5.2.2: max-age in seconds; no-store and no-cache: not reused without asking."""
    assert oauth.ttl_seconds(header) == seconds


def test_unknown_kids_refetch_at_most_once_per_interval(cached):
    """A key the provider just rotated in is found (one refetch), but a flood of forged kids
    costs one fetch per REFETCH_INTERVAL_S, not one per request."""
    idp, endpoint, clock = cached
    oauth.verify_id_token("google", idp.id_token("google", "g-1"))
    good = idp.id_token("google", "g-1")
    header, rest = good.split(".", 1)
    clock.now += oauth.REFETCH_INTERVAL_S
    for i in range(50):
        forged_header = jwt.utils.base64url_encode(
            ('{"alg":"RS256","typ":"JWT","kid":"forged-%d"}' % i).encode()).decode()
        assert reason("google", f"{forged_header}.{rest}") == "unknown_key"
        clock.now += 0.5
    assert endpoint.fetches == 2  # the first load, and one refetch for the first forged kid in 25 s
    clock.now += oauth.REFETCH_INTERVAL_S
    assert reason("google", f"{forged_header}.{rest}") == "unknown_key"
    assert endpoint.fetches == 3
    assert oauth.verify_id_token("google", good).subject == "g-1"  # known kids never wait


def test_a_provider_that_cannot_be_reached_is_not_asked_on_every_request(cached):
    idp, endpoint, clock = cached

    def down(url):
        endpoint.fetches += 1
        raise oauth.IdentityError("jwks_unavailable")

    cache = oauth._clients[oauth._configured(oauth.PROVIDERS["google"])[1]]
    cache._fetch = down
    for _ in range(10):
        assert reason("google", idp.id_token("google", "g-1")) == "jwks_unavailable"
    assert endpoint.fetches == 1
