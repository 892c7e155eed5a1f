"""The text of a photo or screenshot, for the offline analyser: OCR by RapidOCR.

The image arrives as the process function prepared it for Bedrock (images.py: upright
from its EXIF orientation, at most 1568 px and 1.15 MP, JPEG or PNG), so the offline
path reads what the model would see. RapidOCR (requirements/dev.txt, never in a Lambda
archive) runs PaddleOCR's PP-OCRv6 detection and recognition models on onnxruntime, on
the CPU; the models are files of the wheel, so nothing is downloaded when it runs.

OCR finds boxes of text, one per cell of a table rather than one per row, and a photo
is rarely held quite straight. `lines` puts the boxes back into the report's rows (their
centres turned by the page's median skew, then grouped by height, left to right), so
labs.py reads a photo's rows as it reads a PDF's lines.

Photos in which nothing is read end as `unsupported_document`, as every photo did before
the offline path had OCR: not a readable image. What it cannot read: handwriting, a
page upside down or sideways without an EXIF orientation, text smaller than about 10 px
once prepared (a whole page photographed from far away), blur and strong glare.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache

from functions.process.providers import InputError

# A box joins a row when its centre is within this share of the median text height of
# the row's first box (rows of a printed report are about 1.5 heights apart).
ROW_TOLERANCE = 0.5
# Only boxes this many times wider than high tell the page's skew: the detector gives a
# short word ("BUN", "H") a box square to the image's edges whatever the page's angle.
SKEW_MIN_RATIO = 3
CELL_GAP = "   "  # between the cells of a row, as text extraction spaces a PDF's columns


@dataclass(frozen=True)
class Box:
    text: str
    x: float  # centre, in the image's pixels
    y: float
    angle: float  # of its top edge, in radians (clockwise positive: y grows downwards)
    width: float
    height: float


@lru_cache(maxsize=1)
def _engine():
    """Loads the models (about a second): once per process function environment."""
    from rapidocr import RapidOCR

    # One thread: onnxruntime's pool spins while it waits, which on a shared 2-core machine
    # costs more than it gains (a photo: 3.0 s of CPU on one thread, 5.5 s on two, and
    # slower to wait for); concurrent photo jobs run in environments of their own anyway.
    one = {f"EngineConfig.onnxruntime.{key}": 1 for key in ("intra_op_num_threads", "inter_op_num_threads")}
    return RapidOCR(params={"Global.log_level": "error", **one})  # its warnings would name no job


def boxes(image: bytes) -> list[Box]:
    """The boxes of text RapidOCR finds in an encoded image (JPEG or PNG)."""
    found = _engine()(image)
    if found.boxes is None or found.txts is None:  # nothing detected
        return []
    out = []
    for corners, text in zip(found.boxes, found.txts, strict=True):
        # Corners clockwise from the top left, as RapidOCR orders them.
        (x0, y0), (x1, y1), _, (x3, y3) = ((float(x), float(y)) for x, y in corners)
        centre_x = sum(float(x) for x, _ in corners) / 4
        centre_y = sum(float(y) for _, y in corners) / 4
        angle = math.atan2(y1 - y0, x1 - x0)
        width, height = math.hypot(x1 - x0, y1 - y0), math.hypot(x3 - x0, y3 - y0)
        out.append(Box(str(text), centre_x, centre_y, angle, width, height))
    return out


def lines(found: list[Box]) -> list[str]:
    """The rows of the page, top to bottom, each row's boxes left to right."""
    if not found:
        return []
    skew = _skew(found)
    cos, sin = math.cos(skew), math.sin(skew)
    height = statistics.median(b.height for b in found)
    # Turned back by the skew, the boxes of one row share a height on the page.
    placed = sorted((-b.x * sin + b.y * cos, b.x * cos + b.y * sin, b.text) for b in found)
    rows: list[list[tuple[float, str]]] = []
    row_y = -math.inf
    for y, x, text in placed:
        if y - row_y > ROW_TOLERANCE * height:
            rows.append([])
            row_y = y
        rows[-1].append((x, text))
    return [CELL_GAP.join(text for _, text in sorted(row)) for row in rows]


def _skew(found: list[Box]) -> float:
    """The page's angle: the median of the long boxes' angles, each counted by its width."""
    long = sorted((b.angle, b.width) for b in found if b.width >= SKEW_MIN_RATIO * b.height)
    if not long:
        return 0.0
    half, seen = sum(w for _, w in long) / 2, 0.0
    for angle, width in long:
        seen += width
        if seen >= half:
            return angle
    return long[-1][0]


def text(image: bytes) -> str:
    """The report's text, one row a line; `unsupported_document` when none is found."""
    read = "\n".join(line for line in lines(boxes(image)) if line.strip())
    if not read:
        raise InputError("unsupported_document", reason="image_no_text")
    return read
