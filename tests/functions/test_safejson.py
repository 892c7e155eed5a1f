"""functions/common/safejson.py: the scan that keeps parsers from recursing or choking."""

import json

import pytest

from functions.common import safejson


@pytest.mark.parametrize("text, reason", [
    ("[" * 65 + "]" * 65, "too_deep"), ('{"a":' * 65 + "1" + "}" * 65, "too_deep"),
    ("[" * 1000 + "]" * 1000, "too_deep"), ("1" * 101, "number_too_long"), ("-1." + "2" * 100, "number_too_long"),
    ('{"n": 1e' + "9" * 101 + "}", "number_too_long"), ('{"a": ' + "9" * 5000 + "}", "number_too_long"),
    (b"\xff\xfe", "not_utf8"),
    # RFC 8259, section 6: not JSON numbers, though Python's parser reads them
    ("NaN", "not_a_number"), ('{"a": [Infinity]}', "not_a_number"), ("[-Infinity]", "not_a_number"),
    ('{"v": 1e400}', "number_out_of_range"), ("-1E309", "number_out_of_range")])
def test_unsafe_texts_are_refused_before_parsing(text, reason):
    with pytest.raises(safejson.UnsafeJson) as e:
        safejson.loads(text)
    assert e.value.reason == reason


@pytest.mark.parametrize("text", [
    "[" * 64 + "]" * 64, "1" * 100, '"' + "[" * 1000 + '"', '{"a": "' + "9" * 5000 + '"}',
    '{"a": "\\"[[[[", "b": [1, 2.5e10, -3]}', '"\\\\"',
    '"\\"' + "[" * 65 + '"'])  # an escaped quote does not end the string: its brackets are text
def test_texts_within_the_limits_parse_as_json_does(text):
    assert safejson.loads(text) == json.loads(text)


def test_syntax_errors_stay_value_errors():
    with pytest.raises(ValueError):
        safejson.loads("{not json")


def test_the_digit_count_starts_again_at_every_number():
    """Many short numbers are not one long number: only a single number's digits count
    (an array of 1,000 two-digit numbers is 2,000 digits in all)."""
    text = "[" + ",".join(["42"] * 1000) + "]"
    assert safejson.loads(text) == [42] * 1000
    assert safejson.loads('{"a": 1' + "0" * 60 + ', "b": 2' + "0" * 60 + "}")["b"] == 2 * 10 ** 60


@pytest.mark.parametrize("text", [
    '"\\ud800"', '{"name": "\\uDBFF"}', '["\\udc00x"]', '"\\ud800\\ud800"', '"\\ude00\\ud83d"',  # halves, wrong order
])
def test_half_a_surrogate_pair_is_refused(text):
    """RFC 8259, section 8.2: such a string is not Unicode text and cannot be encoded."""
    with pytest.raises(safejson.UnsafeJson) as e:
        safejson.loads(text)
    assert e.value.reason == "lone_surrogate"


@pytest.mark.parametrize("text, value", [
    ('"\\ud83d\\ude00"', "\U0001f600"),           # a whole pair: one emoji
    ('"\\\\ud800"', "\\ud800"),                   # an escaped backslash, then letters
    ('"\\u00e9\\u4e2d"', "\u00e9\u4e2d"),
])
def test_whole_characters_parse(text, value):
    assert safejson.loads(text) == value


def test_a_jws_whose_payload_holds_half_a_pair_is_refused_before_pyjwt():
    import base64

    def segment(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    token = ".".join([segment(b'{"alg":"ES256"}'), segment(b'{"name":"\\ud800"}'), segment(b"sig")])
    with pytest.raises(safejson.UnsafeJson):
        safejson.check_jws(token)
    safejson.check_jws(".".join([segment(b'{"alg":"ES256"}'), segment(b'{"name":"\\ud83d\\ude00"}'), "c2ln"]))
