"""Augmentation policy (engineer): knobs, presets, seed, and a live 3 x 4 preview.

Every edit submits a preview request to a `LatestOnly` runner: the augmentation runs on a worker
and only the newest request waits, so dragging a slider never stutters and never queues up.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QSizePolicy, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from inspector.augment.policy import PRESETS, AugmentationPolicy
from inspector.gui.context import AppContext
from inspector.gui.widgets.imaging import to_pixmap
from inspector.gui.widgets.policy_editor import PolicyEditor
from inspector.gui.workers import ErrorInfo, LatestOnly

ROWS, COLS = 3, 4
PREVIEW_SIDE = 256


class PreviewGrid(QWidget):
    """ROWS x COLS square cells, painted in one widget: images fit their cell, centred."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(COLS * 48, ROWS * 48)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._images: list[np.ndarray] = []
        self._pixmaps: list = []
        self._message = ""

    def set_images(self, images: list[np.ndarray]) -> None:
        self._images = list(images)
        self._pixmaps = [to_pixmap(image) for image in self._images]
        self._message = ""
        self.update()

    def set_message(self, text: str) -> None:
        self._images, self._pixmaps, self._message = [], [], text
        self.update()

    def cells(self) -> list:
        """The square cell rectangles, centred in the widget."""
        from PySide6.QtCore import QRect

        gap = 6
        side = int(min((self.width() - gap * (COLS - 1)) / COLS, (self.height() - gap * (ROWS - 1)) / ROWS))
        left = (self.width() - (side * COLS + gap * (COLS - 1))) // 2
        top = (self.height() - (side * ROWS + gap * (ROWS - 1))) // 2
        return [QRect(left + c * (side + gap), top + r * (side + gap), side, side) for r in range(ROWS) for c in range(COLS)]

    def paintEvent(self, event) -> None:  # noqa: N802
        from PySide6.QtGui import QColor, QPainter

        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for index, cell in enumerate(self.cells()):
            painter.fillRect(cell, QColor("#2d333b"))
            if index < len(self._pixmaps):
                pixmap = self._pixmaps[index].scaled(cell.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation)
                painter.drawPixmap(cell.x() + (cell.width() - pixmap.width()) // 2,
                                   cell.y() + (cell.height() - pixmap.height()) // 2, pixmap)
        if self._message:
            painter.setPen(QColor("#c9d1d9"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._message)
        painter.end()

    @property
    def shown(self) -> int:
        return len(self._images)


class PolicyPage(QWidget):
    title = "2  Augment"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.editor = PolicyEditor()
        self.preset = QComboBox()
        self.preset.addItem("Choose a preset...", None)
        for name in ("object", "texture", "none"):
            self.preset.addItem(f"{name} (generic)", name)
        for name in sorted(n for n in PRESETS if n not in ("object", "texture", "none")):
            self.preset.addItem(f"{name.replace('_', ' ')} (MVTec)", name)
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset.setMinimumContentsLength(12)
        self.preset.setToolTip("Start from a preset: the generic ones, or the per-category MVTec policies of Gutierrez et al. 2021 (Table 4)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed of the augmentation (the same seed gives the same copies)")
        self.new_seed = QPushButton("New draw")
        self.new_seed.setToolTip("Next seed: show other random copies")
        self.save_button = QPushButton("Save policy to class")
        self.save_button.setToolTip("Store this policy with the part class; fits use it (Ctrl+S)")
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Back to the policy saved with the class")
        self.state = QLabel("")
        self.state.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("Preset:"))
        top.addWidget(self.preset, 1)
        top.addWidget(QLabel("Seed:"))
        top.addWidget(self.seed)
        top.addWidget(self.new_seed)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.revert_button)
        buttons.addStretch(1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addLayout(top)
        left_layout.addWidget(self.editor)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.state)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(400)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.source = QComboBox()
        self.source.setToolTip("Image the preview is made from (training images of the class)")
        self.source.setMinimumWidth(200)
        self.preview_info = QLabel("")
        self.preview_info.setStyleSheet("color: #57606a;")
        self.grid = PreviewGrid()
        preview_box = QGroupBox("Preview: 12 augmented copies")
        preview_layout = QVBoxLayout(preview_box)
        source_row = QHBoxLayout()
        source_row.addWidget(QLabel("Image:"))
        source_row.addWidget(self.source, 1)
        source_row.addWidget(self.preview_info)
        preview_layout.addLayout(source_row)
        preview_layout.addWidget(self.grid, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("policySplitter")
        splitter.addWidget(scroll)
        splitter.addWidget(preview_box)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([540, 660])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.runner = LatestOnly("policy-preview", self)
        self.runner.result.connect(self._on_preview)
        self.runner.error.connect(self._on_preview_error)
        self._source_cache: dict[str, np.ndarray] = {}
        self._saved: Optional[AugmentationPolicy] = None
        self._loading_class = False
        self.previews_shown = 0

        self.editor.policyChanged.connect(self._on_edited)
        self.preset.activated.connect(self._on_preset)
        self.seed.valueChanged.connect(lambda _v: self.request_preview())
        self.new_seed.clicked.connect(lambda: self.seed.setValue(self.seed.value() + 1))
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.source.currentIndexChanged.connect(lambda _i: self.request_preview())
        from PySide6.QtGui import QKeySequence, QShortcut

        save = QShortcut(QKeySequence.StandardKey.Save, self)
        save.activated.connect(self.save)
        self.session.class_changed.connect(self.load_class)
        self.session.project_changed.connect(self.load_class)
        self.session.images_changed.connect(self._fill_sources)
        self.load_class()

    # -- class binding --------------------------------------------------------------------------
    def load_class(self) -> None:
        part = self.session.part
        self._source_cache.clear()
        self.setEnabled(part is not None)
        self._loading_class = True
        try:
            policy = None
            if part is not None and part.policy is not None:
                try:
                    policy = AugmentationPolicy.from_json(part.policy)
                except Exception as exc:  # noqa: BLE001 - a bad stored policy must not block the page
                    self.ctx.messages.warning(f"The saved policy of '{part.name}' is invalid ({exc}); showing 'object'.")
            self._saved = policy
            self.editor.set_policy(policy or PRESETS["object"])
            self._fill_sources()
        finally:
            self._loading_class = False
        self._update_state()
        self.request_preview()

    def _fill_sources(self) -> None:
        current = self.source.currentData()
        self.source.blockSignals(True)
        self.source.clear()
        records = self.session.records("train") or self.session.records()
        for record in records:
            self.source.addItem(record.filename, record.id)
        wanted = self.session.focus_image_id or current
        index = self.source.findData(wanted) if wanted else -1
        self.source.setCurrentIndex(max(index, 0))
        self.source.blockSignals(False)
        if not self._loading_class:
            self.request_preview()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        focus = self.session.focus_image_id
        if focus and self.source.findData(focus) >= 0 and self.source.currentData() != focus:
            self.source.setCurrentIndex(self.source.findData(focus))

    # -- editing --------------------------------------------------------------------------------
    def policy(self) -> AugmentationPolicy:
        return self.editor.policy()

    def _on_preset(self, _index: int) -> None:
        name = self.preset.currentData()
        if name is None:
            return
        self.editor.set_policy(PRESETS[name])
        self._update_state()
        self.request_preview()

    def _on_edited(self) -> None:
        self.preset.setCurrentIndex(0)
        self._update_state()
        self.request_preview()

    @property
    def dirty(self) -> bool:
        try:
            return self._saved is None or self.policy() != self._saved
        except Exception:  # noqa: BLE001
            return True

    def _update_state(self) -> None:
        if self.session.part is None:
            self.state.setText("Select a part class on the left.")
            return
        if self._saved is None:
            self.state.setText("No policy saved for this class yet: fits use no augmentation until you save one.")
            self.state.setStyleSheet("color: #8a6100;")
        elif self.dirty:
            self.state.setText("Changed: not saved yet.")
            self.state.setStyleSheet("color: #8a6100;")
        else:
            self.state.setText("Saved with the class.")
            self.state.setStyleSheet("color: #1a7f37;")
        self.revert_button.setEnabled(self._saved is not None and self.dirty)

    def save(self) -> None:
        try:
            policy = self.policy()
            self.session.save_policy(policy.to_json())
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not save the policy", exc, self)
            return
        self._saved = policy
        self.ctx.messages.info(f"Policy of '{self.session.class_name}' saved: {policy.describe()}.")
        self._update_state()

    def revert(self) -> None:
        if self._saved is not None:
            self.editor.set_policy(self._saved)
            self._update_state()
            self.request_preview()

    # -- preview --------------------------------------------------------------------------------
    def request_preview(self) -> None:
        """Submit the newest (image, policy, seed); older waiting requests are dropped."""
        image_id = self.source.currentData()
        if self.session.part is None or image_id is None:
            self.grid.set_message("Add training images to see a preview.")
            return
        try:
            policy = self.policy()
        except Exception as exc:  # noqa: BLE001
            self.preview_info.setText(str(exc))
            return
        path = self.session.image_path(image_id)
        seed = int(self.seed.value())
        cache = self._source_cache

        def work(_reporter):
            from inspector.augment.engine import preview_samples
            from inspector.io.images import load_image

            start = time.perf_counter()
            image = cache.get(str(path))
            if image is None:
                image = load_image(path, max_side=PREVIEW_SIDE * 2)
                cache[str(path)] = image
            samples = preview_samples(image, policy, ROWS * COLS, seed, max_side=PREVIEW_SIDE)
            return samples, (time.perf_counter() - start) * 1000.0

        self.runner.submit(work)

    def _on_preview(self, result) -> None:
        samples, ms = result
        self.grid.set_images(samples)
        self.previews_shown += 1
        self.preview_info.setText(f"{ms:.0f} ms")

    def _on_preview_error(self, info: ErrorInfo) -> None:
        self.grid.set_message("No preview")
        self.preview_info.setText("")
        self.ctx.messages.error(f"Preview failed: {info.message}", info.details)
