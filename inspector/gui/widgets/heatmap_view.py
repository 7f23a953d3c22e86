"""The part image with its anomaly heatmap on top, and a colour bar tied to the threshold.

Two pyqtgraph `ImageItem`s share one view: the RGB part below, the anomaly map above with a
lookup table, fixed levels, adjustable opacity and a higher z-value. Levels and lookup table come
from the model's working point (`inspector.visualize`: transparent below REVIEW / FAIL, cool in
the REVIEW band, hot from FAIL), never from the image itself, so a good part shows no colour and
the same colour means the same score on every part.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

COLORMAP = "inferno"
#: Below this width the colour bar (about 75 px) is hidden so that the part keeps the room: two views
#: side by side on Review at 1024 x 700 left the part about 80 px wide.
COMPACT_WIDTH = 300


def overlay_lut(colormap: pg.ColorMap, low: float = 0.0, high: float = 1.0, fail: Optional[float] = None,
                points: int = 256) -> np.ndarray:
    """RGBA lookup table over [low, high] on the working-point ramp (`inspector.visualize.working_point_ramp`):
    transparent at and below `low`, the cool half of the map up to `fail`, the hot half from it."""
    from inspector.visualize import working_point_ramp

    position, alpha = working_point_ramp(low, high, fail, points)
    lut = colormap.map(position, mode="float")[:, :3] * 255.0
    return np.column_stack([lut, 255.0 * alpha]).round().astype(np.uint8)


class HeatmapView(QWidget):
    """Part image + overlay + colour bar; shows a clear note when the model has no map."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#202124")
        self.view = self.graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.base = pg.ImageItem()
        self.overlay = pg.ImageItem()
        self.overlay.setZValue(10)
        self.view.addItem(self.base)
        self.view.addItem(self.overlay)
        self.colormap = pg.colormap.get(COLORMAP)
        self.overlay.setLookupTable(overlay_lut(self.colormap, 0.0, 1.0, 0.5))
        # The bar shows the scale only; it is not linked to the overlay, which keeps its own
        # see-through lookup table (a linked bar would impose its opaque one).
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=self.colormap, interactive=False,
                                        label="anomaly score", width=18, rounding=1e-9, colorMapMenu=False)
        self.graphics.addItem(self.colorbar, row=0, col=1)
        # The bar is drawn over 0..256 in its own coordinates; the line marks the FAIL threshold on it.
        self.threshold_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#00e5ff", width=2))
        self.threshold_line.setToolTip("FAIL threshold")
        self.colorbar.addItem(self.threshold_line)
        self.note = QLabel("")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { background: #fff4d6; color: #5a4500; padding: 6px; border-radius: 4px; }")
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.note)
        self._opacity = 0.5
        self._overlay_on = True
        self._has_map = False
        self._levels = (0.0, 1.0)
        self._fail = 0.5
        self.overlay.setOpacity(self._opacity)

    # -- content --------------------------------------------------------------------------------
    def set_image(self, image: Optional[np.ndarray]) -> None:
        """Show an RGB uint8 part (None clears the view)."""
        if image is None:
            self.base.clear()
            self.overlay.clear()
            self._has_map = False
            return
        self.base.setImage(image, autoLevels=False, levels=(0, 255))
        self.view.autoRange(padding=0.01)

    def set_map(self, anomaly_map: Optional[np.ndarray], no_map_reason: str = "") -> None:
        """Overlay a float map (same size as the image) at the fixed levels; None shows `no_map_reason`."""
        if anomaly_map is None:
            self.overlay.clear()
            self._has_map = False
            self.colorbar.setVisible(False)
            self.note.setText(no_map_reason or "This model gives no anomaly map.")
            self.note.setVisible(bool(no_map_reason))
            return
        self.note.hide()
        self._has_map = True
        self.overlay.setImage(np.asarray(anomaly_map, dtype=np.float32), autoLevels=False, levels=self._levels)
        base_shape = self.base.image.shape[:2] if self.base.image is not None else anomaly_map.shape
        if tuple(anomaly_map.shape) != tuple(base_shape):  # stretch onto the part if sizes differ
            self.overlay.setRect(0, 0, base_shape[1], base_shape[0])
        else:
            self.overlay.setRect(0, 0, anomaly_map.shape[1], anomaly_map.shape[0])
        self._apply_visibility()

    def set_levels(self, low: float, high: float, threshold: Optional[float] = None) -> None:
        """Fix the colour scale to the working point (called when the model or a threshold changes, not
        per image): `threshold` is FAIL, where the hot colours start (None: mid-scale)."""
        self._levels = (float(low), float(high))
        self._fail = (low + high) / 2.0 if threshold is None else float(threshold)
        lut = overlay_lut(self.colormap, self._levels[0], self._levels[1], self._fail)
        self.overlay.setLookupTable(lut)
        # The bar shows the overlay's own colours (opaque), so a colour on the part reads off the bar.
        self.colorbar.setColorMap(pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut[:, :3]))
        self.colorbar.setLevels(values=self._levels)
        if self.overlay.image is not None:
            self.overlay.setLevels(self._levels)
        if threshold is not None:
            low, high = self._levels
            self.threshold_line.setPos(256.0 * (threshold - low) / max(high - low, 1e-12))
        self.threshold_line.setVisible(threshold is not None)

    def levels(self) -> tuple[float, float]:
        return self._levels

    def overlay_rgba(self) -> Optional[np.ndarray]:
        """The overlay as drawn before the global opacity, (H, W, 4) uint8 in map pixels (None without a map):
        what a person sees over the part, for checks that a good part shows no hot colour."""
        if not self._has_map or self.overlay.image is None:
            return None
        self.overlay.render()  # pyqtgraph's own level + lookup-table mapping, as it paints
        qimage = self.overlay.qimage
        if qimage is None:
            return None
        pixels = np.array(pg.functions.ndarray_from_qimage(qimage))
        if pixels.ndim == 2:  # an indexed image (pyqtgraph's usual form with a 256-entry table)
            table = np.array(qimage.colorTable(), dtype=np.uint32)
            argb = table[pixels]
            return np.stack([(argb >> 16) & 255, (argb >> 8) & 255, argb & 255, argb >> 24], axis=-1).astype(np.uint8)
        return np.ascontiguousarray(pixels[..., [2, 1, 0, 3]])  # ARGB32 in memory: B, G, R, A

    def set_opacity(self, opacity: float) -> None:
        self._opacity = float(np.clip(opacity, 0.0, 1.0))
        self.overlay.setOpacity(self._opacity)

    def opacity(self) -> float:
        return self._opacity

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_on = bool(visible)
        self._apply_visibility()

    @property
    def overlay_shown(self) -> bool:
        return self._has_map and self._overlay_on and self.overlay.isVisible()

    @property
    def has_map(self) -> bool:
        return self._has_map

    @property
    def compact(self) -> bool:
        return 0 < self.width() < COMPACT_WIDTH

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._apply_visibility()

    def _apply_visibility(self) -> None:
        self.overlay.setVisible(self._has_map and self._overlay_on)
        self.colorbar.setVisible(self._has_map and not self.compact)
