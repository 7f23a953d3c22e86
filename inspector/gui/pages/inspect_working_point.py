"""The Inspect page's working-point logic: the Threshold being tuned, judging results by it, the verdict shown.

A mixin of InspectPage (it uses the page's session, results, view and working-point panel):
moving a threshold re-judges every result shown without re-scoring, and only Save stores it.
A result scored by an earlier model keeps the verdict it was logged with, since its score is on
another scale.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import Qt

from inspector.gui.widgets.results_model import InspectionResult


class WorkingPointMixin:
    """Threshold state <-> the working-point panel, the heatmap levels and every result's verdict."""

    threshold: Any
    results: list[InspectionResult]

    def _on_saved_thresholds_changed(self) -> None:
        self.threshold = self.session.threshold()
        self._sync_threshold_widgets()
        self._rejudge()

    def _sync_threshold_widgets(self) -> None:
        threshold = self.threshold
        if threshold is None:
            self.working_point.show_threshold(None)
            return
        good, defect = self._histogram_scores()
        self.working_point.show_threshold(threshold, good, defect)
        self._update_levels()
        self._update_threshold_note()

    def _histogram_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Good: calibration scores + labelled good results; defect: the labelled defects inspected here."""
        current = [r for r in self.results if self.is_current(r)]  # another model's scores are another scale
        good = np.array([r.score for r in current if r.label == "good"], dtype=np.float64)
        defect = np.array([r.score for r in current if r.label == "defect"], dtype=np.float64)
        return np.concatenate([np.asarray(self.threshold.nominal_scores, dtype=np.float64), good]), defect

    def _update_levels(self) -> None:
        from inspector.visualize import threshold_levels

        if self.threshold is not None:
            low, high = threshold_levels(self.threshold)
            self.view.set_levels(low, high, threshold=self.threshold.fail)

    def _update_threshold_note(self) -> None:
        threshold = self.threshold
        if threshold is None:
            return
        parts = []
        rate = threshold.expected_false_reject_rate
        if not math.isnan(rate):
            parts.append(f"{100 * rate:.1f} % of the calibration's good parts would fail")
        good, defect = self._histogram_scores()
        if len(defect):
            caught = float(np.mean(defect >= threshold.fail))
            parts.append(f"{100 * caught:.0f} % of the {len(defect)} known defective parts would fail")
        saved = self.session.threshold()
        changed = saved is not None and (not math.isclose(saved.fail, threshold.fail, rel_tol=1e-9, abs_tol=1e-12)
                                         or saved.review != threshold.review)
        if changed:
            parts.append("<b>not saved</b>")
        calibrated = self.session.model.threshold if self.session.model is not None else None
        if calibrated is not None:
            parts.append(f"calibrated FAIL: {calibrated.fail:.4g} ({calibrated.method} {calibrated.parameter:g})")
        self.working_point.set_note("; ".join(parts) + ".", changed)

    def set_thresholds(self, fail: float, review: Optional[float]) -> None:
        """Change the working point (not saved): every result is re-judged, nothing is re-scored."""
        if self.threshold is None or not math.isfinite(fail):
            return
        if review is not None and review > fail:
            review = fail
        self.threshold = self.threshold.with_values(float(fail), None if review is None else float(review))
        self._sync_threshold_widgets()
        self._rejudge()

    def reset_threshold(self) -> None:
        model = self.session.model
        if model is not None:
            self.threshold = model.threshold
            self._sync_threshold_widgets()
            self._rejudge()

    def save_threshold(self) -> None:
        if self.threshold is None:
            return
        model = self.session.model
        calibrated = model.threshold if model is not None else None
        fail, review = self.threshold.fail, self.threshold.review
        try:
            if calibrated is not None and math.isclose(fail, calibrated.fail) and review is None:
                self.session.save_thresholds(None, None)
            else:
                self.session.save_thresholds(fail, review)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not save the working point", exc, self)
            return
        self.ctx.messages.info(f"Working point of '{self.session.class_name}' saved: FAIL at {fail:.4g}"
                               + (f", REVIEW from {review:.4g}." if review is not None else "."))

    def verdict_of(self, score: float) -> str:
        return "" if self.threshold is None else self.threshold.verdict(score)

    def is_current(self, result: InspectionResult) -> bool:
        """Whether the active model scored this result (only then is its score on the threshold's scale)."""
        model = self.session.model
        return result.model_id is None or (model is not None and model.model_id == result.model_id)

    def judge(self, result: InspectionResult) -> str:
        """The working point's verdict; a result of an earlier model keeps the verdict it was logged with."""
        if not self.is_current(result):
            return result.recorded_verdict or "ERROR"
        return self.verdict_of(result.score)

    def _rejudge(self) -> None:
        for row in range(self.model.rowCount()):
            index = self.model.item(row, 0).data(Qt.ItemDataRole.UserRole)
            self.model.set_verdict(row, self.judge(self.results[index]))
        self._update_summary()
        self._show_verdict()

    def _show_verdict(self) -> None:
        if self.current is None or self.threshold is None:
            if self.threshold is None:
                score_text = "No model: fit one on the Fit page." if self.session.part else ""
            else:
                score_text = "Open or capture a part to inspect it."
            self.verdict_panel.show_verdict("", score_text, "")
            return
        result = self.results[self.current]
        verdict = self.judge(result)
        review = f", REVIEW from {self.threshold.review:.4g}" if self.threshold.review is not None else ""
        if self.is_current(result):
            where = f"(FAIL at {self.threshold.fail:.4g}{review})"
        else:
            where = f"(scored by the earlier model {result.model_id}: verdict as logged then)"
        score_text = (f"Score <b>{result.score:.4g}</b>  {where}"
                      + (f"  -  labelled {result.label}" if result.label else ""))
        if result.decision:
            decision_text = f"Operator decision: <b>{result.decision}</b>"
        elif verdict == "REVIEW":
            decision_text = "Needs a person: press P (good) or F (defective)."
        else:
            decision_text = "Press Enter to confirm, or P / F to overrule."
        self.verdict_panel.show_verdict(verdict, score_text, decision_text)
