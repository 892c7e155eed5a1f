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


def respelled(token: str) -> dict[str, str]:
    """Spellings of a real ID token that PyJWT's decoder reads as the same bytes."""
    header, payload, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 4, 3: 2}[len(signature) % 4]  # RS256 with 2048-bit keys: 256 bytes, 342 characters
    loose = signature[:-1] + alphabet[alphabet.index(signature[-1]) | ((1 << unused) - 1)]
    return {"padded": f"{token}==", "trailing_bits": f"{header}.{payload}.{loose}",
            "padded_header": f"{header}==.{payload}.{signature}"}


@pytest.mark.parametrize("provider", ["google", "apple"])
def test_an_id_token_in_another_spelling_is_malformed_and_the_real_one_verifies(idp, provider):
    """RFC 7515, section 2: base64url without padding; the providers write canonical tokens,
    so only re-spelled ones are refused."""
    for i in range(20):  # real tokens of several lengths and signatures all pass
        assert oauth.verify_id_token(provider, idp.id_token(provider, f"s-{i}", name="n" * i)).subject == f"s-{i}"
    token = idp.id_token(provider, "s-1")
    for kind, other in respelled(token).items():
        assert reason(provider, other) in ("malformed", "invalid_signature_or_claims"), kind
    assert reason(provider, f"{token}==") == "malformed"


# -- names: no invisible format characters (issue 24, item 7) ---------------------------

INVISIBLE = ["\u200b", "\u00ad", "\u2060", "\ufeff", "\U000e0001", "\U000e0020", "\U000e0041", "\U000e007f",
             "\u180e", "\u2061", "\u2064", "\ufff9", "\U0001d173", "\u206a", "\u200e", "\u061c",
             # not Cf, and blank all the same: Hangul fillers, grapheme joiner, Braille blank
             "\u3164", "\u115f", "\u1160", "\uffa0", "\u034f", "\u2800",
             # default-ignorable marks, variation selectors, unassigned, private use
             "\ufe0f", "\u180b", "\u180f", "\U000e0100", "\u17b4", "\u2065", "\ufff0", "\U000e0000",
             "\uffff", "\ue000", "\U000f0000"]


@pytest.mark.parametrize("ch", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_invisible_format_characters_are_dropped_wherever_they_are(ch):
    for raw in (f"{ch}Ana", f"Ana{ch}", f"A{ch}na", f"Ana{ch} {ch}Lima", ch * 50 + "Ana", f"Ana{ch}" * 3):
        cleaned = oauth.clean_name(raw)
        assert ch not in cleaned and cleaned.replace(" ", "") in ("Ana", "AnaLima", "AnaAnaAna"), (raw, cleaned)
    assert oauth.clean_name(ch * 5) is None


@pytest.mark.parametrize("raw", ["\u0300\u0301", "\u3164\ufe0f", "- .", "\u0300 \u200d", "\ud800", "A\ud800"[1:]])
def test_a_name_with_nothing_visible_is_no_name(raw):
    """Marks with nothing to sit on, punctuation alone, half a surrogate pair (which JSON
    can carry and UTF-8 cannot encode): nothing one could show as a name."""
    assert oauth.clean_name(raw) is None


def test_a_name_keeps_its_marks_and_loses_its_half_surrogates():
    assert oauth.clean_name("Jose\u0301\ud800") == "Jose\u0301"
    assert oauth.clean_name("\u2764\ufe0f") == "\u2764"  # the heart stays, its presentation selector goes


def test_hangul_and_braille_names_are_kept():
    assert oauth.clean_name("\ud55c\uae00 \uc774\ub984") == "\ud55c\uae00 \uc774\ub984"  # precomposed syllables
    assert oauth.clean_name("\u2801\u2803") == "\u2801\u2803"                      # Braille that is not blank


def test_no_format_character_but_the_joiners_survives_between_letters():
    """Every Cf code point of this Python's Unicode database, between two letters."""
    import sys
    import unicodedata

    format_chars = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert len(format_chars) > 150
    kept = {ch for ch in format_chars if oauth.clean_name(f"a{ch}b") != "ab"}
    assert kept == {"\u200c", "\u200d"}


@pytest.mark.parametrize("raw, clean", [
    ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),  # Persian ZWNJ
    ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"),  # Devanagari KA, virama, ZWJ, SSA
    ("\u0d28\u0d4d\u200d", "\u0d28\u0d4d"),        # after a virama but at the end: joins nothing
    ("\u200dAna", "Ana"), ("Ana\u200c", "Ana"), ("A\u200d\u200dB", "AB"), ("A\u200c\u200dB", "AB"),
    ("Ana \u200d Lima", "Ana Lima"), ("Ana\u200d1", "Ana1"), ("\u200d", None),
    ("\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f468\U0001f469\U0001f467"),  # emoji family: no letters
    ("Ana\u200b\u200dLima", "Ana\u200dLima"),      # judged once the invisible ones are gone
])
def test_joiners_stay_only_between_letters(raw, clean):
    assert oauth.clean_name(raw) == clean


def test_the_cap_counts_what_is_left_and_leaves_no_joiner_at_the_end():
    assert oauth.clean_name("\u200b" * 500 + "A" * 100) == "A" * 100  # padding does not eat the name
    assert oauth.clean_name("\u00ad".join("x" * 150)) == "x" * 100
    capped = oauth.clean_name("\u0645" * 99 + "\u200c\u0645")
    assert capped == "\u0645" * 99 and len(capped) == 99


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


@pytest.mark.parametrize("blank", ["\u3000", "\xa0", "\u2028", "\x85", "\t", " "])
def test_an_onboarding_name_of_only_spaces_is_no_name_not_a_refusal(blank):
    """Apple sends what the person typed; a sign-up must not fail on it (adversarial review:
    422 for each of these)."""
    from functions.auth.models import OnboardingRequest

    request = OnboardingRequest.model_validate({"provider": "apple", "id_token": "x" * 20,
                                                "device": {"platform": "ios", "device_id": "d", "app_version": "1.0.0"},
                                                "given_name": blank, "family_name": blank})
    assert oauth.clean_name(request.given_name) is None and oauth.clean_name(request.family_name) is None
