"""A refit or another project must not re-judge or show the previous model's / project's results (issue 15)."""

from gui_helpers import fit_and_wait


def _inspect_test_set(window, qtbot):
    page = window.inspect_page
    before = len(page.results)
    assert page.inspect_test_images() is not None
    qtbot.waitUntil(lambda: page.task is None and len(page.results) > before, timeout=60_000)
    return page


def test_refit_keeps_old_verdicts_and_histogram_scale(project_window, qtbot, tmp_path):
    window = project_window
    fit_and_wait(window, qtbot, detector="padim", image_size=64)
    page = _inspect_test_set(window, qtbot)
    old = list(page.results)
    old_model = window.session.model.model_id
    assert all(r.model_id == old_model and r.recorded_verdict for r in old)
    fit_and_wait(window, qtbot, detector="padim", image_size=96)
    assert window.session.model.model_id != old_model
    # An absurd working point on the new model: the old results must keep their logged verdicts.
    page.set_thresholds(-1e9, None)
    for row in range(page.model.rowCount()):
        index = page.model.item(row, 0).data(0x0100)
        assert page.model.item(row, 4).text() == page.results[index].recorded_verdict
    good, defect = page._histogram_scores()
    threshold = page.threshold
    expected = len(threshold.nominal_scores)
    assert len(good) + len(defect) == expected  # none of the old model's scores joined
    page.show_index(0)
    assert not page.histogram.score_line.isVisible()
    assert "earlier model" in page.score_label.text()
    # New results of the new model are judged (and shown) at the working point.
    _inspect_test_set(window, qtbot)
    new = [r for r in page.results if r.model_id == window.session.model.model_id]
    assert new and all(page.judge(r) == "FAIL" for r in new)
    good, defect = page._histogram_scores()
    assert len(good) + len(defect) == expected + sum(1 for r in new if r.label)

    # Opening another project clears the previous project's fit summary, counts and marker.
    page.show_index(len(page.results) - 1)
    assert window.fit_page.summary.text() and page.progress_label.text()
    assert window.create_project(tmp_path / "other", "Other project")
    assert window.fit_page.summary.text() == ""
    assert window.fit_page.last_result is None
    assert page.progress_label.text() == ""
    assert page.results == [] and page.model.rowCount() == 0
    assert not page.histogram.score_line.isVisible()
    assert page.verdict.text() == "-"
