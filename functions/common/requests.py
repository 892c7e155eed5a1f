"""Request bodies of the document, chat and report routes (validated before any write,
and again by the process function when it reads a job's input)."""

from __future__ import annotations

from datetime import date as Date
from typing import Literal, Optional

from pydantic import Field

from functions.common.limits import MAX_CHAT_BYTES, MAX_UPLOAD_BYTES, UPLOAD_TYPES  # noqa: F401 (re-exported)
from functions.common.models import Strict
from functions.common.results import AnalysisResult


class UploadRequest(Strict):
    content_type: str = Field(min_length=1, max_length=100)
    file_size: int = Field(ge=1)
    file_name: Optional[str] = Field(default=None, max_length=255)


class Context(Strict):
    results: list[AnalysisResult] = Field(default_factory=list, max_length=50)


class Turn(Strict):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1, max_length=8000)


class ChatRequest(Strict):
    message: str = Field(min_length=1, max_length=2000)
    prompt_id: Optional[str] = Field(default=None, max_length=64)
    context: Optional[Context] = None
    conversation: Optional[list[Turn]] = Field(default=None, max_length=50)


class DatedResult(Strict):
    date: Date
    result: AnalysisResult


class DoctorReportRequest(Strict):
    results: list[DatedResult] = Field(min_length=1, max_length=100)
    notes: Optional[str] = Field(default=None, max_length=2000)
