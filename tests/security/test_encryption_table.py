"""The table of who calls KMS, and as whom (components/encryption.py, docs/encryption.md),
against both stacks' resource graphs: the class of bug of issue 23 (DynamoDB decrypts the
table key as the caller, and no role could) cannot come back unnoticed for a new kind of
encrypted resource, because such a resource has no row until someone reads AWS's
documentation for it and writes down which principal needs the key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components import encryption

ROOT = Path(__file__).resolve().parents[2]
# Resources whose inputs mention a key without being encrypted with it: permissions, the
# keys themselves, and functions (their environment names the keys they use).
MENTION_ONLY = ("aws:iam/", "aws:kms/", "aws:lambda/function:Function")


def _names_a_key(value, keys: set[str]) -> bool:
    if isinstance(value, str):
        return any(k in value for k in keys)
    if isinstance(value, dict):
        return any(_names_a_key(v, keys) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_names_a_key(v, keys) for v in value)
    return False


def encrypted_resources(run) -> list[tuple[str, str, str]]:
    """(type, logical name, key ARN) of every resource encrypted with one of the stack's keys."""
    keys = {k.state["arn"] for k in run.mocks.of_type("aws:kms/key:Key")}
    return [(r.type, r.name, key) for r in run.mocks.resources
            if (key := encryption.encryption_key(r.type, r.inputs)) in keys]


def test_every_resource_encrypted_with_a_customer_managed_key_has_a_row(stack_run):
    found = encrypted_resources(stack_run)
    assert {t for t, _, _ in found} >= {"aws:dynamodb/table:Table", "aws:sns/topic:Topic",
                                        "aws:cloudwatch/logGroup:LogGroup"}, "the walk is broken"
    missing = sorted(f"{t} {n}" for t, n, _ in found if not encryption.uses_of(t, n))
    assert not missing, ("encrypted with a customer managed key but not in components/encryption.py: read AWS's "
                         f"documentation of which principal calls KMS for it, then add a row: {missing}")


def test_no_resource_names_a_key_where_the_table_cannot_see_it(stack_run):
    """A resource type whose encryption field components/encryption.py does not know
    would escape the test above: any mention of a key outside those fields fails here."""
    keys = {k.state["arn"] for k in stack_run.mocks.of_type("aws:kms/key:Key")}
    unknown = sorted({r.type for r in stack_run.mocks.resources
                      if not r.type.startswith(MENTION_ONLY) and r.type not in encryption.ENCRYPTION_FIELDS
                      and _names_a_key(r.inputs, keys)})
    assert not unknown, f"teach encryption.ENCRYPTION_FIELDS where these name their key: {unknown}"


def test_a_second_table_or_a_topic_for_another_publisher_needs_its_own_row():
    assert encryption.uses_of("aws:dynamodb/table:Table", "serenya-dev-storage-table")
    assert not encryption.uses_of("aws:dynamodb/table:Table", "serenya-dev-storage-sessions")
    assert not encryption.uses_of("aws:sns/topic:Topic", "serenya-dev-events-topic")
    assert encryption.encryption_key("aws:lambda/function:Function", {"environment": {"variables": {
        "DATA_KEY_ARN": "arn:aws:kms:eu-west-1:1:key/x"}}}) == ""


def test_every_row_describes_something_the_program_has(dev_run, prod_run):
    found = encrypted_resources(dev_run) + encrypted_resources(prod_run)
    assert encryption.KEY_USES and found
    for use in encryption.KEY_USES:
        assert any(use in encryption.uses_of(t, n) for t, n, _ in found), f"{use.resource}: nothing matches it"
        assert use.calls_as in (encryption.CALLER, encryption.SERVICE, encryption.GRANT)
        assert use.actions and all(a.startswith("kms:") for a in use.actions)
        assert all(u.strip().startswith("https://docs.aws.amazon.com/") for u in use.source.split(";")), use.resource


def _sid(text: str, where: str) -> str | None:
    match = re.match(rf"{where} (\w+)", text)
    return match.group(1) if match else None


def test_each_caller_row_is_an_iam_statement_some_role_holds(stack_run):
    sids = {s["Sid"] for p in stack_run.mocks.of_type("aws:iam/rolePolicy:RolePolicy")
            for s in json.loads(p.inputs["policy"])["Statement"]}
    named = [_sid(u.granted_by, "IAM") for u in encryption.KEY_USES if u.calls_as == encryption.CALLER]
    assert "UseTableKeyThroughDynamoDB" in named and "UseStorageKeyThroughServices" in named
    for sid in filter(None, named):
        assert sid in sids, f"the table says IAM {sid} allows it, but no role has that statement"


def test_each_service_row_is_a_statement_of_the_policy_of_every_key_it_uses(stack_run):
    """A service principal is allowed by the key policy alone: every key named by a
    resource of the row's types carries the statement (the us-east-1 alarm key included)."""
    found = encrypted_resources(stack_run)
    policies = {k.state["arn"]: json.loads(k.inputs["policy"]) if k.inputs.get("policy") else {"Statement": []}
                for k in stack_run.mocks.of_type("aws:kms/key:Key")}
    rows = [u for u in encryption.KEY_USES if u.calls_as == encryption.SERVICE]
    assert rows
    for use in rows:
        sid = _sid(use.granted_by, "key policy")
        assert sid, use.resource
        keys = [(name, key) for type_, name, key in found if use in encryption.uses_of(type_, name)]
        assert keys, f"{use.resource}: no resource of the stack is encrypted this way"
        for name, key in keys:
            statements = {s.get("Sid") for s in policies[key]["Statement"]}
            assert sid in statements, f"{use.resource}: {name}'s key {key} lacks {sid}"


def test_docs_encryption_md_is_up_to_date():
    assert (ROOT / "docs" / "encryption.md").read_text() == encryption.render(), \
        "regenerate: python -m components.encryption > docs/encryption.md"


@pytest.mark.parametrize("use", encryption.KEY_USES, ids=lambda u: u.resource[:30])
def test_the_rendered_table_has_a_row_per_use(use):
    assert f"| {use.resource.replace('|', chr(92) + '|')} | {use.service} | {use.calls_as} |" in encryption.render()
