"""On-call's switch (serenya:newJobsPaused, NEW_JOBS_PAUSED): while it is on, the three
routes that start model work answer 503 `jobs_paused` with Retry-After and change
nothing (no quota counted, no job, no object); off, the same requests are accepted."""

from __future__ import annotations

import importlib

import boto3
import pytest

from functions.common.http import JOBS_PAUSED_RETRY_AFTER_S
from functions.common.settings import settings
from tests.functions.test_quotas import PREMIUM, call, held, table, user  # noqa: F401 (table: a fixture)

RESULT = {"document_type": "lab_report", "observations": [], "summary": "s", "confidence": 0.5,
          "model": "m", "disclaimer": "d", "processed_at": "2026-11-30T00:00:00Z"}
STARTS = [
    ("functions.upload.handler", "/api/v1/process/upload", {"content_type": "application/pdf", "file_size": 1000},
     201),
    ("functions.chat_messages.handler", "/api/v1/chat/messages", {"message": "Is my iron low?"}, 202),
    ("functions.doctor_report.handler", "/api/v1/process/doctor-report",
     {"results": [{"date": "2026-11-01", "result": RESULT}]}, 202),
]


def objects() -> list[str]:
    listed = boto3.client("s3", region_name="eu-west-1").list_objects_v2(Bucket="serenya-test-temp")
    return [o["Key"] for o in listed.get("Contents", [])]


def switch(monkeypatch, on: bool) -> None:
    monkeypatch.setenv("NEW_JOBS_PAUSED", "true" if on else "false")
    settings.cache_clear()  # read once per container: a new setting is a new deployment


@pytest.mark.parametrize("module, path, body, accepted", STARTS, ids=["upload", "chat", "doctor_report"])
def test_paused_refuses_with_503_and_changes_nothing_then_resumes(table, monkeypatch,  # noqa: F811
                                                                  module, path, body, accepted):
    handler = importlib.import_module(module).handler
    u = user(table, PREMIUM)
    switch(monkeypatch, True)
    status, answer, headers = call(handler, "POST", path, u, body)
    assert (status, answer["error"]["code"]) == (503, "jobs_paused")
    assert headers["Retry-After"] == str(JOBS_PAUSED_RETRY_AFTER_S) == str(answer["error"]["retry_after"])
    assert "paused" in answer["error"]["message"]
    assert held(table, u) == {} and objects() == []  # no quota spent, no job input, no ticket's object
    switch(monkeypatch, False)
    assert call(handler, "POST", path, u, body)[0] == accepted
    assert sum(held(table, u).values()) > 0


def test_paused_answers_before_reading_the_body(table, monkeypatch):  # noqa: F811
    """Even a request that would be refused for its body gets the pause: nothing is read."""
    from functions.chat_messages.handler import handler

    switch(monkeypatch, True)
    status, answer, _ = call(handler, "POST", "/api/v1/chat/messages", user(table), {"message": 5})
    assert (status, answer["error"]["code"]) == (503, "jobs_paused")


def test_the_switch_is_off_unless_set(monkeypatch):
    monkeypatch.delenv("NEW_JOBS_PAUSED", raising=False)
    settings.cache_clear()
    assert settings().jobs_paused is False
    switch(monkeypatch, True)
    assert settings().jobs_paused is True
    settings.cache_clear()
