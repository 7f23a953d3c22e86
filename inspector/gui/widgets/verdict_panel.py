"""The Inspect page's verdict column: the big PASS / REVIEW / FAIL banner and the operator's buttons.

Kept apart from the page so the page holds only the inspection logic; the panel only shows what
it is told (texts and the banner's colour) and exposes its buttons for the page to wire.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

VERDICT_STYLES = {
    "PASS": "background: #1a7f37; color: white;",
    "REVIEW": "background: #d4a72c; color: #1f2328;",
    "FAIL": "background: #cf222e; color: white;",
    "": "background: #eaeef2; color: #57606a;",
}


class VerdictPanel(QWidget):
    """Verdict banner, score line, Confirm / PASS / FAIL buttons and the decision line."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.verdict = QLabel("-")
        self.verdict.setObjectName("verdictLabel")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setMinimumHeight(52)
        self.score_label = QLabel("Open or capture a part to inspect it.")
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.score_label.setWordWrap(True)
        self.confirm_button = QPushButton("Confirm verdict  (Enter)")
        self.confirm_button.setToolTip("Agree with the machine's PASS or FAIL")
        self.pass_button = QPushButton("PASS  (P)")
        self.pass_button.setToolTip("Operator decision: the part is good (P)")
        self.fail_button = QPushButton("FAIL  (F)")
        self.fail_button.setToolTip("Operator decision: the part is defective (F)")
        self.decision_label = QLabel("")
        self.decision_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Two rows, so the verdict column fits beside the part at 1024 px wide.
        decision_row = QGridLayout()
        decision_row.addWidget(self.confirm_button, 0, 0, 1, 2)
        decision_row.addWidget(self.pass_button, 1, 0)
        decision_row.addWidget(self.fail_button, 1, 1)
        self.decision_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(4)
        layout.addWidget(self.verdict)
        layout.addWidget(self.score_label)
        layout.addLayout(decision_row)
        layout.addWidget(self.decision_label)

    def show_verdict(self, verdict: str, score_text: str, decision_text: str) -> None:
        """Show a verdict ("-" banner for none) with its score line and the operator hint."""
        self.verdict.setText(verdict or "-")
        self.style_verdict(verdict)
        self.score_label.setText(score_text)
        self.decision_label.setText(decision_text)

    def style_verdict(self, verdict: str) -> None:
        self.verdict.setStyleSheet(f"QLabel#verdictLabel {{ {VERDICT_STYLES.get(verdict, VERDICT_STYLES[''])} "
                                   "font-size: 36px; font-weight: bold; border-radius: 8px; }")
