"""A log row opened: the inspected part's image and its heatmap, beside what the log says of it.

The log stores scores and verdicts, not maps, so the heatmap is recomputed by the class's active
model on a worker. When another model scored the row, the dialog says so: the map then shows
where today's model looks, on its own scale, and the logged score stays the one that counted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from inspector.gui.widgets.heatmap_view import HeatmapView
from inspector.gui.workers import LatestOnly


class LogRowView(QDialog):
    """Image + heatmap of one logged inspection (non-modal; one per click)."""

    def __init__(self, row: dict, model: Any, threshold: Any, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.row = row
        path = row.get("image_path")
        self.setWindowTitle(f"Inspection {row.get('id', '')}: {Path(path).name if path else 'no image'}")
        self.resize(720, 620)
        self.view = HeatmapView()
        self.view.set_opacity(0.6)
        self.info = QLabel(self._describe(row))
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #57606a;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.loaded = False
        self.loader = LatestOnly("log-row", self)
        self.loader.result.connect(self._on_loaded)
        self.loader.error.connect(lambda info: self._fail(info.message))
        if threshold is not None:
            from inspector.visualize import threshold_levels

            low, high = threshold_levels(threshold)
            self.view.set_levels(low, high, threshold=threshold.fail)
        if not path:
            self._fail("This inspection kept no image (a camera frame that was not saved).")
            return
        self.same_model = model is not None and getattr(model, "model_id", None) == row.get("model_id")
        self.status.setText("Loading the image and computing its heatmap...")
        self.loader.submit(_job(Path(path), model))

    @staticmethod
    def _describe(row: dict) -> str:
        from datetime import datetime
        from html import escape

        def local_time(text: Optional[str]) -> str:
            try:
                return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S") if text else ""
            except ValueError:
                return str(text)

        score, fail = row.get("score"), row.get("threshold")
        score_text = "no score" if score is None else f"score {float(score):.4g}"
        fail_text = "-" if fail is None else f"{float(fail):.4g}"
        final = row.get("final_verdict") or row.get("verdict") or ""
        return (f"<b>{escape(str(final))}</b>  ({score_text}, FAIL at {fail_text}; machine {escape(str(row.get('verdict')))}"
                + (f", operator {escape(str(row['operator_decision']))}" if row.get("operator_decision") else "")
                + f")<br>{escape(str(row.get('image_path') or ''))}<br>model {escape(str(row.get('model_id') or '-'))}, "
                f"{local_time(row.get('time'))}")

    def _fail(self, text: str) -> None:
        self.view.set_map(None, text)
        self.status.setText(text)
        self.loaded = True

    def _on_loaded(self, payload: tuple[np.ndarray, Optional[np.ndarray], str]) -> None:
        image, anomaly_map, reason = payload
        self.view.set_image(image)
        self.view.set_map(anomaly_map, reason)
        if anomaly_map is None:
            self.status.setText(reason)
        elif self.same_model:
            self.status.setText("Heatmap of the model that scored this part.")
        else:
            self.status.setText("Another model scored this part: the heatmap is the active model's, on its own "
                                "scale; the logged score and verdict are what counted.")
        self.loaded = True


def _job(path: Path, model: Any):
    def work(reporter):
        from inspector.io.images import load_image
        from inspector.types import Reporter

        image = load_image(path, max_side=1024)
        if model is None:
            return image, None, "No active model for this class: only the image is shown."
        if not getattr(model, "localizes", False):
            return image, None, "The active model scores whole parts: it gives no heatmap."
        prediction = model.predict([image], Reporter(None, reporter.cancel_token))[0]
        anomaly_map = None if prediction.anomaly_map is None else np.asarray(prediction.anomaly_map, dtype=np.float32)
        return image, anomaly_map, "" if anomaly_map is not None else "No heatmap for this image."

    return work
