"""The offline analyser reads photos and screenshots by OCR (local/offline/ocr.py), after the
process function prepared them as for Bedrock (functions/process/images.py).

OCR is CPU-heavy (seconds a photo): one screenshot is read here, and a 12 MP photo of a
printed report end to end in tests/e2e/test_documents.py; the rows are rebuilt from
made-up boxes, without OCR."""

import math
import socket

import pytest

from functions.process import tasks
from local.offline import ocr
from local.offline.provider import OfflineProvider
from tests.fixtures import photos
from tests.fixtures.lab_reports import LIPIDS


def analyse(data: bytes, content_type: str) -> dict:
    task = tasks.lab_task(data, content_type)  # prepared as for Bedrock: upright, 1.15 MP, no metadata
    reply = OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool)
    return reply["output"]["message"]["content"][0]["toolUse"]["input"]


def test_a_screenshot_of_a_report_is_read_with_its_values_and_nothing_downloaded(monkeypatch):
    """A phone screenshot (PNG, 1290 x 2796, no EXIF) of name: value lines: every value and
    flag found, the models loaded from the package with every network connection refused."""
    def refuse(*args, **kwargs):
        raise OSError("the network is unreachable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    ocr._engine.cache_clear()  # load the models here, under the refusal
    result = analyse(photos.report_screenshot(LIPIDS.lines), "image/png")
    assert result["document_type"] == "lab_report" and result["confidence"] == 0.9
    assert {(o["loinc"], o["value"], o["flag"]) for o in result["observations"]} == \
        {(t.loinc, t.value, t.flag) for t in LIPIDS.truth}
    assert "outside the reference range" in result["summary"]


def turned(cells: list[tuple[str, float, float, float]], degrees: float) -> list[ocr.Box]:
    """Boxes of (text, x, y, width) cells 30 px high on a page turned `degrees` clockwise about
    its top left corner; as the detector gives them, short words square to the image."""
    a = math.radians(degrees)
    boxes = []
    for text, x, y, width in cells:
        long = width >= ocr.SKEW_MIN_RATIO * 30
        boxes.append(ocr.Box(text, x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a),
                             a if long else 0.0, width, 30))
    return boxes


TABLE_CELLS = [(text, x, 100 + 45 * row, width) for row, cells in enumerate([
    [("Test name", 100, 200), ("Result", 900, 120), ("Reference range", 1400, 330)],
    [("Hemoglobin", 100, 220), ("11.2", 900, 80), ("g/dL", 1150, 90), ("12.0 - 15.5", 1400, 240)],
    [("WBC", 100, 90), ("6.4", 900, 70), ("10^3/uL", 1150, 150), ("4.0 - 11.0", 1400, 220)],
    [("K", 100, 30), ("6.8", 900, 70), ("mmol/L", 1150, 140), ("3.5 - 5.1", 1400, 200)],
]) for text, x, width in cells]


@pytest.mark.parametrize("degrees", [-3.0, -1.5, 0.0, 1.5, 3.0])
def test_cells_go_back_into_their_rows_on_a_page_held_askew(degrees):
    """At 3 degrees a row drops 70 px across the page, more than a row's height: grouping by
    height alone would mix rows."""
    rows = ocr.lines(turned(TABLE_CELLS, degrees))
    assert rows == ["Test name   Result   Reference range", "Hemoglobin   11.2   g/dL   12.0 - 15.5",
                    "WBC   6.4   10^3/uL   4.0 - 11.0", "K   6.8   mmol/L   3.5 - 5.1"]


def test_short_words_square_to_the_image_do_not_set_the_skew():
    """One long line (the title) tells the angle; the many short cells, square to the image
    whatever the page's angle, would say "straight" by a plain median."""
    cells = [("CITY MEDICAL LABORATORY", 100, 100, 600)] + [
        (word, 100 + 300 * i, 145, 70) for i, word in enumerate(["BUN", "24", "H", "mg/dL", "7-20"])]
    boxes = turned(cells, 3.0)
    assert sum(b.angle == 0.0 for b in boxes) > len(boxes) / 2
    assert math.degrees(ocr._skew(boxes)) == pytest.approx(3.0)
    assert ocr.lines(boxes) == ["CITY MEDICAL LABORATORY", "BUN   24   H   mg/dL   7-20"]


def test_nothing_found_is_no_lines():
    assert ocr.lines([]) == []
