"""The Augment page's policy check: does this policy keep copies nominal for the fitted model?

The class's active model scores a spread of the copies a fit would make of the training images
(`inspector.augment.policy_check`, Qt-free) and the class's labelled test images, in a
background `Task` with progress and Cancel; the view plots them with the FAIL / REVIEW lines.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from inspector.gui.context import AppContext
from inspector.gui.widgets.policy_check_view import PolicyCheckView
from inspector.gui.workers import ErrorInfo, Task
from inspector.types import Progress, Reporter

MAX_TEST_IMAGES = 30  # per label: enough to place the good and defective parts on the plot
CHECK_FACTOR = 4  # copies per image when the class's factor is 0


class _LazyImages:
    """Training images decoded on demand (the check uses a spread of them, not all)."""

    def __init__(self, paths: list) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        from inspector.io.images import load_image

        return load_image(self.paths[index])


class PolicyCheckPanel(QWidget):
    """Button, copies count, progress + Cancel, and the plot with its summary."""

    def __init__(self, ctx: AppContext, policy: Callable[[], Any], factor: Callable[[], int],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx, self.session = ctx, ctx.session
        self._policy, self._factor = policy, factor
        self.run_button = QPushButton("Check with the model")
        self.run_button.setToolTip("Score augmented copies of the training images with the class's active model "
                                   "and show them against the working point")
        self.copies = QSpinBox()
        self.copies.setRange(4, 400)
        self.copies.setValue(40)
        self.copies.setSuffix(" copies")
        self.copies.setToolTip("About how many augmented copies to score")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(16)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #57606a;")
        self.view = PolicyCheckView()
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.copies)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.note)
        layout.addWidget(self.view, 1)
        self.task: Optional[Task] = None
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        for signal in (self.session.model_changed, self.session.class_changed, self.session.project_changed,
                       self.session.thresholds_changed):
            signal.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Enable the check only with a loaded model; a result from another model or class is cleared."""
        model = self.session.model
        if self.view.check is not None and getattr(self.view.check, "model_id", None) != getattr(model, "model_id", None):
            self.view.clear("The model changed: run the check again.")
        if self.session.part is None:
            self.note.setText("Select a part class.")
        elif model is None:
            self.note.setText("Fit a model for this class (Fit page) to check what the policy does to its scores."
                              if not self.session.model_loading else "The model is loading...")
        else:
            self.note.setText(f"Model {model.model_id} ({model.settings.detector}); copies made at its "
                              f"{model.feature_config.input_shape[0]}x{model.feature_config.input_shape[1]} working size. "
                              "The model learned their originals, so gentle copies score below new good parts.")
        self.run_button.setEnabled(model is not None and self.task is None)

    def start(self) -> Optional[Task]:
        model, threshold = self.session.model, self.session.threshold()
        if model is None or threshold is None or self.task is not None:
            return None
        try:
            policy = self._policy()
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("The policy is not valid", exc, self)
            return None
        factor = int(self._factor()) or CHECK_FACTOR
        train = [self.session.image_path(r) for r in self.session.training_records()]
        tests = {label: [self.session.image_path(r) for r in self.session.records("test") if r.label == label]
                 [:MAX_TEST_IMAGES] for label in ("good", "defect")}
        n_copies, seed = int(self.copies.value()), int(model.settings.seed)
        working_size = tuple(model.feature_config.input_shape)
        fail, review = float(threshold.fail), threshold.review
        nominal = np.asarray(threshold.nominal_scores, dtype=np.float64)
        model_id = model.model_id

        def work(reporter: Reporter):
            from dataclasses import replace

            from inspector.augment.policy_check import check_policy
            from inspector.inspection import inspect_files

            def score(batch):
                return [None if p.verdict == "ERROR" else p.score for p in model.predict(batch, Reporter(None, reporter.cancel_token))]

            test_scores: dict[str, list[float]] = {"good": [], "defect": []}
            for label, paths in tests.items():
                for batch in inspect_files(paths, score_predict(model, reporter), 8, cancel=reporter.cancel_token):
                    test_scores[label].extend(r.score for r in batch if r.score is not None and np.isfinite(r.score))
            check = check_policy(_LazyImages(train), policy, score, fail, review, factor=factor, n_copies=n_copies,
                                 seed=seed, working_size=working_size,
                                 good_scores=np.concatenate([nominal, test_scores["good"]]),
                                 defect_scores=np.asarray(test_scores["defect"], dtype=np.float64),
                                 reporter=reporter)
            return replace(check, model_id=model_id)

        self.view.clear("Scoring copies...")
        self.progress.setRange(0, 0)
        self.task = self.ctx.run(work, "Policy check", on_result=self._on_result, on_error=self._on_error,
                                 on_progress=self._on_progress, on_finished=self._on_finished,
                                 on_cancelled=lambda: self.view.clear("Policy check cancelled."), parent=self)
        self.cancel_button.setEnabled(True)
        self.run_button.setEnabled(False)
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _on_progress(self, progress: Progress) -> None:
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        self.progress.setFormat(progress.message or "%p %")

    def _on_result(self, check: Any) -> None:
        self.view.show_check(check)
        self.ctx.messages.info(f"Policy check of '{self.session.class_name}': {check.summary()}")

    def _on_error(self, info: ErrorInfo) -> None:
        self.view.clear(f"Policy check failed: {info.message}")
        self.ctx.messages.error(f"Policy check failed: {info.message}", info.details)

    def _on_finished(self) -> None:
        self.task = None
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.refresh()


def score_predict(model: Any, reporter: Reporter) -> Callable:
    """`inspect_files`'s predictor: the model's predictions, cancellable."""
    return lambda images: model.predict(images, Reporter(None, reporter.cancel_token))
