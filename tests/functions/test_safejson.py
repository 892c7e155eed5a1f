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
