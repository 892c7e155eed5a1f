"""What the model produces and the app receives: lab analyses, chat answers, doctor
reports. The `*Draft` models are the model's tool input (its JSON schema is the tool's
input schema); the final models add what the server stamps on every answer."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DISCLAIMER = (
    "This is general information generated automatically, not medical advice or a diagnosis. "
    "Discuss your results with a qualified healthcare professional; in an emergency, call your "
    "local emergency number."
)

Flag = Literal["low", "normal", "high", "critical_low", "critical_high", "unknown"]


class _Model(BaseModel):
    # strict, validated in JSON mode: types as JSON has them (finite numbers only: RFC 8259,
    # section 6), dates as ISO strings
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True, allow_inf_nan=False)


class ReferenceRange(_Model):
    low: float | None = None
    high: float | None = None
    text: str | None = Field(default=None, max_length=60)


class Observation(_Model):
    name: str = Field(min_length=1, max_length=120)
    loinc: str | None = Field(default=None, pattern=r"^[0-9]{1,7}-[0-9]$")
    value: float | None = None
    value_text: str = Field(max_length=60)
    unit: str | None = Field(default=None, max_length=30)
    reference_range: ReferenceRange = Field(default_factory=ReferenceRange)
    flag: Flag = "unknown"


class LabAnalysisDraft(_Model):
    """Lab values found in one document, as the model reports them."""

    document_type: Literal["lab_report", "other"]
    observations: list[Observation] = Field(default_factory=list, max_length=200)
    summary: str = Field(max_length=4000)
    confidence: float = Field(ge=0.0, le=1.0)


class AnalysisResult(LabAnalysisDraft):
    # Stamped by the server: 0 says the document was read and nothing in it was recognised
    # (the job still completes), so the app can tell its user without inferring it.
    observation_count: int = Field(ge=0, le=200)
    model: str = Field(max_length=200)
    disclaimer: str = Field(max_length=1000)
    processed_at: str = Field(max_length=40)


class ChatAnswerDraft(_Model):
    """The answer to the user's question."""

    message: str = Field(min_length=1, max_length=8000)


class Point(_Model):
    date: date
    value: float


class Trend(_Model):
    name: str = Field(max_length=120)
    loinc: str | None = None
    unit: str | None = None
    points: list[Point] = Field(max_length=200)
    direction: Literal["up", "down", "stable"]


class Finding(_Model):
    name: str = Field(max_length=120)
    value_text: str = Field(max_length=60)
    unit: str | None = None
    flag: Flag
    date: date


class Period(_Model):
    start: date = Field(alias="from")
    end: date = Field(alias="to")


class DoctorReportDraft(_Model):
    """A summary of the user's results over time, for a visit to the doctor."""

    title: str = Field(max_length=200)
    period: Period
    summary: str = Field(max_length=4000)
    trends: list[Trend] = Field(max_length=100)
    abnormal_findings: list[Finding] = Field(max_length=200)
    questions_for_doctor: list[str] = Field(max_length=20)


class DoctorReport(DoctorReportDraft):
    disclaimer: str
    # The user's own words for the doctor, as they sent them (not the model's rendering).
    notes: str | None = Field(default=None, max_length=2000)


def dump(model: BaseModel) -> dict:
    """JSON-ready, with field aliases (`from`/`to`) as the contract names them."""
    return model.model_dump(mode="json", by_alias=True)
