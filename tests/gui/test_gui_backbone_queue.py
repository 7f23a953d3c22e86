"""A GUI fit and a GUI inspection started at the same time score as they do one after the other (issue 10).

Both pages run their work on QThreads; every forward pass goes through the one backbone owner
(features/backbone_owner.py), so neither can see the other's batch.
"""
from __future__ import annotations

import numpy as np

from gui_helpers import fit_and_wait


def _scores(page, first: int) -> dict[str, float]:
    return {str(r.path): r.score for r in page.results[first:]}


def test_gui_fit_and_inspection_at_once_match_sequential(project_window, qtbot):
    from inspector.features import backbone_owner

    window = project_window
    inspect = window.inspect_page
    fit_and_wait(window, qtbot, detector="padim", image_size=64)
    sequential_fit = window.session.model
    first = len(inspect.results)
    assert inspect.inspect_test_images() is not None
    qtbot.waitUntil(lambda: inspect.task is None, timeout=120_000)
    sequential = _scores(inspect, first)
    assert len(sequential) == 6 and all(np.isfinite(list(sequential.values())))

    executed_before = backbone_owner.default_owner().executed
    fit_page = window.fit_page
    fitting = fit_page.start_fit()  # the same settings again, and at once an inspection
    first = len(inspect.results)
    inspecting = inspect.inspect_test_images()
    assert fitting is not None and inspecting is not None and fitting.is_running
    qtbot.waitUntil(lambda: fit_page.task is None and inspect.task is None, timeout=300_000)
    concurrent_fit = window.session.model
    assert concurrent_fit.model_id != sequential_fit.model_id
    assert _scores(inspect, first) == sequential  # the inspection used the model active when it began
    assert concurrent_fit.threshold.fail == sequential_fit.threshold.fail
    assert np.array_equal(concurrent_fit.threshold.nominal_scores, sequential_fit.threshold.nominal_scores)
    ran = backbone_owner.default_owner().ran_since(executed_before)
    levels = {level for _label, level in ran}
    assert levels == {backbone_owner.BULK, backbone_owner.INTERACTIVE}  # both went through the one owner
