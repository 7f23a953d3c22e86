"""The policy check (issue 15): with a fitted model, augmented copies are scored in the background
and plotted with the good and defective parts and the FAIL / REVIEW lines, with a summary."""
from __future__ import annotations

import re

import numpy as np
import pytest

from gui_helpers import fit_and_wait
from inspector.augment.policy import AugmentationPolicy, Range

pytestmark = pytest.mark.slow


def test_policy_check_scores_copies_against_the_working_point(project_window, qtbot):
    window = project_window
    window.show_page(2)
    fit_and_wait(window, qtbot, "knn", 64)
    model = window.session.model
    assert model is not None
    window.show_page(1)
    page = window.policy_page
    panel = page.check_panel
    page.tabs.setCurrentWidget(panel)
    assert panel.run_button.isEnabled() and model.model_id in panel.note.text()

    page.editor.set_policy(AugmentationPolicy(add=Range(-3, 3)))
    panel.copies.setValue(20)
    task = panel.start()
    assert task is not None and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.task is None, timeout=180_000)
    check = panel.view.check
    assert check is not None and check.model_id == model.model_id
    assert check.n_scored + check.n_errors == 20 and check.n_errors == 0
    assert set(panel.view.series) >= {"good parts", "defective parts", "augmented copies"}
    assert len(panel.view.series["augmented copies"]) == 20
    threshold = window.session.threshold()
    assert panel.view.lines["FAIL"] == pytest.approx(threshold.fail)
    # The copies are the fit's own and the model scores them: recomputed directly, they agree.
    from inspector.augment.engine import iter_augmented_copies
    from inspector.io.images import load_image

    train = [load_image(window.session.image_path(r)) for r in window.session.training_records()]
    subset = [train[i] for i in check.image_indices]
    copies = [c for _, cs in iter_augmented_copies(subset, page.policy(), check.factor, model.settings.seed,
                                                   working_size=tuple(model.feature_config.input_shape),
                                                   indices=list(check.image_indices)) for c in cs]
    direct = [p.score for p in model.predict(copies)]
    assert np.allclose(np.sort(direct), np.sort(check.copy_scores), rtol=1e-5, atol=1e-6)
    summary = panel.view.summary.text()
    assert re.match(r"\d+ of 20 copies below FAIL", summary), summary
    assert summary == check.summary()
    # Copies this close to KNN's own training images score like them: the gentle policy stays nominal.
    assert check.status == "nominal" and summary.endswith("the policy stays nominal."), summary
    assert check.n_fail == int(np.sum(check.copy_scores >= threshold.fail))

    # A brutal policy (contrast x0.1..x3) must be seen as leaving the nominal range.
    page.editor.set_policy(AugmentationPolicy(multiply=Range(2.5, 3.0), add=Range(60, 80)))
    panel.start()
    qtbot.waitUntil(lambda: panel.task is None, timeout=180_000)
    strong = panel.view.check
    assert strong.n_fail > check.n_fail and strong.status in ("borderline", "defective")
    assert float(np.median(strong.copy_scores)) > float(np.median(check.copy_scores))


def test_policy_check_can_be_cancelled_and_needs_a_model(project_window, qtbot):
    window = project_window
    window.show_page(1)
    panel = window.policy_page.check_panel
    assert not panel.run_button.isEnabled() and "Fit a model" in panel.note.text()
    assert panel.start() is None
    window.show_page(2)
    fit_and_wait(window, qtbot, "knn", 64)
    window.show_page(1)
    panel.copies.setValue(400)
    task = panel.start()
    assert task is not None
    panel.cancel()
    qtbot.waitUntil(lambda: panel.task is None, timeout=180_000)
    assert panel.view.check is None and "cancelled" in panel.view.summary.text()
    assert panel.run_button.isEnabled()
