"""The bench's preview: a grid of tiles (the original first, then the copies) and a zoomed compare view.

A 125 px tile cannot show what a policy does at the border (ghost edges from reflection, a
constant fill): a click on a tile opens `CompareView`, the original and that copy side by side
at the same zoom and centre, so the same place of both is seen at once. The zoom is a control
(1x = fit, up to 8x), the mouse wheel changes it and a click on either image centres both there.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from inspector.gui.widgets.imaging import to_pixmap

ROWS, COLS = 3, 4
GAP = 6
ZOOMS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


class PreviewGrid(QWidget):
    """ROWS x COLS square cells painted in one widget: cell 0 the original, then the copies.

    `tileClicked(index)` gives the copy's index (0-based among the copies), -1 for the original.
    """

    tileClicked = Signal(int)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(COLS * 48, ROWS * 48)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Click a tile to see it enlarged beside the original")
        self._original: Optional[np.ndarray] = None
        self._images: list[np.ndarray] = []
        self._pixmaps: list = []
        self._message = ""

    @property
    def copies_shown(self) -> int:
        return ROWS * COLS - 1

    def set_images(self, original: np.ndarray, copies: list[np.ndarray]) -> None:
        self._original = original
        self._images = list(copies)
        self._pixmaps = [to_pixmap(image) for image in [original, *self._images]]
        self._message = ""
        self.update()

    def set_message(self, text: str) -> None:
        self._original, self._images, self._pixmaps, self._message = None, [], [], text
        self.update()

    def cells(self) -> list[QRect]:
        """The square cell rectangles, centred in the widget (cell 0: the original)."""
        side = int(min((self.width() - GAP * (COLS - 1)) / COLS, (self.height() - GAP * (ROWS - 1)) / ROWS))
        side = max(side, 1)
        left = (self.width() - (side * COLS + GAP * (COLS - 1))) // 2
        top = (self.height() - (side * ROWS + GAP * (ROWS - 1))) // 2
        return [QRect(left + c * (side + GAP), top + r * (side + GAP), side, side) for r in range(ROWS) for c in range(COLS)]

    def cell_at(self, x: float, y: float) -> Optional[int]:
        for index, cell in enumerate(self.cells()):
            if cell.contains(int(x), int(y)):
                return index
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        index = self.cell_at(event.position().x(), event.position().y())
        if index is not None and index < len(self._pixmaps) and event.button() == Qt.MouseButton.LeftButton:
            self.tileClicked.emit(index - 1)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for index, cell in enumerate(self.cells()):
            painter.fillRect(cell, QColor("#2d333b"))
            if index < len(self._pixmaps):
                pixmap = self._pixmaps[index].scaled(cell.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation)
                painter.drawPixmap(cell.x() + (cell.width() - pixmap.width()) // 2,
                                   cell.y() + (cell.height() - pixmap.height()) // 2, pixmap)
        if self._pixmaps:  # mark the original
            cell = self.cells()[0]
            painter.setPen(QColor("#1f6feb"))
            painter.drawRect(cell.adjusted(0, 0, -1, -1))
            label = QRect(cell.x(), cell.y(), cell.width(), 18)
            painter.fillRect(label, QColor(31, 111, 235, 200))
            painter.setPen(QColor("white"))
            painter.drawText(label, Qt.AlignmentFlag.AlignCenter, "original")
        if self._message:
            painter.setPen(QColor("#c9d1d9"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._message)
        painter.end()

    @property
    def shown(self) -> int:
        """Tiles shown: the original and its copies."""
        return len(self._pixmaps)


class CompareView(QWidget):
    """The original (left) and one copy (right) at the same zoom and centre."""

    zoomChanged = Signal(float)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Wheel: zoom; click: centre both images there")
        self._pixmaps: list = []
        self._labels = ("original", "copy")
        self.zoom = 1.0
        self.center = QPointF(0.5, 0.5)  # in image fractions

    def set_pair(self, original: np.ndarray, copy: np.ndarray, label: str = "copy") -> None:
        self._pixmaps = [to_pixmap(original), to_pixmap(copy)]
        self._labels = ("original", label)
        self.update()

    @property
    def has_pair(self) -> bool:
        return len(self._pixmaps) == 2

    def set_zoom(self, zoom: float) -> None:
        zoom = float(min(max(zoom, ZOOMS[0]), ZOOMS[-1]))
        if zoom != self.zoom:
            self.zoom = zoom
            self.update()
            self.zoomChanged.emit(zoom)

    def panes(self) -> list[QRectF]:
        half = (self.width() - GAP) / 2
        return [QRectF(0, 20, half, self.height() - 20), QRectF(half + GAP, 20, half, self.height() - 20)]

    def source_rect(self, pane: QRectF) -> QRectF:
        """The part of the image (in its pixels) shown in `pane` at the zoom and centre."""
        pixmap = self._pixmaps[0]
        width, height = pixmap.width(), pixmap.height()
        fit = min(pane.width() / width, pane.height() / height)
        scale = fit * self.zoom
        view_w, view_h = min(width, pane.width() / scale), min(height, pane.height() / scale)
        cx = min(max(self.center.x() * width, view_w / 2), width - view_w / 2)
        cy = min(max(self.center.y() * height, view_h / 2), height - view_h / 2)
        return QRectF(cx - view_w / 2, cy - view_h / 2, view_w, view_h)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 3)
        painter.fillRect(self.rect(), QColor("#22272e"))
        for index, pane in enumerate(self.panes()):
            painter.setPen(QColor("#c9d1d9"))
            painter.drawText(QRectF(pane.x(), 0, pane.width(), 18), Qt.AlignmentFlag.AlignCenter,
                             f"{self._labels[index]}  ({self.zoom:g}x)" if self._pixmaps else "")
            if index >= len(self._pixmaps):
                continue
            source = self.source_rect(pane)
            scale = min(pane.width() / source.width(), pane.height() / source.height())
            target = QRectF(0, 0, source.width() * scale, source.height() * scale)
            target.moveCenter(pane.center())
            painter.drawPixmap(target, self._pixmaps[index], source)
        painter.end()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = [z for z in ZOOMS if z > self.zoom] if event.angleDelta().y() > 0 else [z for z in ZOOMS if z < self.zoom]
        if steps:
            self.set_zoom(steps[0] if event.angleDelta().y() > 0 else steps[-1])

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if not self._pixmaps:
            return
        for pane in self.panes():
            if pane.contains(event.position()):
                source = self.source_rect(pane)
                scale = min(pane.width() / source.width(), pane.height() / source.height())
                target = QRectF(0, 0, source.width() * scale, source.height() * scale)
                target.moveCenter(pane.center())
                fx = source.x() + (event.position().x() - target.x()) / scale
                fy = source.y() + (event.position().y() - target.y()) / scale
                self.center = QPointF(fx / self._pixmaps[0].width(), fy / self._pixmaps[0].height())
                self.update()
                return
