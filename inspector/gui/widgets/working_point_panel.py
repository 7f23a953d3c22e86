"""The Inspect page's working-point box: score histogram, FAIL / REVIEW spin boxes, reset and save.

The panel shows a Threshold and reports the operator's edits (`edited`) while ignoring the
changes it makes itself when showing one; what a threshold means for the results stays with
the page.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout, QWidget)

from inspector.gui.widgets.threshold_histogram import ThresholdHistogram


class WorkingPointPanel(QGroupBox):
    """Histogram with draggable thresholds, the two spin boxes, Calibrated / Save buttons and a note."""

    edited = Signal(float, object)  # fail, review (None = no REVIEW band), from the operator only

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("Working point", parent)
        self.histogram = ThresholdHistogram()
        # On the plot, not the whole histogram: a minimum set on the widget overrode its layout's, so
        # at 1024 x 700 the legend below the plot was squeezed onto the FAIL / REVIEW rows.
        self.histogram.plot.setMinimumHeight(90)
        self.fail_spin = QDoubleSpinBox()
        self.fail_spin.setDecimals(4)
        self.fail_spin.setRange(-1e9, 1e9)
        self.fail_spin.setKeyboardTracking(False)
        self.fail_spin.setToolTip("Parts scoring at or above this FAIL")
        self.review_check = QCheckBox("REVIEW from")
        self.review_check.setToolTip("Parts between this and the FAIL threshold go to a person")
        self.review_spin = QDoubleSpinBox()
        self.review_spin.setDecimals(4)
        self.review_spin.setRange(-1e9, 1e9)
        self.review_spin.setKeyboardTracking(False)
        self.review_spin.setEnabled(False)
        self.reset_button = QPushButton("Calibrated")
        self.reset_button.setToolTip("Reset to the working point calibrated from good images when the model was fitted")
        self.save_threshold_button = QPushButton("Save")
        self.save_threshold_button.setToolTip("Save the working point: store these thresholds with the class (used from now on)")
        self.threshold_note = QLabel("")
        self.threshold_note.setWordWrap(True)
        self.threshold_note.setStyleSheet("color: #57606a;")
        thresholds = QGridLayout()
        thresholds.addWidget(QLabel("FAIL at"), 0, 0)
        thresholds.addWidget(self.fail_spin, 0, 1)
        thresholds.addWidget(self.review_check, 1, 0)
        thresholds.addWidget(self.review_spin, 1, 1)
        thresholds.setColumnStretch(1, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.save_threshold_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.histogram, 1)
        layout.addLayout(thresholds)
        layout.addLayout(buttons)
        layout.addWidget(self.threshold_note)

        self.syncing = False  # True while the panel shows a threshold: its own changes are no edits
        self.histogram.thresholdsChanged.connect(self._on_histogram_moved)
        self.fail_spin.valueChanged.connect(self._on_spins)
        self.review_spin.valueChanged.connect(self._on_spins)
        self.review_check.toggled.connect(self._on_review_toggled)

    def show_threshold(self, threshold: Any, good: Optional[np.ndarray] = None,
                       defect: Optional[np.ndarray] = None) -> None:
        """Show a Threshold (None: disable the box) with the good / defect scores of the histogram."""
        self.syncing = True
        try:
            enabled = threshold is not None
            for widget in (self.fail_spin, self.review_check, self.reset_button, self.histogram):
                widget.setEnabled(enabled)
            if threshold is None:
                self.histogram.set_scores(np.zeros(0))
                self.threshold_note.setText("")
                self.review_spin.setEnabled(False)
                self.save_threshold_button.setEnabled(False)
                return
            magnitude = math.floor(math.log10(abs(threshold.fail))) if threshold.fail else 0
            decimals = int(min(8, max(2, 4 - magnitude)))  # about five significant digits
            for spin in (self.fail_spin, self.review_spin):
                spin.setDecimals(decimals)
                spin.setSingleStep(max(abs(threshold.fail) * 0.01, 10.0 ** -decimals))
            self.fail_spin.setValue(threshold.fail)
            self.review_check.setChecked(threshold.review is not None)
            self.review_spin.setEnabled(threshold.review is not None)
            if threshold.review is not None:
                self.review_spin.setValue(threshold.review)
            elif not self.review_spin.value() or self.review_spin.value() > threshold.fail:
                self.review_spin.setValue(threshold.fail * 0.9 if threshold.fail > 0 else threshold.fail - 1)
            self.histogram.set_scores(good, defect)
            self.histogram.set_thresholds(threshold.fail, threshold.review)
        finally:
            self.syncing = False

    def set_note(self, text: str, unsaved: bool) -> None:
        """The line under the buttons; Save is enabled only while the working point differs from the saved one."""
        self.threshold_note.setText(text)
        self.save_threshold_button.setEnabled(unsaved)

    def _on_histogram_moved(self, fail: float, review: float) -> None:
        if self.syncing:
            return
        self.edited.emit(fail, None if math.isnan(review) else review)

    def _on_spins(self, *_args) -> None:
        if self.syncing:
            return
        review = self.review_spin.value() if self.review_check.isChecked() else None
        self.edited.emit(self.fail_spin.value(), review)

    def _on_review_toggled(self, on: bool) -> None:
        self.review_spin.setEnabled(on)
        if not self.syncing:
            self._on_spins()
