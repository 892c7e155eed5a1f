"""What a PDF must be before any model sees it: readable, not encrypted, at most 100 pages.

Both the Bedrock path (tasks.lab_task) and the local stack's offline analyser (local/offline/) open PDFs
here, so they refuse the same files with the same codes:

- `unreadable_document`: pypdf cannot parse the file, or it is encrypted (Bedrock and
  the offline analyser cannot read an encrypted PDF; the app should send it unlocked).
- `document_too_long`: more than 100 pages, the most Claude reads from one PDF
  ("Maximum pages per request: 100", https://docs.anthropic.com/en/docs/build-with-claude/pdf-support).

pypdf is imported on first use, not at cold start. pypdf imports Pillow whenever Pillow
is installed (to extract images from PDFs, which nothing here does); the process layer
now holds Pillow for photos, so pypdf is imported with Pillow hidden and PDF jobs do not
pay for loading it (tests/functions/test_photos.py checks it in a fresh interpreter).
"""

from __future__ import annotations

import io
import struct
import sys

from functions.process.providers import InputError

MAX_PAGES = 100


def _pypdf():
    # One event at a time per execution environment: nothing imports Pillow meanwhile.
    if "pypdf" not in sys.modules and "PIL" not in sys.modules:
        # A None entry makes `import PIL` raise ImportError, which pypdf handles as
        # "Pillow not installed" (https://docs.python.org/3/reference/import.html#the-module-cache).
        sys.modules["PIL"] = None  # type: ignore[assignment]
        try:
            import pypdf
        finally:
            del sys.modules["PIL"]
    import pypdf

    return pypdf


def parse_errors() -> tuple[type[BaseException], ...]:
    """What pypdf raises on a malformed file (strict=False still raises on broken structure)."""
    return (
        _pypdf().errors.PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        struct.error,
    )


def reader(body: bytes):
    """A pypdf PdfReader over `body` once the rules above hold; InputError otherwise."""
    pypdf = _pypdf()
    try:
        document = pypdf.PdfReader(io.BytesIO(body))
        if document.is_encrypted:
            raise InputError("unreadable_document", reason="pdf_encrypted")
        pages = len(document.pages)
    except InputError:
        raise
    except parse_errors():
        raise InputError("unreadable_document", reason="pdf_unparsable") from None
    if pages > MAX_PAGES:
        raise InputError("document_too_long", reason="pdf_too_long")
    if pages == 0:
        raise InputError("unreadable_document", reason="pdf_unparsable")
    return document
