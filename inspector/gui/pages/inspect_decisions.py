"""The Inspect page's operator decisions and CSV export (a mixin of InspectPage).

A decision goes to the project's log beside the machine's verdict. A read-only project (#17)
can be viewed and inspected but stores nothing: a decision there says so in one plain line and
changes nothing, rather than surfacing the log's refusal as an error with a traceback. The
export dialog starts in the project's folder, not the process's working directory.
"""
from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import QFileDialog

from inspector.gui.pages.inspect_jobs import results_csv

READ_ONLY_DECISION = ("This project is open read-only: the decision was not stored and nothing changed. "
                      "Open a writable copy of the project to record decisions.")


class DecisionsMixin:
    """decide / export for InspectPage (uses its results, current, threshold, model and widgets)."""

    results: list
    current: Optional[int]
    threshold: Any

    def decide(self, decision: Optional[str]) -> None:
        """Store the operator's decision (None = confirm the machine's PASS / FAIL) in the log."""
        if self.current is None or self.threshold is None:
            return
        project = self.session.project
        if project is not None and project.read_only:
            self.decision_label.setText(READ_ONLY_DECISION)
            self.ctx.messages.warning(READ_ONLY_DECISION)
            return
        result = self.results[self.current]
        verdict = self.judge(result)
        if decision is None:
            if verdict not in ("PASS", "FAIL"):
                self.decision_label.setText("REVIEW cannot be confirmed: press P (good) or F (defective).")
                return
            decision = verdict
        if result.log_id is not None and self.session.project is not None:
            try:
                self.session.project.log.set_operator_decision(result.log_id, decision, operator=_operator())
            except Exception as exc:  # noqa: BLE001
                self.ctx.report_error("Could not store the decision", exc, self)
                return
        result.decision = decision
        row = self.model.row_of(self.current)
        if row >= 0:
            self.model.set_decision(row, decision)
        self._show_verdict()
        self._update_summary()
        self.ctx.messages.info(f"{result.name}: operator decision {decision} (machine said {verdict}).")

    # -- export ------------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        if not self.results:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export results", str(self.export_start("inspection-results.csv")),
                                              "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_start(self, name: str) -> Path:
        """Where the export dialog opens: the project's folder (the working directory only without one)."""
        project = self.session.project
        return (project.root / name) if project is not None else Path(name)

    def export_csv(self, path: Path) -> int:
        """Write the results shown (current thresholds, operator decisions) as CSV, atomically."""
        from inspector.store.atomic import write_bytes_atomic

        data = results_csv(self.results, self.threshold, self.judge)
        try:
            write_bytes_atomic(path, data)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not export the results", exc, self)
            return 0
        self.ctx.messages.info(f"{len(self.results)} result(s) exported to {path}.")
        return len(self.results)


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return ""
