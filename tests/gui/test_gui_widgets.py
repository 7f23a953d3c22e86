"""Widget-level tests: range slider, policy editor, threshold histogram, heatmap view, workers."""
from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from inspector.augment.policy import PRESETS
from inspector.gui.widgets.heatmap_view import HeatmapView
from inspector.gui.widgets.policy_editor import PolicyEditor
from inspector.gui.widgets.range_slider import KnobRange, RangeSlider
from inspector.gui.widgets.threshold_histogram import ThresholdHistogram
from inspector.gui.workers import LatestOnly, Task
from inspector.types import InspectorError


def test_range_slider_drag_moves_nearest_handle(qtbot):
    slider = RangeSlider(0.0, 10.0, 0.5)
    qtbot.addWidget(slider)
    slider.resize(220, 30)
    slider.setValues(2.0, 8.0)
    seen = []
    slider.rangeChanged.connect(lambda low, high: seen.append((low, high)))
    x_high = int(slider._to_x(8.0))
    qtbot.mousePress(slider, Qt.MouseButton.LeftButton, pos=QPoint(x_high, 15))
    qtbot.mouseMove(slider, QPoint(int(slider._to_x(9.5)), 15))
    qtbot.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=QPoint(int(slider._to_x(9.5)), 15))
    low, high = slider.values()
    assert low == 2.0 and high == pytest.approx(9.5)
    assert seen and seen[-1] == (2.0, 9.5)
    slider.setValues(9.0, 1.0)  # reversed input is ordered, never crosses
    assert slider.values() == (1.0, 9.0)


def test_knob_range_keeps_pair_ordered_and_reports_off(qtbot):
    knob = KnobRange("Rotate", (-45, 45), (-180, 180), 0.5, 1, " °", default=(-10, 10))
    qtbot.addWidget(knob)
    assert knob.value() is None
    knob.check.setChecked(True)
    assert knob.value() == (-10.0, 10.0)
    knob.low.setValue(20.0)  # above high: high follows
    assert knob.value() == (20.0, 20.0)
    assert knob.slider.values() == (20.0, 20.0)


def test_policy_editor_round_trips_every_preset(qtbot):
    editor = PolicyEditor()
    qtbot.addWidget(editor)
    for name, preset in PRESETS.items():
        editor.set_policy(preset)
        assert editor.policy() == preset, name
    with qtbot.waitSignal(editor.policyChanged):
        editor.flags["flip_vertical"].setChecked(not editor.flags["flip_vertical"].isChecked())
    assert editor.policy().name == "custom"


def test_threshold_histogram_lines_emit_and_stay_ordered(qtbot):
    hist = ThresholdHistogram()
    qtbot.addWidget(hist)
    hist.set_scores(np.linspace(1, 2, 50), np.linspace(3, 4, 10))
    hist.set_thresholds(2.5, 2.2)
    assert hist.fail() == pytest.approx(2.5) and hist.review() == pytest.approx(2.2)
    with qtbot.waitSignal(hist.thresholdsChanged) as blocker:
        hist.fail_line.setValue(2.0)  # below REVIEW: REVIEW is pushed down with it
    fail, review = blocker.args
    assert fail == pytest.approx(2.0) and review == pytest.approx(2.0)
    hist.set_thresholds(2.5, None)
    assert hist.review() is None and not hist.review_line.isVisible()


def test_heatmap_view_uses_fixed_levels_and_reports_missing_map(qtbot):
    view = HeatmapView()
    qtbot.addWidget(view)
    view.show()
    view.set_levels(1.0, 4.0, threshold=2.0)
    view.set_image(np.zeros((32, 48, 3), np.uint8))
    view.set_map(np.full((32, 48), 0.5, np.float32))
    assert view.overlay.levels is not None and tuple(view.overlay.levels) == (1.0, 4.0)  # not stretched
    assert view.overlay_shown
    view.set_overlay_visible(False)
    assert not view.overlay_shown
    view.set_map(None, "KNN gives no anomaly map.")
    assert not view.has_map and view.note.isVisible() and "no anomaly map" in view.note.text()


