"""One task per job kind: the prompt, the Converse messages, the forced tool whose input
schema is the result model, and how a validated draft becomes the stored result."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Generic, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ValidationError

from functions.common.clock import now_iso
from functions.common.limits import MAX_PDF_BYTES
from functions.common.observability import count
from functions.common.requests import ChatRequest, DoctorReportRequest
from functions.common.results import (
    DISCLAIMER,
    AnalysisResult,
    ChatAnswerDraft,
    DoctorReport,
    DoctorReportDraft,
    LabAnalysisDraft,
    dump,
)
from functions.process import flags, pdfs
from functions.process.providers import InputError

PROMPT_VERSION = "v1"
_MAGIC = {"pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}
_FORMATS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpeg"}
# The app's results reach the model as JSON in one tagged text block (chat, doctor report).
RESULTS_TAG = "results"

Draft = TypeVar("Draft", bound=BaseModel)
Request = TypeVar("Request", bound=BaseModel)


def tagged(tag: str, text: str) -> str:
    """How tasks hand structured data to a model: `<tag>json</tag>` in a text block."""
    return f"<{tag}>{text}</{tag}>"


@cache
def prompt(name: str) -> str:
    return (Path(__file__).parent / "prompts" / f"{name}.{PROMPT_VERSION}.md").read_text()


@dataclass(frozen=True)
class Task(Generic[Draft]):
    prompt_name: str
    tool_name: str
    draft: type[Draft]
    messages: list[dict]
    finish: Callable[[Draft, str], dict]  # (validated draft, model id) -> stored value
    key: str  # "result" or "response" in the outcome
    pages: int | None = None  # a lab report's pages (an image is one); None for other tasks
    input_type: str | None = None  # a lab report's pdf, photo or screenshot, once the file opened

    @property
    def tool(self) -> dict:
        return {
            "toolSpec": {
                "name": self.tool_name,
                "description": (self.draft.__doc__ or "").strip(),
                "inputSchema": {"json": self.draft.model_json_schema(by_alias=True)},
            }
        }

    @property
    def system(self) -> str:
        return prompt(self.prompt_name)


def lab_task(body: bytes, content_type: str) -> Task[LabAnalysisDraft]:
    """The lab-report task; InputError for a file no model could read (pdfs.py and
    images.py say which), before any model call."""
    fmt = _FORMATS.get((content_type or "").split(";")[0].strip().lower())
    if fmt is None or not body.startswith(_MAGIC[fmt]):
        raise InputError("unsupported_document", reason="not_declared_type")
    if fmt == "pdf":
        if len(body) > MAX_PDF_BYTES:  # the upload ticket refuses it; a file that got here anyway
            raise InputError("document_too_large", reason="pdf_too_large")
        pages = len(pdfs.reader(body).pages)
        block = {"document": {"format": "pdf", "name": "lab-report", "source": {"bytes": body}}}
        kind = "pdf"
    else:
        from functions.process import images  # Pillow: loaded by photo jobs only, never at cold start

        started = time.monotonic()
        image = images.prepare(body, fmt)
        count("ImagePreparation", (time.monotonic() - started) * 1000, MetricUnit.Milliseconds)
        block = {"image": {"format": image.format, "source": {"bytes": image.data}}}
        pages = 1
        # A camera's JPEG, or any image whose EXIF names a camera; a PNG without is a screenshot.
        kind = "photo" if fmt == "jpeg" or image.camera else "screenshot"

    def finish(draft: LabAnalysisDraft, model_id: str) -> dict:
        draft = flags.checked(draft)  # numeric flags follow from value and range, whatever the model said
        return dump(
            AnalysisResult(
                **draft.model_dump(),
                observation_count=len(draft.observations),
                model=model_id,
                disclaimer=DISCLAIMER,
                processed_at=now_iso(),
            )
        )

    return Task(
        "lab_analysis",
        "record_lab_analysis",
        LabAnalysisDraft,
        [{"role": "user", "content": [block, {"text": "Read this laboratory report."}]}],
        finish,
        "result",
        pages,
        kind,
    )


def _payload(body: bytes, model: type[Request]) -> Request:
    try:
        return model.model_validate_json(body)
    except ValidationError:
        raise InputError("invalid_request") from None


def chat_task(body: bytes) -> Task[ChatAnswerDraft]:
    request: ChatRequest = _payload(body, ChatRequest)
    messages: list[dict] = []
    for turn in request.conversation or []:  # Converse wants alternating turns, user first
        if not messages and turn.role != "user":
            continue
        if messages and messages[-1]["role"] == turn.role:
            messages[-1]["content"].append({"text": turn.content})
        else:
            messages.append({"role": turn.role, "content": [{"text": turn.content}]})
    results = [dump(r) for r in (request.context.results if request.context else [])]
    final = [
        {"text": request.message},
        {"text": tagged(RESULTS_TAG, json.dumps({"message": request.message, "results": results}, ensure_ascii=False))},
    ]
    if messages and messages[-1]["role"] == "user":
        messages[-1]["content"].extend(final)
    else:
        messages.append({"role": "user", "content": final})

    def finish(draft: ChatAnswerDraft, model_id: str) -> dict:
        return {"message": draft.message, "model": model_id, "disclaimer": DISCLAIMER, "created_at": now_iso()}

    return Task("chat", "answer_user", ChatAnswerDraft, messages, finish, "response")


def report_task(body: bytes) -> Task[DoctorReportDraft]:
    request: DoctorReportRequest = _payload(body, DoctorReportRequest)
    data = {
        "results": [{"date": r.date.isoformat(), "result": dump(r.result)} for r in request.results],
        "notes": request.notes,
    }

    def finish(draft: DoctorReportDraft, model_id: str) -> dict:
        # The notes are copied, not left to the model: it may drop or reword them.
        notes = (request.notes or "").strip() or None
        return dump(DoctorReport(**draft.model_dump(by_alias=True), disclaimer=DISCLAIMER, notes=notes))

    return Task(
        "doctor_report",
        "record_doctor_report",
        DoctorReportDraft,
        [
            {
                "role": "user",
                "content": [
                    {"text": "Prepare the report for my doctor."},
                    {"text": tagged(RESULTS_TAG, json.dumps(data, ensure_ascii=False))},
                ],
            }
        ],
        finish,
        "result",
    )
