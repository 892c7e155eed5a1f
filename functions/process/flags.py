"""The model's flags, checked rather than trusted (issue 24, item 8).

A lab report's flag is whatever the model returned: text hidden in a PDF could make a
critical value read `normal`. Where the value and its reference range are numbers, the
flag follows from them and the server derives it; a flag that disagrees is replaced,
logged (its direction, never the value) and counted. Where the range is not numeric
(text such as "negative"), the model's reading stands.
"""

from __future__ import annotations

from functions.common.observability import count, logger
from functions.common.results import LabAnalysisDraft, Observation

_DIRECTION = {"low": "low", "critical_low": "low", "high": "high", "critical_high": "high", "normal": "normal"}


def derived(o: Observation) -> str | None:
    """low / normal / high from the value and the numeric bounds; None when they cannot say."""
    low, high = o.reference_range.low, o.reference_range.high
    if o.value is None or (low is None and high is None):
        return None
    if low is not None and o.value < low:
        return "low"
    if high is not None and o.value > high:
        return "high"
    return "normal"


def checked(draft: LabAnalysisDraft) -> LabAnalysisDraft:
    """The draft with every numeric flag agreeing with its value and range. A `critical_*`
    flag in the derived direction stands: the model may know critical limits the range
    does not print."""
    observations = []
    for o in draft.observations:
        expected = derived(o)
        if expected is None or _DIRECTION.get(o.flag) == expected:
            observations.append(o)
            continue
        count("FlagDisagreements", model_flag=o.flag, derived_flag=expected)
        logger.warning("model flag replaced", extra={"model_flag": o.flag, "derived_flag": expected})
        observations.append(o.model_copy(update={"flag": expected}))
    return draft.model_copy(update={"observations": observations})
