"""local/offline/converse_rules.py: the offline analyser refuses, as Bedrock's Converse
API does, a request no model would see (the API reference's enums, lengths and order)."""

import copy

import pytest
from botocore.exceptions import ClientError

from local.offline import converse_rules
from local.offline.provider import OfflineProvider

PDF = {"document": {"format": "pdf", "name": "lab-report", "source": {"bytes": b"%PDF-1.7"}}}
PNG = {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}
TOOL = {"toolSpec": {"name": "record_lab_analysis", "inputSchema": {"json": {}}}}


def request(*messages, system="Read the report.", tool=TOOL):
    return {"system": system, "messages": list(messages) or [{"role": "user", "content": [PDF, {"text": "Read."}]}],
            "tool": tool}


def user(*blocks):
    return {"role": "user", "content": list(blocks) or [{"text": "hi"}]}


def assistant(*blocks):
    return {"role": "assistant", "content": list(blocks) or [{"text": "hello"}]}


def with_document(**changes):
    block = copy.deepcopy(PDF)
    block["document"].update(changes)
    return block


def with_image(**changes):
    block = copy.deepcopy(PNG)
    block["image"].update(changes)
    return block


@pytest.mark.parametrize("valid", [
    request(), request(user(PNG, {"text": "Read."})), request(user(), assistant(), user()),
    request(user(with_document(name="Lab (2) [copy]"))), request(user(*[copy.deepcopy(PDF)] * 5)),
    request(user(*[copy.deepcopy(PNG)] * 20)), request(tool={"toolSpec": {"name": "a" * 64}}),
    request(user(with_document(name="x" * 200))),
    request(user(with_document(source={"bytes": b"x" * converse_rules.MAX_DOCUMENT_BYTES}))),
    request(user(with_image(format="webp", source={"bytes": b"x" * converse_rules.MAX_IMAGE_BYTES}))),
    *[request(user(with_document(format=f))) for f in converse_rules.DOCUMENT_FORMATS],
    *[request(user(with_image(format=f))) for f in converse_rules.IMAGE_FORMATS],
])
def test_requests_bedrock_accepts_pass(valid):
    assert converse_rules.violation(**valid) is None


NAME_RULE = ("The document file name can only contain alphanumeric characters, whitespace characters, hyphens, "
             "parentheses, and square brackets.")


@pytest.mark.parametrize("invalid, message", [
    (request(system=""), "system: the text must not be empty"),
    (request(tool={"toolSpec": {"name": "record.lab"}}), "toolSpec.name: only letters, numbers, underscores and hyphens, at most 64"),
    (request(tool={"toolSpec": {"name": "a" * 65}}), "toolSpec.name: only letters, numbers, underscores and hyphens, at most 64"),
    ({"system": "s", "messages": [], "tool": TOOL}, "messages: at least one message is required"),
    (request({"role": "USER", "content": [{"text": "hi"}]}), "messages.0.role: must be one of user, assistant"),
    (request(user(), {"role": "system", "content": [{"text": "x"}]}), "messages.1.role: must be one of user, assistant"),
    (request(assistant(), user()), "A conversation must start with a user message."),
    (request(user(), user()), "A conversation must alternate between user and assistant roles."),
    (request(user(), assistant(), assistant()), "A conversation must alternate between user and assistant roles."),
    (request({"role": "user", "content": []}), "messages.0.content: at least one content block is required"),
    (request(user({"text": "a", "image": PNG["image"]})), "messages.0.content: a block holds exactly one member"),
    (request(user({"text": ""})), "messages.0.content: unknown or empty block"),
    (request(user({"video": {}})), "messages.0.content: unknown or empty block"),
    (request(user(with_document(name="lab_report.pdf"))), f"messages.0.content: {NAME_RULE}"),
    (request(user(with_document(name="lab  report"))), f"messages.0.content: {NAME_RULE}"),
    (request(user(with_document(name=""))), f"messages.0.content: {NAME_RULE}"),
    (request(user(with_document(name="x" * 201))), f"messages.0.content: {NAME_RULE}"),
    (request(user(with_document(format="PDF"))),
     "messages.0.content: document.format: must be one of pdf, csv, doc, docx, xls, xlsx, html, txt, md"),
    (request(user(with_document(source={"bytes": b"x" * (converse_rules.MAX_DOCUMENT_BYTES + 1)}))),
     "messages.0.content: The document exceeds 4.5 MB."),
    (request(user(with_image(format="jpg"))), "messages.0.content: image.format: must be one of png, jpeg, gif, webp"),
    (request(user(with_image(source={"bytes": b"x" * (converse_rules.MAX_IMAGE_BYTES + 1)}))),
     "messages.0.content: image exceeds max limit of 3.75 MB"),
    (request(user(*[copy.deepcopy(PDF)] * 6)), "at most 5 documents per request"),
    (request(user(*[copy.deepcopy(PNG)] * 21)), "at most 20 images per request"),
])
def test_requests_bedrock_refuses_are_named(invalid, message):
    assert converse_rules.violation(**invalid) == message


def test_the_offline_analyser_answers_a_refused_request_as_bedrock_does():
    with pytest.raises(ClientError) as refused:
        OfflineProvider().converse(**request(assistant(), user()))
    error = refused.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationException", 400)
    assert refused.value.operation_name == "Converse"
    assert error["Error"]["Message"] == "A conversation must start with a user message."
