"""The Augment page's preview: the original and 11 copies, and a click-to-zoom compare view.

Grid previews are computed small (fast while a slider moves). Opening a tile recomputes that one
copy, with the same draw, from a larger decode of the image (`preview_samples(indices=...)`),
so zooming shows real detail rather than enlarged pixels. Shifts are expressed at the working
size the fit uses, so the preview shows what the fit's copies look like.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout,
                               QWidget)

from inspector.features.preprocess import DEFAULT_SHORT_SIDE
from inspector.gui.context import AppContext
from inspector.gui.widgets.preview_tiles import ZOOMS, CompareView, PreviewGrid
from inspector.gui.workers import ErrorInfo, LatestOnly

PREVIEW_SIDE = 256  # the grid's copies
ZOOM_SIDE = 1024  # the enlarged copy


class PreviewPanel(QWidget):
    """Source image choice, the grid (page 0) and the compare view (page 1)."""

    def __init__(self, ctx: AppContext, policy: Callable[[], Any], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx, self.session, self._policy = ctx, ctx.session, policy
        self.source = QComboBox()
        self.source.setToolTip("Image the preview is made from (training images of the class)")
        self.source.setMinimumWidth(160)
        self.info = QLabel("")
        self.info.setStyleSheet("color: #57606a;")
        self.info.setWordWrap(True)
        self.grid = PreviewGrid()
        self.compare = CompareView()
        self.back = QPushButton("Grid")
        self.back.setToolTip("Back to the original and all copies")
        self.previous = QPushButton("<")
        self.previous.setToolTip("Previous copy")
        self.next = QPushButton(">")
        self.next.setToolTip("Next copy")
        for button in (self.previous, self.next):
            button.setMaximumWidth(36)
        self.copy_label = QLabel("")
        self.zoom = QComboBox()
        for zoom in ZOOMS:
            self.zoom.addItem(f"{zoom:g}x", zoom)
        self.zoom.setToolTip("Zoom of both images (mouse wheel on the images; click to centre)")
        compare_page = QWidget()
        compare_layout = QVBoxLayout(compare_page)
        compare_layout.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        controls.addWidget(self.back)
        controls.addWidget(self.previous)
        controls.addWidget(self.copy_label)
        controls.addWidget(self.next)
        controls.addStretch(1)
        controls.addWidget(self.zoom)
        compare_layout.addLayout(controls)
        compare_layout.addWidget(self.compare, 1)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(compare_page)
        source_row = QHBoxLayout()
        source_row.addWidget(QLabel("Image:"))
        source_row.addWidget(self.source, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(source_row)
        layout.addWidget(self.info)
        layout.addWidget(self.stack, 1)

        self.runner = LatestOnly("policy-preview", self)
        self.runner.result.connect(self._on_preview)
        self.runner.error.connect(self._on_error)
        self.zoom_runner = LatestOnly("policy-zoom", self)
        self.zoom_runner.result.connect(self._on_zoomed)
        self.zoom_runner.error.connect(self._on_error)
        self._cache: dict[tuple[str, int], np.ndarray] = {}
        self._original: Optional[np.ndarray] = None
        self._copies: list[np.ndarray] = []
        self.selected: Optional[int] = None  # copy shown enlarged
        self.previews_shown = 0
        self.zoomed_shown = 0
        self.grid.tileClicked.connect(self.open_copy)
        self.back.clicked.connect(self.close_copy)
        self.previous.clicked.connect(lambda: self.open_copy(((self.selected or 0) - 1) % self.grid.copies_shown))
        self.next.clicked.connect(lambda: self.open_copy(((self.selected or 0) + 1) % self.grid.copies_shown))
        self.zoom.currentIndexChanged.connect(lambda _i: self.compare.set_zoom(self.zoom.currentData()))
        self.compare.zoomChanged.connect(self._on_zoom_changed)
        self.source.currentIndexChanged.connect(lambda _i: self.request_preview())
        self.session.images_changed.connect(self._fill_sources)
        self.session.model_changed.connect(self.request_preview)

    # -- sources ----------------------------------------------------------------------------------
    def load_class(self) -> None:
        self._cache.clear()
        self.close_copy()
        self._fill_sources()

    def _fill_sources(self) -> None:
        current = self.source.currentData()
        self.source.blockSignals(True)
        self.source.clear()
        for record in self.session.records("train") or self.session.records():
            self.source.addItem(record.filename, record.id)
        wanted = self.session.focus_image_id or current
        index = self.source.findData(wanted) if wanted else -1
        self.source.setCurrentIndex(max(index, 0))
        self.source.blockSignals(False)
        self.request_preview()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        focus = self.session.focus_image_id
        if focus and self.source.findData(focus) >= 0 and self.source.currentData() != focus:
            self.source.setCurrentIndex(self.source.findData(focus))

    def working_shape(self, image_shape: tuple[int, ...]) -> tuple[int, int]:
        """(height, width) at which the fit augments: the model's input, else the short side kept at the aspect."""
        model = self.session.model
        if model is not None:
            height, width = model.feature_config.input_shape
            return int(height), int(width)
        part = self.session.part
        settings = (part.fit_settings if part is not None else None) or {}
        short = int(settings.get("image_size", DEFAULT_SHORT_SIDE) or DEFAULT_SHORT_SIDE)
        height, width = image_shape[:2]
        scale = short / max(1, min(height, width))
        return max(1, round(height * scale)), max(1, round(width * scale))

    def _job(self, max_side: int, indices: Optional[list[int]]):
        """The worker function making copies of the current image, or None (no image / invalid policy)."""
        image_id = self.source.currentData()
        if self.session.part is None or image_id is None:
            self.grid.set_message("Add training images to see a preview.")
            return None
        try:
            policy = self._policy()
        except Exception as exc:  # noqa: BLE001
            self.info.setText(str(exc))
            return None
        try:
            path = self.session.image_path(image_id)
        except Exception:  # noqa: BLE001 - the list is being refilled for another class
            return None
        cache, working = self._cache, self.working_shape
        count = self.grid.copies_shown

        def work(_reporter):
            from inspector.augment.engine import preview_base, preview_samples
            from inspector.io.images import load_image

            start = time.perf_counter()
            key = (str(path), max_side)
            image = cache.get(key)
            if image is None:
                image = preview_base(load_image(path, max_side=max_side * 2), max_side)
                cache[key] = image
            full = working(image.shape)
            samples = preview_samples(image, policy, count, 0, max_side=max_side, full_size=full, indices=indices)
            return image, samples, indices, full, (time.perf_counter() - start) * 1000.0

        return work

    def request_preview(self) -> None:
        """Submit the newest (image, policy, seed); older waiting requests are dropped."""
        work = self._job(PREVIEW_SIDE, None)
        if work is not None:
            self.runner.submit(work)
        if self.selected is not None:
            self._request_zoom()

    def _on_preview(self, result) -> None:
        image, samples, _indices, full, ms = result
        self._original, self._copies = image, samples
        self.grid.set_images(image, samples)
        self.previews_shown += 1
        self.info.setText(f"Original and {len(samples)} copies ({ms:.0f} ms); shifts in pixels at the "
                          f"{full[1]}x{full[0]} working size. Click a tile to enlarge it.")
        if self.selected is not None and not self.compare.has_pair and self.selected < len(samples):
            self.compare.set_pair(image, samples[self.selected], f"copy {self.selected + 1}")

    def _on_error(self, info: ErrorInfo) -> None:
        self.grid.set_message("No preview")
        self.info.setText("")
        self.ctx.messages.error(f"Preview failed: {info.message}", info.details)

    # -- compare view -----------------------------------------------------------------------------
    def open_copy(self, index: int) -> None:
        """Show copy `index` (-1: the original is compared with copy 1) beside the original, enlarged."""
        index = max(0, int(index))
        self.selected = index
        self.copy_label.setText(f"{index + 1} / {self.grid.copies_shown}")
        if self._original is not None and index < len(self._copies):
            self.compare.set_pair(self._original, self._copies[index], f"copy {index + 1}")
        self.stack.setCurrentIndex(1)
        self._request_zoom()

    def close_copy(self) -> None:
        self.selected = None
        self.stack.setCurrentIndex(0)

    def _request_zoom(self) -> None:
        work = self._job(ZOOM_SIDE, [self.selected or 0])
        if work is not None:
            self.zoom_runner.submit(work)

    def _on_zoomed(self, result) -> None:
        image, samples, indices, _full, _ms = result
        if self.selected is None or indices != [self.selected]:
            return
        self.compare.set_pair(image, samples[0], f"copy {self.selected + 1}")
        self.zoomed_shown += 1

    def _on_zoom_changed(self, zoom: float) -> None:
        index = self.zoom.findData(zoom)
        if index >= 0 and index != self.zoom.currentIndex():
            self.zoom.blockSignals(True)
            self.zoom.setCurrentIndex(index)
            self.zoom.blockSignals(False)