def test_task_delivers_progress_result_and_cancel(qtbot):
    def work(reporter):
        for i in range(5):
            reporter.report("extract", i + 1, 5, "step")
            time.sleep(0.01)
        return 42

    task = Task(work, "ok")
    progress = []
    task.progress.connect(progress.append)
    with qtbot.waitSignal(task.result, timeout=5000) as blocker:
        task.start()
    assert blocker.args == [42]
    assert progress and progress[-1].done == 5  # the last report is never throttled away
    qtbot.waitUntil(lambda: not task.is_running)

    def slow(reporter):
        for i in range(500):
            reporter.report("fit", i, 500)
            time.sleep(0.01)
        return "not reached"

    task = Task(slow, "cancel")
    results = []
    task.result.connect(results.append)
    with qtbot.waitSignal(task.cancelled, timeout=5000):
        task.start()
        qtbot.wait(50)
        task.cancel()
    qtbot.waitUntil(lambda: not task.is_running)
    assert results == []


def test_task_error_is_readable(qtbot):
    def broken(_reporter):
        raise InspectorError("camera 3 is not connected")

    task = Task(broken, "err")
    with qtbot.waitSignal(task.error, timeout=5000) as blocker:
        task.start()
    info = blocker.args[0]
    assert info.message == "camera 3 is not connected" and info.expected and "Traceback" in info.details


def test_latest_only_coalesces_requests(qtbot):
    runner = LatestOnly()
    results = []
    runner.result.connect(results.append)

    def job(value):
        def fn(_reporter):
            time.sleep(0.05)
            return value
        return fn

    for value in range(20):
        runner.submit(job(value))
    qtbot.waitUntil(lambda: not runner.busy and results and results[-1] == 19, timeout=5000)
    assert runner.submitted == 20
    assert runner.executed <= 3  # the first, maybe one in between, and the newest
    assert results[-1] == 19


def test_detector_parameter_form_keeps_small_and_negative_floats(qtbot):
    from inspector.detectors.registry import available_detectors
    from inspector.gui.pages.fit import ParamForm

    form = ParamForm()
    qtbot.addWidget(form)
    for name, cls in available_detectors().items():
        form.set_detector(cls)
        values = form.values()
        assert "layers" not in values and "device" not in values, name
        cls(**values)  # every default the form shows is accepted by the detector
    if "simplenet" in available_detectors():
        form.set_detector(available_detectors()["simplenet"], {"adaptor_lr": 1e-5, "th_neg": -0.5})
        values = form.values()
        assert values["adaptor_lr"] == 1e-5 and values["th_neg"] == -0.5


def test_inspect_export_csv_never_writes_a_formula_cell():
    """The Inspect page's CSV export escapes file names a spreadsheet would run as formulas."""
    import csv
    import io
    from pathlib import Path

    from inspector.gui.pages.inspect_jobs import results_csv
    from inspector.gui.widgets.results_model import InspectionResult
    from inspector.threshold import Threshold

    threshold = Threshold(10.0)
    results = [InspectionResult(Path("=cmd|' /C calc'!A0.png"), 12.0, None, "defect"),
               InspectionResult(Path("part.png"), float("nan"), None)]
    rows = list(csv.reader(io.StringIO(results_csv(results, threshold, lambda r: threshold.verdict(r.score)).decode("utf-8-sig"))))
    assert rows[1][0].startswith("'=") and rows[1][5] == "FAIL"
    assert rows[2][0] == "part.png" and rows[2][5] == "ERROR"  # a NaN score exports as ERROR, never PASS


def test_narrow_heatmap_view_gives_the_colour_bar_room_to_the_part(qtbot):
    """Review at 1024 x 700 shows two views side by side: the bar (about 75 px) left the part ~80 px wide."""
    from inspector.gui.widgets.heatmap_view import COMPACT_WIDTH

    view = HeatmapView()
    qtbot.addWidget(view)
    view.set_image(np.zeros((32, 32, 3), np.uint8))
    view.set_map(np.zeros((32, 32), np.float32))
    view.resize(COMPACT_WIDTH + 300, 300)
    view.show()
    qtbot.waitUntil(lambda: view.width() == COMPACT_WIDTH + 300, timeout=2_000)
    assert view.colorbar.isVisible()
    view.resize(COMPACT_WIDTH - 60, 300)
    qtbot.waitUntil(lambda: view.width() == COMPACT_WIDTH - 60, timeout=2_000)
    assert not view.colorbar.isVisible() and view.overlay_shown
