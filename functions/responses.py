"""The API's answers as models: what each route's success body holds (API.md).

The OpenAPI document (components/openapi.py) types every success response with these,
and the lab results, doctor reports and chat answers inside them are the very models
the process function validates the model's output with (common/results.py). The
handlers build their answers as dicts, without pydantic on their cold start; the
local stack's answers are checked against these schemas by the fuzzer and by the
client generated from the document (tests/e2e). It sits outside functions/common so no
Lambda archive carries it (no function runs it).

Fields the code may add later are allowed (no `additionalProperties: false`), so an
app built on one version of the document keeps working with the next.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, JsonValue

from functions.common.jobs import _JOB_ID, ERROR_MESSAGES
from functions.common.results import AnalysisResult, DoctorReport

Status = Literal["pending", "processing", "completed", "failed"]
Plan = Literal["free", "premium"]
PlanStatus = Literal["active", "grace_period", "expired", "revoked"]
Provider = Literal["google", "apple"]
# A job id: its kind, the user's id, the time in ms and a random part, as common/jobs.py parses it.
JobId = Field(pattern=_JOB_ID.pattern)


class JobError(BaseModel):
    """Why a job failed (`error` of a failed job; not an HTTP error)."""

    code: str = Field(json_schema_extra={"enum": list[JsonValue](sorted(ERROR_MESSAGES))})
    message: str


class Subscription(BaseModel):
    type: Plan
    status: PlanStatus
    expires_at: str | None = None


class RecordedConsent(BaseModel):
    version: str
    accepted: bool
    recorded_at: str | None = None


class UserConsents(BaseModel):
    privacy_policy: RecordedConsent | None = None
    terms_of_service: RecordedConsent | None = None
    marketing: RecordedConsent | None = None
    research: RecordedConsent | None = None
    health_data_processing: RecordedConsent | None = None


class UserDevice(BaseModel):
    platform: Literal["ios", "android"]
    device_id: str
    app_version: str | None = None


class UserBiometric(BaseModel):
    enabled: bool
    method: Literal["face", "fingerprint", "iris"] | None = None


class User(BaseModel):
    id: str
    # Personal fields are null when the provider gave none (Apple hides names after the first sign-in).
    email: str | None
    name: str | None
    given_name: str | None
    family_name: str | None
    auth_provider: Provider
    subscription: Subscription
    consents: UserConsents
    device: UserDevice
    biometric: UserBiometric | None = None
    created_at: str
    updated_at: str


class QuotaWindow(BaseModel):
    used: int = Field(ge=0)
    limit: int = Field(ge=0)
    resets_at: str


class Quota(BaseModel):
    documents: QuotaWindow
    chat_messages: QuotaWindow
    doctor_reports: QuotaWindow


class Profile(User):
    quota: Quota


class SignedIn(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(gt=0)
    user: User


class UploadForm(BaseModel):
    url: str
    # Sent as form fields before `file`, which must be the form's last field (S3's rule).
    fields: dict[str, str]
    file_field: Literal["file"]  # the name of the file's part
    note: str  # S3's rule above, for whoever reads the ticket


class UploadTicket(BaseModel):
    job_id: str = JobId
    upload: UploadForm
    expires_in: int = Field(gt=0)


class JobStatus(BaseModel):
    job_id: str = JobId
    status: Status
    error: JobError | None = None  # a failed job's reason


class ChatAnswer(BaseModel):
    message: str
    model: str
    disclaimer: str
    created_at: str


class JobResult(BaseModel):
    job_id: str = JobId
    status: Literal["completed", "failed"]
    # A lab report's analysis, a doctor report or a chat answer, by the job's kind.
    result: AnalysisResult | DoctorReport | ChatAnswer | None = None
    error: JobError | None = None


class ChatStatus(BaseModel):
    job_id: str = JobId
    status: Status
    response: ChatAnswer | None = None  # once completed
    error: JobError | None = None


class Accepted(BaseModel):
    job_id: str = JobId
    status: Literal["processing"]


class ChatPrompt(BaseModel):
    id: str
    category: str
    text: str


class ChatPrompts(BaseModel):
    prompts: list[ChatPrompt]
    version: str


class CurrentSubscription(BaseModel):
    type: Plan
    status: PlanStatus
    provider: Literal["apple", "google"] | None
    product_id: str | None
    expires_at: str | None


class WebhookAnswer(BaseModel):
    status: Literal["accepted"]
    # What the notification changed: applied, duplicate, no_change, unknown_product, unknown_user...
    outcome: str


_USER = {
    "id": "6f1c2a9e-3b7d-4e0a-9c51-2d8f7e6a1b30",
    "email": "ana@example.com",
    "name": "Ana Lima",
    "given_name": "Ana",
    "family_name": "Lima",
    "auth_provider": "google",
    "subscription": {"type": "free", "status": "active"},
    "consents": {
        "privacy_policy": {"version": "2025-01", "accepted": True, "recorded_at": "2026-01-05T09:30:00Z"},
        "terms_of_service": {"version": "2025-01", "accepted": True, "recorded_at": "2026-01-05T09:30:00Z"},
    },
    "device": {"platform": "ios", "device_id": "a1b2c3", "app_version": "1.4.0"},
    "created_at": "2026-01-05T09:30:00Z",
    "updated_at": "2026-01-05T09:30:00Z",
}
_JOB = "result_6f1c2a9e-3b7d-4e0a-9c51-2d8f7e6a1b30_1767605400000_3f9c0a1b2c3d4e5f"
_CHAT_JOB = "chat_6f1c2a9e-3b7d-4e0a-9c51-2d8f7e6a1b30_1767605400000_8e7d6c5b4a392817"
_ANALYSIS = {
    "document_type": "lab_report",
    "observations": [
        {
            "name": "Hemoglobin",
            "loinc": "718-7",
            "value": 11.2,
            "value_text": "11.2",
            "unit": "g/dL",
            "reference_range": {"low": 12.0, "high": 15.5, "text": "12.0-15.5"},
            "flag": "low",
        }
    ],
    "summary": "One value is below its reference range.",
    "observation_count": 1,
    "confidence": 0.92,
    "model": "anthropic.claude",
    "disclaimer": "This is general information generated automatically, not medical advice.",
    "processed_at": "2026-01-05T09:31:12Z",
}
_WINDOW = {"used": 1, "limit": 20, "resets_at": "2026-01-06T00:00:00Z"}

# One example answer per model: the document shows it on each operation; a test checks
# each one against its model and against the document's schema.
EXAMPLES: dict[str, dict] = {
    "SignedIn": {
        "access_token": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
        "token_type": "Bearer",
        "expires_in": 3600,
        "user": _USER,
    },
    "User": _USER,
    "Profile": {**_USER, "quota": {"documents": _WINDOW, "chat_messages": _WINDOW, "doctor_reports": _WINDOW}},
    "UploadTicket": {
        "job_id": _JOB,
        "upload": {
            "url": "https://serenya-dev-temp.s3.eu-west-1.amazonaws.com/",
            "fields": {
                "key": f"incoming/{_JOB}",
                "Content-Type": "application/pdf",
                "policy": "eyJ...",
                "x-amz-signature": "ab12",
            },
            "file_field": "file",
            "note": "POST multipart/form-data to url: every entry of fields, then the file as the last field, "
            "named file (S3 ignores fields after the file).",
        },
        "expires_in": 900,
    },
    "JobStatus": {"job_id": _JOB, "status": "completed"},
    "JobResult": {"job_id": _JOB, "status": "completed", "result": _ANALYSIS},
    "ChatStatus": {
        "job_id": _CHAT_JOB,
        "status": "completed",
        "response": {
            "message": "Your hemoglobin is slightly low.",
            "model": "anthropic.claude",
            "disclaimer": "This is general information generated automatically, not medical advice.",
            "created_at": "2026-01-05T09:32:00Z",
        },
    },
    "Accepted": {"job_id": _CHAT_JOB, "status": "processing"},
    "ChatPrompts": {
        "prompts": [
            {
                "id": "explain-abnormal",
                "category": "understand",
                "text": "Which of my results are outside the normal range?",
            }
        ],
        "version": "2026-11-v1",
    },
    "CurrentSubscription": {
        "type": "premium",
        "status": "active",
        "provider": "apple",
        "product_id": "serenya.premium.monthly",
        "expires_at": "2026-02-05T09:30:00Z",
    },
    "WebhookAnswer": {"status": "accepted", "outcome": "applied"},
}
