"""Progress of a multi-stage job: the stages as chips, a bar for the current one, ETA, Cancel.

The ETA comes from the pace of the current stage (elapsed / fraction done), which is honest
for the long stages (feature extraction) and short-lived for the quick ones.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from inspector.types import Progress

CHIP_STYLES = {
    "pending": "color: #6a737d; background: #f1f3f5; border: 1px solid #d0d7de;",
    "active": "color: white; background: #1f6feb; border: 1px solid #1f6feb; font-weight: bold;",
    "done": "color: #1a7f37; background: #dafbe1; border: 1px solid #4ac26b;",
    "skipped": "color: #9aa1a8; background: #f6f8fa; border: 1px dashed #d0d7de;",
}


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class StageProgress(QWidget):
    """Call `begin(stages)`, feed `update(progress)`, then `end(text)`. Emits `cancelRequested`."""

    cancelRequested = Signal()

    def __init__(self, stages: Sequence[str] = (), parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.chips_row = QHBoxLayout()
        self.chips_row.setSpacing(4)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.detail = QLabel("Idle")
        self.detail.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the job at its next safe point (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel)
        bar_row = QHBoxLayout()
        bar_row.addWidget(self.bar, 1)
        bar_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.chips_row)
        layout.addLayout(bar_row)
        layout.addWidget(self.detail)
        self._chips: dict[str, QLabel] = {}
        self._stages: list[str] = []
        self._stage: Optional[str] = None
        self._seen: dict[str, float] = {}
        self._job_started = 0.0
        self.set_stages(stages)

    def set_stages(self, stages: Sequence[str]) -> None:
        while self.chips_row.count():
            item = self.chips_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self._chips = {}
        self._stages = list(stages)
        for index, stage in enumerate(self._stages):
            chip = QLabel(stage)
            chip.setToolTip(f"Stage {index + 1} of {len(self._stages)}")
            self._chips[stage] = chip
            self.chips_row.addWidget(chip)
            self._style(stage, "pending")
        self.chips_row.addStretch(1)

    def _style(self, stage: str, state: str) -> None:
        chip = self._chips.get(stage)
        if chip is not None:
            chip.setStyleSheet(f"QLabel {{ {CHIP_STYLES[state]} border-radius: 4px; padding: 1px 4px; font-size: 8pt; }}")
            chip.setProperty("state", state)

    def chip_state(self, stage: str) -> Optional[str]:
        chip = self._chips.get(stage)
        return None if chip is None else chip.property("state")

    def begin(self, text: str = "Starting...") -> None:
        for stage in self._stages:
            self._style(stage, "pending")
        self._stage = None
        self._seen: dict[str, float] = {}  # stage -> when first reported (stages may interleave)
        self._job_started = time.monotonic()
        self.bar.setRange(0, 0)  # busy until the first report
        self.bar.setFormat("starting")
        self.detail.setText(text)
        self.cancel_button.setEnabled(True)

    def update_progress(self, progress: Progress) -> None:
        now = time.monotonic()
        self._seen.setdefault(progress.stage, now)
        if progress.stage != self._stage:
            self._stage = progress.stage
            for stage in self._stages:
                state = "active" if stage == progress.stage else ("done" if stage in self._seen else "pending")
                self._style(stage, state)
        if progress.total > 0:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(min(progress.done, progress.total))
            self.bar.setFormat(f"{progress.stage}: {progress.done}/{progress.total}")
        else:
            self.bar.setRange(0, 0)
        eta = ""
        fraction = progress.fraction
        elapsed = now - self._seen[progress.stage]
        if 0.02 < fraction < 1.0 and elapsed > 0.5:
            eta = f" - about {format_duration(elapsed / fraction * (1 - fraction))} left in this stage"
        total_elapsed = format_duration(now - self._job_started)
        message = progress.message or progress.stage
        self.detail.setText(f"{message}{eta}  (elapsed {total_elapsed})")

    def end(self, text: str, success: bool = True) -> None:
        seen = getattr(self, "_seen", {})
        for stage in self._stages:
            if success:
                self._style(stage, "done" if stage in seen else "skipped")
            elif self.chip_state(stage) == "active":
                self._style(stage, "pending")
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if success else 0)
        self.bar.setFormat("done" if success else "stopped")
        self.detail.setText(f"{text}  ({format_duration(time.monotonic() - self._job_started)})")
        self.cancel_button.setEnabled(False)
        self._stage = None

    def _on_cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.detail.setText("Cancelling: the job stops at its next safe point...")
        self.cancelRequested.emit()
