"""A bad file never aborts GUI work (issue 10, item 4): fit skips and lists an unreadable training
image; batch inspection gives an unreadable test image an ERROR row (logged, no score) and
inspects the rest."""
from __future__ import annotations

import math

import pytest

from gui_helpers import fit_and_wait

pytestmark = pytest.mark.slow


def test_fit_and_batch_inspection_go_on_past_a_bad_file(project_window, qtbot):
    window = project_window
    session = window.session
    train = session.records("train")
    session.image_path(train[-1]).write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    window.show_page(2)
    page = fit_and_wait(window, qtbot, "knn", 64)
    assert session.model is not None, page.progress.detail.text()
    assert session.model.info["skipped_images"] == [train[-1].filename]
    assert session.model.info["n_images"] == len(train) - 1
    assert "Unreadable, skipped" in page.summary.text() and train[-1].filename in page.summary.text()

    test = session.records("test")
    session.image_path(test[0]).write_bytes(b"garbage")
    window.show_page(4)
    inspect = window.inspect_page
    inspect.inspect_test_images()
    qtbot.waitUntil(lambda: inspect.task is None, timeout=120_000)
    assert len(inspect.results) == len(test)
    broken = [r for r in inspect.results if r.path == session.image_path(test[0])]
    assert len(broken) == 1 and math.isnan(broken[0].score)
    assert sum(math.isfinite(r.score) for r in inspect.results) == len(test) - 1
    rows = session.project.log.query(verdict="ERROR")
    assert len(rows) == 1 and rows[0]["score"] is None and rows[0]["note"]
    assert inspect.judge(broken[0]) == "ERROR" and "1 ERROR" in inspect.summary.text()
