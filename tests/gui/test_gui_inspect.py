"""Inspect page as its users use it (issues 15 and 17): recall per defect type and heatmap coverage of
ground-truth masks, following the newest part, a FAIL line that stays under the mouse, a table with
room, the export dialog in the project, a log row that opens its image and heatmap, a read-only
project's decision click that changes nothing."""
from __future__ import annotations

import math

import numpy as np
import pytest
from gui_helpers import fit_and_wait
from PySide6.QtCore import QPointF, Qt


def _disc(rng: np.random.Generator, size: int, blob: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    image = np.full((size, size, 3), 40, dtype=np.float64)
    image[((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size * 0.35) ** 2] = 170
    image += rng.normal(0, 4, image.shape)
    mask = np.zeros((size, size), dtype=np.uint8)
    if blob is not None:
        spot = ((yy - blob[0]) ** 2 + (xx - blob[1]) ** 2) < (size * 0.1) ** 2
        image[spot] = [200, 30, 30]
        mask[spot] = 255
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture
def masked_window(window, tmp_path, qtbot):
    """A project with train/good (10), test/good (3), test/blob (3) and test/dent (2), masks for the defects."""
    from inspector.io.images import save_image

    root = tmp_path / "data" / "disc"
    rng = np.random.default_rng(3)
    for folder, count in (("train/good", 10), ("test/good", 3), ("test/blob", 3), ("test/dent", 2)):
        for index in range(count):
            blob = None if folder.endswith("good") else tuple(int(v) for v in rng.integers(24, 40, 2))
            image, mask = _disc(rng, 64, blob)
            save_image(root / folder / f"{index:03d}.png", image)
            if blob is not None:
                save_image(root / "ground_truth" / folder.split("/")[1] / f"{index:03d}_mask.png", mask)
    assert window.create_project(tmp_path / "project", "Inspect")
    window.session.add_class("disc")
    window.acquire_page.import_dataset(root)
    qtbot.waitUntil(lambda: not window.acquire_page.importing, timeout=30_000)
    fit_and_wait(window, qtbot, "padim", 64)
    window.show_page(4)
    return window


class _Drag:
    """A pyqtgraph drag event at a scene position (mapped into the line's coordinates when read, as Qt does)."""

    def __init__(self, line, down: QPointF, at: QPointF, start: bool, finish: bool) -> None:
        self.line, self.down, self.at, self.start, self.finish = line, down, at, start, finish

    def button(self):
        return Qt.MouseButton.LeftButton

    def isStart(self):  # noqa: N802
        return self.start

    def isFinish(self):  # noqa: N802
        return self.finish

    def buttonDownPos(self):  # noqa: N802
        return self.line.mapFromScene(self.down)

    def pos(self):
        return self.line.mapFromScene(self.at)

    def accept(self):
        pass

    def ignore(self):
        pass


def test_inspect_breakdown_follow_drag_table_export_log_and_read_only(masked_window, qtbot, monkeypatch):
    window = masked_window
    page = window.inspect_page
    records = window.session.records("test")
    assert len(records) == 8

    # -- a batch of three chunks: with "Follow newest" the view ends on the last part
    assert page.follow_check.isChecked()
    paths = [window.session.image_path(r) for r in records] * 2
    labels = [r.label for r in records] * 2
    shown = []
    page.relay.results.connect(lambda _c, _b: shown.append(page.current))
    page.inspect_paths(paths, labels)
    qtbot.waitUntil(lambda: page.task is None, timeout=120_000)
    assert shown == [7, 15] and page.current == 15  # each batch's newest part, not result 1
    page.clear_results()
    page.follow_check.setChecked(False)
    page.inspect_paths(paths, labels)
    qtbot.waitUntil(lambda: page.task is None, timeout=120_000)
    assert page.current == 0
    page.clear_results()

    # -- the class's test images: recall per defect type, mask coverage and pixel AUROC
    page.inspect_test_images()
    qtbot.waitUntil(lambda: page.task is None, timeout=120_000)
    rows = {r.kind: r for r in page.breakdown.rows}
    assert set(rows) == {"blob", "dent", "all defects"}
    assert (rows["blob"].parts, rows["dent"].parts, rows["all defects"].parts) == (3, 2, 5)
    assert rows["blob"].masks == 3 and rows["dent"].masks == 2
    assert rows["all defects"].pixel_auroc > 0.8  # the map points at the blobs
    fail = page.threshold.fail
    blob_results = [r for r in page.results if r.defect_type == "blob"]
    expected = np.mean([np.mean(r.anomaly_map.astype(np.float32)[r.mask] >= fail) for r in blob_results])
    assert rows["blob"].coverage == pytest.approx(expected)
    assert rows["blob"].recall == sum(page.judge(r) == "FAIL" for r in blob_results) / 3
    assert "recall blob" in page.summary.text()
    assert page.breakdown.rowCount() == 3 and page.breakdown.item(0, 0).text() == "blob"
    assert page.table.model().index(0, 2).data() in ("good", "blob", "dent")  # the label column names the type
    page.set_thresholds(1e9, None)  # nothing fails: recall 0, coverage 0
    assert {r.kind: r.recall for r in page.breakdown.rows}["blob"] == 0.0
    assert {r.kind: r.coverage for r in page.breakdown.rows}["blob"] == 0.0
    page.reset_threshold()

    # -- the table has room for several rows
    assert page.table.height() >= 24 * 5

    # -- dragging FAIL: the axis does not re-fit under the mouse, the line stays under it
    histogram = page.histogram
    line = histogram.fail_line
    view = histogram.plot.getViewBox()
    start_range = view.viewRange()[0]
    start = view.mapViewToScene(QPointF(line.value(), 0.5))
    targets = []
    for step in range(0, 38, 4):
        at = QPointF(start.x() + step, start.y())
        targets.append(view.mapSceneToView(at).x())
        line.mouseDragEvent(_Drag(line, start, at, step == 0, False))
        assert view.viewRange()[0] == pytest.approx(start_range)
    assert page.threshold.fail == pytest.approx(targets[-1], rel=1e-6)
    assert page.fail_spin.value() == pytest.approx(targets[-1], rel=1e-3)
    line.mouseDragEvent(_Drag(line, start, QPointF(start.x() + 37, start.y()), False, True))
    assert not histogram.dragging
    page.reset_threshold()

    # -- the export dialog opens in the project's folder
    asked = {}

    def fake_save(_parent, _title, start, _filter):
        asked["start"] = start
        return "", ""

    monkeypatch.setattr("inspector.gui.pages.inspect_decisions.QFileDialog.getSaveFileName", fake_save)
    page.export_dialog()
    project = window.session.project
    assert asked["start"].startswith(str(project.root))
    monkeypatch.setattr("inspector.gui.pages.log.QFileDialog.getSaveFileName", fake_save)
    window.log_page.export_dialog()
    assert asked["start"].startswith(str(project.root))

    # -- a log row opens its image and heatmap
    window.show_page(5)
    log_page = window.log_page
    log_page.refresh()
    viewer = log_page.open_row(0)
    assert viewer is not None
    qtbot.waitUntil(lambda: viewer.loaded, timeout=60_000)
    assert viewer.view.has_map and viewer.same_model
    assert viewer.view.base.image is not None
    viewer.close()

    # -- read-only project (#17): a decision click says so, stores nothing, changes nothing
    window.show_page(4)
    page.show_index(0)
    result = page.results[0]
    project.read_only = True
    before = window.message_panel.count()
    page.fail_button.click()
    assert result.decision is None
    assert "read-only" in page.decision_label.text()
    assert window.message_panel.count() == before + 1
    assert project.log.query(limit=100)[-1]["operator_decision"] is None
    assert all(r["operator_decision"] is None for r in project.log.query(limit=100))
    from PySide6.QtWidgets import QApplication, QMessageBox

    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    project.read_only = False
    assert math.isfinite(result.score)


def _show(page, qtbot, index: int) -> np.ndarray:
    """Open result `index` and wait for its heatmap; the overlay as drawn (RGBA)."""
    page.show_index(index)
    expected = page.results[index].anomaly_map.astype(np.float32)
    qtbot.waitUntil(lambda: page.view.overlay.image is not None and np.array_equal(page.view.overlay.image, expected),
                    timeout=30_000)
    assert page.view.overlay_shown
    return page.view.overlay_rgba()


def test_heatmap_of_a_good_part_that_scores_high_shows_no_hot_colour_and_a_defect_does(masked_window, qtbot):
    """Issue 15: 'PaDiM's coarse maps light the middle of a good part that scores high'. The colours
    follow the working point: a PASS part shows none, a REVIEW part cool ones, a FAIL part hot ones
    where its defect is (0.1.0 ramped the opacity up from the median good score, so a good part just
    under FAIL was painted nearly opaque orange)."""
    from inspector.visualize import HOT_ALPHA

    window = masked_window
    page = window.inspect_page
    page.inspect_test_images()
    qtbot.waitUntil(lambda: page.task is None, timeout=120_000)
    results = page.results
    good = max((i for i, r in enumerate(results) if r.label == "good"), key=lambda i: results[i].score)
    defect = max((i for i, r in enumerate(results) if r.label == "defect"), key=lambda i: results[i].score)
    high_good = results[good].score
    fail = high_good * 1.02 if high_good > 0 else high_good + 0.1
    assert results[defect].score > fail * 1.1, "the blob must score well above the best good part"
    hot = HOT_ALPHA * 255

    page.set_thresholds(fail, None)  # the good part scores just under FAIL: a PASS that scores high
    good_rgba = _show(page, qtbot, good)
    assert page.judge(results[good]) == "PASS"
    assert int(good_rgba[..., 3].max()) == 0  # nothing painted over a PASS part

    review = high_good * 0.97 if high_good > 0 else high_good - 0.1
    page.set_thresholds(fail, review)  # now it is in the REVIEW band: coloured, never hot
    band_rgba = _show(page, qtbot, good)
    assert page.judge(results[good]) == "REVIEW"
    assert 0 < int(band_rgba[..., 3].max()) < hot

    defect_rgba = _show(page, qtbot, defect)
    assert page.judge(results[defect]) == "FAIL"
    hot_pixels = defect_rgba[..., 3] >= hot
    assert hot_pixels.any()
    mask = results[defect].mask
    assert mask is not None and hot_pixels.shape == mask.shape
    assert hot_pixels[mask].mean() > 0.5 or mask[hot_pixels].mean() > 0.5  # the hot colour is on the blob
    # Hot means the upper (bright) half of the colour map, not only opaque.
    assert defect_rgba[hot_pixels][:, :3].astype(int).sum(axis=1).mean() > 300
    page.reset_threshold()
