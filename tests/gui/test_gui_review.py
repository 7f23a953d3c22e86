"""Review page gives reasons (issue 15): heatmaps, nearest kept image, score distribution with the cut,
undecided flagged images, digits that tell scores apart, no Messages line per key press."""
from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import fit_and_wait
from PySide6.QtCore import Qt


def test_score_format_tells_the_cut_apart():
    from inspector.gui.widgets.review_reasons import cut_between, score_format

    scores = np.array([12.5734, 12.5712, 3.0, 12.5698])
    flagged = np.array([True, True, False, False])
    fmt = score_format(scores, flagged)
    assert fmt(12.5712) != fmt(12.5698)  # at 4 digits both read 12.57
    assert fmt(3.0) == "3"
    assert cut_between(scores, flagged) == pytest.approx((12.5712 + 12.5698) / 2)
    assert cut_between(scores, np.zeros(4, bool)) is None


def test_review_shows_reasons_and_undecided_images(project_window, qtbot):
    window = project_window
    session = window.session
    fit_and_wait(window, qtbot, "padim", 64, refine=20.0)
    window.show_page(3)
    review = window.review_page
    ranking = review.ranking
    flagged_rows = [r for r in range(review.table.rowCount()) if review.table.item(r, 3).text() == "FLAGGED"]
    assert flagged_rows == [0, 1]
    # Flagged and not decided: marked undecided (not REMOVE), and left out of fitting as SROC did.
    assert [review.table.item(r, 4).text() for r in flagged_rows] == ["undecided", "undecided"]
    assert set(session.part.review_decisions.values()) == {"undecided"}
    training = {r.id for r in session.training_records()}
    assert not training & {review.row_ids[r] for r in flagged_rows} and len(training) == 8
    assert "2 undecided" in review.counts.text()
    # The lowest flagged and the highest kept score never read the same.
    assert review.table.item(1, 2).text() != review.table.item(2, 2).text()

    # Reasons: the image with its heatmap, the nearest kept image with its heatmap, the cut.
    review.table.selectRow(0)
    qtbot.waitUntil(lambda: review.shown is not None and review.shown.index == review.row_index[0], timeout=60_000)
    reasons = review.reasons
    assert reasons.image_view.has_map and reasons.kept_view.has_map
    nearest = review.shown.nearest_index
    assert nearest is not None and not ranking.flagged[nearest]
    assert "nearest kept" in reasons.kept_caption.text()
    assert ranking.names[nearest] in reasons.kept_caption.text()
    scores, flagged = ranking.scores, ranking.flagged
    assert scores[flagged].min() > reasons.distribution.cut > scores[~flagged].max()
    assert reasons.distribution.cut_line.isVisible()
    assert reasons.distribution.selected == pytest.approx(scores[review.row_index[0]])
    assert reasons.distribution.selected_line.label.textItem.toPlainText().startswith("this image ")
    assert reasons.distribution.flagged_curve.yData.sum() == 2 and reasons.distribution.kept_curve.yData.sum() == 8
    # The image is not a fixed 240 px preview (0.1.0): its view grows with the window.
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=5_000)
    qtbot.wait(50)
    small = reasons.image_view.size()
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: window.width() == 1600, timeout=5_000)
    qtbot.wait(50)
    large = reasons.image_view.size()
    assert large.width() > small.width() and large.height() > small.height()
    assert max(large.width(), large.height()) > 240
    window.resize(1280, 820)

    # Key presses decide without a Messages line each.
    before = window.message_panel.count()
    review.table.setFocus()
    review.table.selectRow(0)
    qtbot.keyClick(review.table, Qt.Key.Key_K)
    qtbot.keyClick(review.table, Qt.Key.Key_R)  # the selection moved to row 1
    assert session.part.review_decisions[review.row_ids[0]] == "keep"
    assert session.part.review_decisions[review.row_ids[1]] == "remove"
    assert window.message_panel.count() == before
    assert review.table.item(0, 4).text() == "keep" and review.table.item(1, 4).text() == "REMOVE"


def test_refit_leaves_undecided_images_out_and_says_so(project_window, qtbot):
    window = project_window
    session = window.session
    fit_page = fit_and_wait(window, qtbot, "padim", 64, refine=20.0)
    window.show_page(3)
    review = window.review_page
    review.table.selectRow(0)
    review.decide_selected("keep")  # row 1 stays undecided
    texts = []
    window.messages.posted.connect(lambda _level, text, _details: texts.append(text))
    with qtbot.waitSignal(fit_page.fitFinished, timeout=180_000):
        review.refit_button.click()
    assert any("1 flagged image(s) still undecided are left out, as SROC did" in t for t in texts), texts
    assert session.model.info["n_kept"] == 9
    assert review.decision(review.row_ids[1], 1) == "undecided"
