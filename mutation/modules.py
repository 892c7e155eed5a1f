"""What `make mutate` mutates, the tests each module is checked with, and the mutants
replayed by hand where mutmut 3 does not reach.

A module is a folder (every .py in it) or one file. Its tests are the ones that
exercise it directly: mutmut runs only those of them that reach the mutated function,
so a longer list costs one extra run (the coverage pass), not one per mutant.
"""

from __future__ import annotations

from dataclasses import dataclass

# module -> the tests it is checked with (paths relative to the repository root)
MODULES: dict[str, tuple[str, ...]] = {
    "functions/common": ("tests/functions", "tests/faults"),
    "functions/process": ("tests/functions/test_process.py", "tests/functions/test_process_deadline.py",
                          "tests/functions/test_photos.py", "tests/functions/test_labs.py",
                          "tests/functions/test_process_contract.py", "tests/functions/test_offline_doctor_report.py",
                          "tests/functions/test_offline_answers.py", "tests/functions/test_log_fields.py",
                          "tests/functions/test_converse_rules.py",
                          "tests/faults/test_fault_injection.py"),
    "functions/upload": ("tests/functions/test_upload.py", "tests/functions/test_upload_limits.py"),
    "functions/authorizer": ("tests/functions/test_authorizer.py", "tests/functions/test_authorizer_signals.py"),
    "components/storage.py": ("tests/components/test_key_policy.py", "tests/components/test_key_policies.py",
                              "tests/components/test_storage.py", "tests/components/test_provider_schema.py",
                              "tests/security/test_fsbp_controls.py", "tests/security/test_keys_by_purpose.py"),
    "components/iam.py": ("tests/components/test_iam.py", "tests/components/test_processing.py",
                          "tests/security/test_fsbp_controls.py", "tests/security/test_keys_by_purpose.py"),
    "components/alarms.py": ("tests/components/test_observability.py",
                             "tests/components/test_aws_metrics_and_triggers.py",
                             "tests/components/test_provider_schema.py"),
    "analytics/events.py": ("tests/analytics/test_events.py", "tests/analytics/test_event_shape.py",
                            "tests/analytics/test_pipeline.py"),
}

# Modules whose tests share the program's session-scoped run (tests/conftest.py): each of
# their mutants is checked against all of the module's tests (mutation/mutmut_driver.py).
WHOLE_SELECTION = frozenset({"components/storage.py", "components/iam.py", "components/alarms.py"})

# Packages copied into mutmut's scratch tree (mutated only where a module says so) and
# the other files the tests read: the local stack, the stack files, generated docs.
SOURCE_PACKAGES = ("functions", "components", "analytics")
ALSO_COPY = ("local", "analytics_queries", "preflight", "bench", "docs", "requirements", "pyproject.toml", "__main__.py",
             "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml")


@dataclass(frozen=True)
class HandMutant:
    """One textual change to `path` (`old` must occur exactly once) that `tests` must kill.

    For code mutmut 3 leaves alone: decorated functions (route handlers, @instrumented
    handlers) and module-level code, and for the regressions an audit found."""
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


_UPLOAD_TESTS = ("tests/functions/test_upload.py", "tests/functions/test_upload_limits.py")
_STORAGE_TESTS = ("tests/components/test_storage.py", "tests/security/test_fsbp_controls.py",
                  "tests/components/test_key_policy.py")

