"""Request bodies of the document, chat and report routes (validated before any write,
and again by the process function when it reads a job's input)."""

from __future__ import annotations

from datetime import date as Date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.common.limits import MAX_CHAT_BYTES, MAX_PDF_BYTES, MAX_UPLOAD_BYTES, UPLOAD_TYPES  # noqa: F401 (re-exported)
from functions.common.models import Strict
from functions.common.results import Flag


class UploadRequest(Strict):
    content_type: str = Field(min_length=1, max_length=100)
    file_size: int = Field(ge=1)
    file_name: str | None = Field(default=None, max_length=255)


class _Received(BaseModel):
    """A stored AnalysisResult as the app sends it back: only what the chat and the doctor
    report use is read, with the result's own size caps; any other field (an older or a
    newer shape's) is dropped, never stored in the job nor shown to the model."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, strict=True, allow_inf_nan=False)


class ReceivedRange(_Received):
    low: float | None = None
    high: float | None = None
    text: str | None = Field(default=None, max_length=60)


class ReceivedObservation(_Received):
    name: str = Field(min_length=1, max_length=120)
    loinc: str | None = Field(default=None, pattern=r"^[0-9]{1,7}-[0-9]$")
    value: float | None = None
    value_text: str | None = Field(default=None, max_length=60)
    unit: str | None = Field(default=None, max_length=30)
    reference_range: ReceivedRange | None = None
    flag: Flag = "unknown"

    @model_validator(mode="after")
    def _value_text(self):
        if self.value_text is None:  # older results may carry the number only
            self.value_text = "" if self.value is None else f"{self.value:g}"
        return self


class ReceivedResult(_Received):
    observations: list[ReceivedObservation] = Field(default_factory=list, max_length=200)
    summary: str | None = Field(default=None, max_length=4000)
    document_type: str | None = Field(default=None, max_length=40)
    processed_at: str | None = Field(default=None, max_length=40)


class Context(Strict):
    results: list[ReceivedResult] = Field(default_factory=list, max_length=50)


class Turn(Strict):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1, max_length=8000)


class ChatRequest(Strict):
    message: str = Field(min_length=1, max_length=2000)
    prompt_id: str | None = Field(default=None, max_length=64)
    context: Context | None = None
    conversation: list[Turn] | None = Field(default=None, max_length=50)


class DatedResult(Strict):
    date: Date
    result: ReceivedResult


class DoctorReportRequest(Strict):
    results: list[DatedResult] = Field(min_length=1, max_length=100)
    notes: str | None = Field(default=None, max_length=2000)
