"""The whole journey through a client generated from docs/openapi.json (issue 26): what an
app engineer gets from the contract alone. openapi-python-client writes the client into
a temporary directory; every answer is parsed by the generated models, whose enums and
required fields refuse a body the document does not describe."""

import importlib
import subprocess
import sys
import time

import pytest
import requests

from local.program import ROOT
from tests.e2e.conftest import CONSENTS, DEVICE
from tests.fixtures.lab_reports import LIPIDS

PACKAGE = "serenya_generated_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated package, imported; its generator's warnings fail the test."""
    where = tmp_path_factory.mktemp("client")
    config = where / "config.json"
    config.write_text('{"post_hooks": []}')  # no formatter run over the output
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(ROOT / "docs" / "openapi.json"),
         "--meta", "none", "--output-path", str(where / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr  # nothing of the document skipped
    sys.path.insert(0, str(where))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def until_done(call, timeout=15.0):
    """Polls a generated status call until the job leaves pending/processing; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        answer = call()
        if answer.status_code != 200 or answer.parsed.status.value in ("completed", "failed"):
            return answer
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.05)


def test_the_journey_through_a_client_generated_from_the_document(generated, stack, client):
    api, models, make = (lambda n: generated(f"api.{n}")), generated("models"), generated("client")
    anonymous = make.Client(base_url=stack.url, raise_on_unexpected_status=True)
    id_token = client.id_token("google", "generated-client", email="gen@example.com", name="Gen Client")
    onboarding = models.OnboardingRequest.from_dict(
        {"provider": "google", "id_token": id_token, "device": DEVICE, "consents": CONSENTS})

    # Onboarding: 201 for the new account, 200 when it exists; the same SignedIn model.
    created = api("auth.auth_post_auth_oauth_onboarding").sync_detailed(client=anonymous, body=onboarding)
    assert created.status_code == 201 and isinstance(created.parsed, models.SignedIn)
    again = api("auth.auth_post_auth_oauth_onboarding").sync_detailed(client=anonymous, body=onboarding)
    assert again.status_code == 200 and again.parsed.user.id == created.parsed.user.id
    user_id = created.parsed.user.id
    me = make.AuthenticatedClient(base_url=stack.url, token=again.parsed.access_token,
                                  raise_on_unexpected_status=True)

    # Profile: read (with the quotas) and change.
    profile = api("user_profile.user_profile_get_user_profile").sync_detailed(client=me)
    assert isinstance(profile.parsed, models.Profile) and profile.parsed.quota.documents.used == 0
    changed = api("user_profile.user_profile_put_user_profile").sync_detailed(
        client=me, body=models.ProfileUpdate.from_dict({"given_name": "Genny"}))
    assert isinstance(changed.parsed, models.User) and changed.parsed.given_name == "Genny"

    # A lab report: the ticket, S3's POST (file last), status, result.
    pdf = LIPIDS.pdf()
    ticket = api("upload.upload_post_process_upload").sync_detailed(
        client=me, body=models.UploadRequest(content_type="application/pdf", file_size=len(pdf)))
    assert ticket.status_code == 201 and isinstance(ticket.parsed, models.UploadTicket)
    job_id = ticket.parsed.job_id
    not_ready = api("result.result_get_process_result_job_id").sync_detailed(job_id, client=me)
    assert not_ready.status_code == 409 and not_ready.parsed.error.code.value == "not_ready"
    posted = requests.post(ticket.parsed.upload.url, data=ticket.parsed.upload.fields.to_dict(),
                           files={"file": ("report.pdf", pdf, "application/pdf")}, timeout=10)
    assert posted.status_code in (200, 201, 204), posted.text
    status = until_done(lambda: api("status.status_get_process_status_job_id").sync_detailed(job_id, client=me))
    assert isinstance(status.parsed, models.JobStatus) and status.parsed.status.value == "completed"
    result = api("result.result_get_process_result_job_id").sync_detailed(job_id, client=me)
    analysis = result.parsed.result
    assert isinstance(analysis, models.AnalysisResult) and analysis.observations

    # Chat: the prompts, a question about the result, its answer; an unknown prompt's code.
    prompts = api("chat_prompts.chat_prompts_get_chat_prompts").sync_detailed(client=me).parsed
    question = {"message": "What does my LDL mean?", "prompt_id": prompts.prompts[0].id,
                "context": {"results": [analysis.to_dict()]}}
    asked = api("chat_messages.chat_messages_post_chat_messages").sync_detailed(
        client=me, body=models.ChatRequest.from_dict(question))
    assert asked.status_code == 202 and isinstance(asked.parsed, models.Accepted)
    answer = until_done(lambda: api("chat_status.chat_status_get_chat_status_job_id").sync_detailed(
        asked.parsed.job_id, client=me))
    assert isinstance(answer.parsed, models.ChatStatus) and answer.parsed.response.message
    unknown = api("chat_messages.chat_messages_post_chat_messages").sync_detailed(
        client=me, body=models.ChatRequest.from_dict({**question, "prompt_id": "no-such-prompt"}))
    assert unknown.status_code == 400 and unknown.parsed.error.code.value == "unknown_prompt"

    # Premium: refused while free, then bought through the store simulator, then a report.
    report = models.DoctorReportRequest.from_dict(
        {"results": [{"date": analysis.processed_at[:10], "result": analysis.to_dict()}], "notes": "tired lately"})
    refused = api("doctor_report.doctor_report_post_process_doctor_report").sync_detailed(client=me, body=report)
    assert refused.status_code == 403 and refused.parsed.error.code.value == "premium_required"
    assert client.call("POST", "/local/store/apple/notify",
                       {"user_id": user_id, "notification_type": "SUBSCRIBED"})[0] == 200
    plan = api("subscriptions.subscriptions_get_subscriptions").sync_detailed(client=me).parsed
    assert isinstance(plan, models.CurrentSubscription) and plan.type_.value == "premium"
    started = api("doctor_report.doctor_report_post_process_doctor_report").sync_detailed(client=me, body=report)
    assert started.status_code == 202
    report_job = started.parsed.job_id
    until_done(lambda: api("status.status_get_process_status_job_id").sync_detailed(report_job, client=me))
    doctor = api("result.result_get_process_result_job_id").sync_detailed(report_job, client=me).parsed.result
    assert isinstance(doctor, models.DoctorReport) and doctor.title

    # Cleanup, then the job is gone; deleting the account ends its token.
    assert api("cleanup.cleanup_delete_process_cleanup_job_id").sync_detailed(job_id, client=me).status_code == 204
    gone = api("status.status_get_process_status_job_id").sync_detailed(job_id, client=me)
    assert gone.status_code == 404 and gone.parsed.error.code.value == "job_not_found"
    assert api("user_profile.user_profile_delete_user_profile").sync_detailed(client=me).status_code == 204
    after = api("user_profile.user_profile_get_user_profile").sync_detailed(client=me)
    assert after.status_code == 401 and after.parsed.error.code.value == "unauthorized"