AUDIT_MUTANTS: tuple[HandMutant, ...] = (
    # functions/upload/handler.py: `upload` is a decorated route, which mutmut 3 skips.
    HandMutant("upload-no-content-type-condition", "functions/upload/handler.py",
               '                {"Content-Type": content_type},\n', "",
               _UPLOAD_TESTS, "the policy would let the client upload any content type"),
    HandMutant("upload-no-sse-kms-conditions", "functions/upload/handler.py",
               "*({k: v} for k, v in encryption.items()),", "",
               _UPLOAD_TESTS, "the policy would let the client upload without SSE-KMS"),
    HandMutant("upload-no-kms-key-condition", "functions/upload/handler.py",
               "*({k: v} for k, v in encryption.items()),",
               "*({k: v} for k, v in encryption.items() if k.endswith('encryption')),",
               _UPLOAD_TESTS, "the policy would accept SSE-KMS under any key"),
    HandMutant("upload-size-range-from-zero", "functions/upload/handler.py",
               '["content-length-range", 1, request.file_size]', '["content-length-range", 0, request.file_size]',
               _UPLOAD_TESTS, "an empty upload would be accepted"),
    HandMutant("upload-size-range-unbounded", "functions/upload/handler.py",
               '["content-length-range", 1, request.file_size]',
               '["content-length-range", 1, MAX_UPLOAD_BYTES]',
               _UPLOAD_TESTS, "the upload could be larger than the size the client declared"),
    HandMutant("upload-size-check-off-by-one", "functions/upload/handler.py",
               "if request.file_size > MAX_UPLOAD_BYTES:", "if request.file_size >= MAX_UPLOAD_BYTES:",
               _UPLOAD_TESTS, "a file of exactly 10 MiB would be refused"),
    HandMutant("upload-content-type-not-normalised", "functions/upload/handler.py",
               'request.content_type.split(";")[0].strip().lower()', "request.content_type",
               _UPLOAD_TESTS, "a content type with parameters or capitals would be refused or signed as sent"),
    HandMutant("upload-expiry-constant", "functions/upload/handler.py",
               "ExpiresIn=jobs.UPLOAD_URL_SECONDS,\n", "ExpiresIn=3600,\n",
               _UPLOAD_TESTS, "the presigned POST would outlive the job's upload window"),
    # The other regressions the audit found.
    HandMutant("crypto-no-encryption-context", "functions/common/crypto.py",
               'return {"user_id": user_id}', "return {}",
               ("tests/functions/test_users.py", "tests/functions/test_crypto.py"),
               "a user's data key would open without naming its user"),
    HandMutant("process-s3-error-swallowed", "functions/process/handler.py",
               "            return  # already processed and removed by an earlier delivery\n        raise",
               "            return  # already processed and removed by an earlier delivery\n        return",
               ("tests/functions/test_process.py", "tests/functions/test_process_contract.py"),
               "an S3 failure would end the event without a retry"),
    HandMutant("bedrock-tool-choice-auto", "functions/process/providers.py",
               '"toolChoice": {"tool": {"name": tool["toolSpec"]["name"]}}', '"toolChoice": {"auto": {}}',
               ("tests/functions/test_process.py", "tests/functions/test_process_contract.py"),
               "the model could answer in prose instead of the tool"),
    HandMutant("key-policy-no-account-statement", "components/storage.py",
               "            account_statement(account_id),\n", "",
               _STORAGE_TESTS, "the data key would lock out the account's IAM administrators"),
    HandMutant("dashboard-metric-typo", "components/dashboards.py",
               '["AWS/Lambda", "Invocations", *name, {"id": f"i_{key}", "visible": False}]',
               '["AWS/Lambda", "Invocation", *name, {"id": f"i_{key}", "visible": False}]',
               ("tests/components/test_observability.py", "tests/components/test_aws_metrics_and_triggers.py"),
               "a dashboard widget would graph a metric that does not exist"),
    HandMutant("api-deployment-trigger-constant", "components/api.py",
               '"document": document.apply(lambda d: hashlib.sha256(d.encode()).hexdigest()),',
               '"document": "constant",',
               ("tests/components/test_api.py", "tests/components/test_aws_metrics_and_triggers.py"),
               "a changed API would never be redeployed to its stage"),
)


def module_of(path: str) -> str | None:
    """The configured module that holds `path`, if any."""
    for module in MODULES:
        if path == module or path.startswith(module.rstrip("/") + "/"):
            return module
    return None
