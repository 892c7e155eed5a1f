"""The rules Bedrock's Converse API checks on a request before any model sees it, so the
offline analyser (the stand-in, local/offline/provider.py) refuses what Bedrock
refuses, with the same ValidationException, instead of answering a request that would
fail every job once deployed. botocore's own validation checks shapes and types only,
not enums, lengths or the conversation's order.

From the API reference:
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html (role:
user | assistant), https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html
(name: 1-200 characters, alphanumeric, single whitespace, hyphens, parentheses, square
brackets; format: pdf | csv | doc | docx | xls | xlsx | html | txt | md),
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html (format:
png | jpeg | gif | webp; at most 3.75 MB, 20 images), API_runtime_ToolSpecification.html
(name: [a-zA-Z0-9_-]+, 1-64 characters), and the conversation's order ("A conversation must
start with a user message", "must alternate between user and assistant roles") from
https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-call.html.
"""

from __future__ import annotations

import re

from functions.common.limits import MAX_IMAGE_BYTES, MAX_PDF_BYTES

ROLES = ("user", "assistant")
DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
MAX_DOCUMENTS, MAX_DOCUMENT_BYTES = 5, MAX_PDF_BYTES
MAX_IMAGES = 20
_DOCUMENT_NAME = re.compile(r"(?:[A-Za-z0-9\-()\[\]]|\s(?!\s))+")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def violation(*, system: str, messages: list[dict], tool: dict) -> str | None:
    """What Bedrock would answer ValidationException with, or None for a valid request."""
    if not system:
        return "system: the text must not be empty"
    if not _TOOL_NAME.fullmatch(tool["toolSpec"]["name"]):
        return "toolSpec.name: only letters, numbers, underscores and hyphens, at most 64"
    if not messages:
        return "messages: at least one message is required"
    documents = images = 0
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ROLES:
            return f"messages.{i}.role: must be one of {', '.join(ROLES)}"
        if i == 0 and role != "user":
            return "A conversation must start with a user message."
        if i and role == messages[i - 1]["role"]:
            return "A conversation must alternate between user and assistant roles."
        if not message.get("content"):
            return f"messages.{i}.content: at least one content block is required"
        for block in message["content"]:
            if len(block) != 1:
                return f"messages.{i}.content: a block holds exactly one member"
            if "document" in block:
                documents += 1
                problem = _document(block["document"])
            elif "image" in block:
                images += 1
                problem = _image(block["image"])
            else:
                problem = None if isinstance(block.get("text"), str) and block["text"] else "unknown or empty block"
            if problem:
                return f"messages.{i}.content: {problem}"
    if documents > MAX_DOCUMENTS:
        return f"at most {MAX_DOCUMENTS} documents per request"
    if images > MAX_IMAGES:
        return f"at most {MAX_IMAGES} images per request"
    return None


def _document(document: dict) -> str | None:
    name = document.get("name") or ""
    if not (len(name) <= 200 and _DOCUMENT_NAME.fullmatch(name)):
        return (
            "The document file name can only contain alphanumeric characters, whitespace characters, "
            "hyphens, parentheses, and square brackets."
        )
    if document.get("format") not in DOCUMENT_FORMATS:
        return f"document.format: must be one of {', '.join(DOCUMENT_FORMATS)}"
    if len(document["source"]["bytes"]) > MAX_DOCUMENT_BYTES:
        return "The document exceeds 4.5 MB."
    return None


def _image(image: dict) -> str | None:
    if image.get("format") not in IMAGE_FORMATS:
        return f"image.format: must be one of {', '.join(IMAGE_FORMATS)}"
    if len(image["source"]["bytes"]) > MAX_IMAGE_BYTES:
        return "image exceeds max limit of 3.75 MB"
    return None
