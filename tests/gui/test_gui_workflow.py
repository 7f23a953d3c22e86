"""End to end, as a user would: project -> images -> policy -> fit -> review -> inspect -> threshold -> export.

Small synthetic 64 x 64 parts and the real EfficientNet-Lite0 backbone at 64 px input.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui_helpers import fit_and_wait

pytestmark = pytest.mark.slow


def test_full_workflow(project_window, qtbot, tmp_path):
    window = project_window
    session = window.session
    project = session.project

    # -- acquire: the dataset import gave train/good as training, test/* as labelled test images
    assert len(session.records("train")) == 10
    test_records = session.records("test")
    assert len(test_records) == 6
    assert sorted(r.label for r in test_records) == ["defect"] * 3 + ["good"] * 3
    gallery = window.acquire_page.gallery
    assert len(gallery.visible_keys()) == 16
    # mark one training image as test, delete it, restore it, then give it back to training
    first = session.records("train")[0].id
    gallery.select_keys([first])
    window.acquire_page.set_role("test")
    assert session.part.image(first).role == "test"
    gallery.select_keys([first])
    window.acquire_page.delete_selected()
    assert session.part.image(first).deleted
    window.acquire_page.filter.setCurrentIndex(window.acquire_page.filter.findData("deleted"))
    assert gallery.visible_keys() == [first]
    gallery.select_keys([first])
    window.acquire_page.restore_selected()
    gallery.select_keys([first])
    window.acquire_page.filter.setCurrentIndex(window.acquire_page.filter.findData("all"))
    gallery.select_keys([first])
    window.acquire_page.set_role("train")
    assert not session.part.image(first).deleted and session.part.image(first).role == "train"

    # -- policy: edit a knob, the preview follows, save it to the class
    window.show_page(1)
    policy_page = window.policy_page
    qtbot.waitUntil(lambda: policy_page.previews_shown > 0 and not policy_page.runner.busy, timeout=30_000)
    shown_before = policy_page.previews_shown
    policy_page.editor.ranges["rotate"].check.setChecked(True)
    policy_page.editor.ranges["rotate"].slider.setValues(-15, 15, emit=True)
    qtbot.waitUntil(lambda: policy_page.previews_shown > shown_before and not policy_page.runner.busy, timeout=30_000)
    assert policy_page.grid.shown == 12
    assert policy_page.dirty
    policy_page.save()
    assert session.part.policy["rotate"] == [-15.0, 15.0]
    assert (project.root / "policies").glob("*.json")
    assert not policy_page.dirty

    # -- fit: PaDiM with one augmented copy and SROC at 20 %
    window.show_page(2)
    fit_page = fit_and_wait(window, qtbot, "padim", 64, aug_factor=1, refine=20.0)
    assert session.model is not None, fit_page.progress.detail.text()
    assert session.part.active_model_id == session.model.model_id
    assert fit_page.progress.chip_state("fit") == "done" and fit_page.progress.chip_state("augment") == "done"
    assert "fitted" in fit_page.summary.text()
    assert fit_page.models.topLevelItemCount() == 1
    first_model = session.model.model_id
    undecided = [k for k, v in session.part.review_decisions.items() if v == "undecided"]
    assert len(undecided) == 2  # 20 % of 10 flagged -> left out, pending review

    # -- review: the ranking shows every training image, flagged first; keep one, refit
    window.show_page(3)
    review = window.review_page
    assert review.table.rowCount() == 10
    assert review.table.item(0, 3).text() == "FLAGGED"
    assert all(image_id is not None for image_id in review.row_ids)
    review.table.selectRow(0)
    review.decide_selected("keep")
    assert session.part.review_decisions[review.row_ids[0]] == "keep"
    review.remove_all_flagged()
    assert session.part.review_decisions[review.row_ids[0]] == "remove"
    review.table.selectRow(1)
    review.decide_selected("keep")
    reopened = type(project).open(project.root)  # decisions are stored with the class on disk
    assert reopened.classes["disc"].review_decisions == session.part.review_decisions
    reopened.close()
    with qtbot.waitSignal(fit_page.fitFinished, timeout=180_000) as blocker:
        review.refit_button.click()
    assert blocker.args == [True]
    assert session.model.model_id != first_model
    assert session.model.info["n_kept"] == 9  # one removed, SROC not re-run
    assert review.table.rowCount() == 10  # the ranking of the SROC fit stays reviewable

    # -- inspect: the class's test images, with heatmaps
    window.show_page(4)
    inspect = window.inspect_page
    calls = []
    original_predict = session.model.predict

    def counting_predict(images, reporter=None):
        calls.append(len(images))
        return original_predict(images, reporter)

    session.model.predict = counting_predict
    inspect.inspect_test_images()
    qtbot.waitUntil(lambda: inspect.task is None, timeout=120_000)
    assert len(inspect.results) == 6 and sum(calls) == 6
    assert all(r.anomaly_map is not None for r in inspect.results)
    qtbot.waitUntil(lambda: not inspect.display_loader.busy, timeout=10_000)
    assert inspect.view.has_map and inspect.view.overlay_shown
    levels_before = inspect.view.levels()
    inspect.show_index(3)
    qtbot.waitUntil(lambda: not inspect.display_loader.busy and inspect.view.has_map, timeout=10_000)
    assert inspect.view.levels() == levels_before  # tied to the working point, not stretched per image
    good = np.array([r.score for r in inspect.results if r.label == "good"])
    bad = np.array([r.score for r in inspect.results if r.label == "defect"])
    assert bad.mean() > good.mean()
    assert len(inspect.histogram._defect) >= 3  # labelled defect scores join the histogram
    log = project.log
    assert log.count(class_name="disc") == 6

    # -- threshold: changing it re-judges without re-scoring
    scores = sorted(r.score for r in inspect.results)
    middle = (scores[2] + scores[3]) / 2
    inspect.set_thresholds(scores[-1] + 1.0, None)
    assert {inspect.model.item(row, 4).text() for row in range(6)} == {"PASS"}
    inspect.fail_spin.setValue(middle)
    verdicts = [inspect.model.item(row, 4).text() for row in range(6)]
    assert verdicts.count("FAIL") == 3 and verdicts.count("PASS") == 3
    inspect.review_check.setChecked(True)
    inspect.review_spin.setValue((scores[1] + scores[2]) / 2)
    verdicts = [inspect.model.item(row, 4).text() for row in range(6)]
    assert verdicts.count("REVIEW") == 1 and verdicts.count("FAIL") == 3
    assert sum(calls) == 6  # nothing was scored again
    assert inspect.save_threshold_button.isEnabled()
    inspect.save_threshold()
    assert session.part.fail_threshold == pytest.approx(middle, rel=1e-4)  # as typed (spin box precision)
    assert session.part.fail_threshold == inspect.fail_spin.value()
    assert session.threshold().review == pytest.approx((scores[1] + scores[2]) / 2, rel=1e-4)

    # -- operator: confirm / overrule, stored in the log
    inspect.step(1)
    current = inspect.results[inspect.current]
    inspect.decide("FAIL")
    assert log.get(current.log_id)["operator_decision"] == "FAIL"
    assert inspect.model.item(inspect.model.row_of(inspect.current), 5).text() == "FAIL"

    # -- sort the table, click a row: that part is shown
    inspect.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    inspect.table.selectRow(0)
    inspect.table.setCurrentIndex(inspect.proxy.index(0, 0))
    top = inspect.results[inspect.current]
    assert top.score == max(scores)

    # -- export: the results table and the log
    results_csv = tmp_path / "results.csv"
    assert inspect.export_csv(results_csv) == 6
    rows = list(csv.DictReader(results_csv.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 6 and {r["verdict"] for r in rows} <= {"PASS", "REVIEW", "FAIL"}
    assert sum(r["operator_decision"] == "FAIL" for r in rows) == 1
    window.show_page(5)
    assert window.log_page.model.rowCount() == 6
    log_csv = tmp_path / "log.csv"
    assert window.log_page.export_csv(log_csv) == 6
    assert "operator_decision" in log_csv.read_text(encoding="utf-8-sig").splitlines()[0]


def test_reopening_a_project_restores_model_and_working_point(project_window, qtbot, tmp_path):
    window = project_window
    fit_and_wait(window, qtbot, "mahalanobis", 64)
    model_id = window.session.model.model_id
    window.inspect_page.set_thresholds(window.session.model.threshold.fail * 1.5, None)
    window.inspect_page.save_threshold()
    root = window.session.project.root
    window.close_project()
    assert window.stack.currentWidget() is window.welcome
    assert window.welcome.recent.item(0).data(Qt.ItemDataRole.UserRole) == str(root.resolve())
    assert window.open_project(root)
    window.session.wait_for_model()
    assert window.session.model is not None and window.session.model.model_id == model_id
    assert window.inspect_page.threshold.fail == pytest.approx(window.session.model.threshold.fail * 1.5)


def test_detector_without_map_says_so(project_window, qtbot):
    window = project_window
    fit_and_wait(window, qtbot, "mahalanobis", 64)
    assert not window.session.model.localizes
    window.show_page(4)
    inspect = window.inspect_page
    inspect.inspect_test_images()
    qtbot.waitUntil(lambda: inspect.task is None, timeout=60_000)
    qtbot.waitUntil(lambda: not inspect.display_loader.busy and inspect.view.base.image is not None, timeout=10_000)
    assert not inspect.view.has_map
    assert inspect.view.note.isVisible()
    assert "no anomaly map" in inspect.view.note.text()
    assert not inspect.view.colorbar.isVisible()
