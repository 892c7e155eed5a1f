"""The model's flags are checked, not trusted (functions/process/flags.py, issue 24 item 8)."""

import logging

import pytest

from functions.common.results import LabAnalysisDraft, Observation, ReferenceRange
from functions.process import flags


def obs(value, low=None, high=None, flag="normal", text=None):
    return Observation(name="Potassium", value=value, value_text=str(value), unit="mmol/L",
                       reference_range=ReferenceRange(low=low, high=high, text=text), flag=flag)


def draft(*observations):
    return LabAnalysisDraft(document_type="lab_report", observations=list(observations), summary="s", confidence=0.9)


@pytest.mark.parametrize("o, expected", [
    (obs(6.8, 3.5, 5.1, "normal"), "high"),          # a critical value the document talked into "normal"
    (obs(2.1, 3.5, 5.1, "normal"), "low"),
    (obs(4.0, 3.5, 5.1, "high"), "normal"),          # the other way
    (obs(4.0, 3.5, 5.1, "critical_low"), "normal"),
    (obs(7.0, None, 5.0, "normal"), "high"),         # one bound: "< 5.0"
    (obs(1.0, 2.0, None, "unknown"), "low"),
    (obs(3.5, 3.5, 5.1, "low"), "normal"),           # the bounds are inside the range
    (obs(5.1, 3.5, 5.1, "high"), "normal"),
])
def test_a_numeric_flag_follows_the_value_and_range(o, expected, capsys, caplog):
    (checked,) = flags.checked(draft(o)).observations
    assert checked.flag == expected
    metrics = capsys.readouterr().out
    assert f'"model_flag":"{o.flag}","derived_flag":"{expected}","FlagDisagreements":[1.0]' in metrics
    (record,) = [r for r in caplog.records if r.getMessage() == "model flag replaced"]
    assert (record.model_flag, record.derived_flag) == (o.flag, expected)
    own = {k: v for k, v in record.__dict__.items()
           if k not in logging.makeLogRecord({}).__dict__ and k != "message"}
    assert own == {"model_flag": o.flag, "derived_flag": expected}  # the directions only, never the value


@pytest.mark.parametrize("o", [
    obs(6.8, 3.5, 5.1, "critical_high"),             # the model may know critical limits
    obs(2.0, 3.5, 5.1, "critical_low"),
    obs(4.0, 3.5, 5.1, "normal"),
    obs(None, 3.5, 5.1, "high", text="3.5-5.1"),      # no numeric value: the model's reading stands
    obs(4.0, None, None, "high", text="negative"),    # a range in words
])
def test_agreeing_or_undecidable_flags_stand(o, capsys):
    (checked,) = flags.checked(draft(o)).observations
    assert checked.flag == o.flag and "FlagDisagreements" not in capsys.readouterr().out
