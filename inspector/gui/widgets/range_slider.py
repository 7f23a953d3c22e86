"""A two-handle slider for a [low, high] range, and a knob row built on it.

`RangeSlider` works in float units with a fixed step; it emits `rangeChanged(low, high)` while
a handle moves. `KnobRange` adds an on/off check box and two spin boxes for exact values (the
spin boxes accept the knob's full allowed span even where the slider shows a practical one).
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QSizePolicy, QWidget


class RangeSlider(QWidget):
    """Horizontal slider with two handles (low <= high). Keyboard: arrows move the active handle."""

    rangeChanged = Signal(float, float)
    sliderReleased = Signal()

    HANDLE = 14

    def __init__(self, minimum: float = 0.0, maximum: float = 1.0, step: float = 0.01,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._min, self._max, self._step = float(minimum), float(maximum), float(step)
        self._low, self._high = self._min, self._max
        self._active: Optional[str] = None  # handle being dragged
        self._focus_handle = "low"
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(80)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(200, self.HANDLE + 10)

    # -- values -----------------------------------------------------------------------------
    def minimum(self) -> float:
        return self._min

    def maximum(self) -> float:
        return self._max

    def values(self) -> tuple[float, float]:
        return self._low, self._high

    def _snap(self, value: float) -> float:
        value = min(self._max, max(self._min, value))
        steps = round((value - self._min) / self._step)
        return round(self._min + steps * self._step, 10)

    def setValues(self, low: float, high: float, emit: bool = False) -> None:  # noqa: N802
        low, high = self._snap(low), self._snap(high)
        if low > high:
            low, high = high, low
        changed = (low, high) != (self._low, self._high)
        self._low, self._high = low, high
        self.update()
        if changed and emit:
            self.rangeChanged.emit(low, high)

    # -- geometry -----------------------------------------------------------------------------
    def _track(self) -> QRectF:
        margin = self.HANDLE / 2 + 1
        return QRectF(margin, self.height() / 2 - 2, max(1.0, self.width() - 2 * margin), 4)

    def _to_x(self, value: float) -> float:
        track = self._track()
        span = self._max - self._min or 1.0
        return track.left() + (value - self._min) / span * track.width()

    def _to_value(self, x: float) -> float:
        track = self._track()
        return self._min + (x - track.left()) / track.width() * (self._max - self._min)

    # -- painting ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        enabled = self.isEnabled()
        track = self._track()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Mid))
        painter.drawRoundedRect(track, 2, 2)
        x_low, x_high = self._to_x(self._low), self._to_x(self._high)
        highlight = palette.color(QPalette.ColorRole.Highlight) if enabled else palette.color(QPalette.ColorRole.Dark)
        painter.setBrush(highlight)
        painter.drawRect(QRectF(x_low, track.top(), max(1.0, x_high - x_low), track.height()))
        for name, x in (("low", x_low), ("high", x_high)):
            center = QPointF(x, self.height() / 2)
            painter.setBrush(palette.color(QPalette.ColorRole.Button) if enabled else QColor(200, 200, 200))
            width = 2 if (self.hasFocus() and name == self._focus_handle) else 1
            painter.setPen(QPen(highlight if width == 2 else palette.color(QPalette.ColorRole.Shadow), width))
            painter.drawEllipse(center, self.HANDLE / 2, self.HANDLE / 2)
        painter.end()

    # -- interaction ---------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        x = event.position().x()
        d_low, d_high = abs(x - self._to_x(self._low)), abs(x - self._to_x(self._high))
        if d_low == d_high:  # handles on top of each other: pick by direction of the click
            self._active = "low" if x < self._to_x(self._low) else "high"
        else:
            self._active = "low" if d_low < d_high else "high"
        self._focus_handle = self._active
        self._move_active(x)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._active is not None:
            self._move_active(event.position().x())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._active is not None:
            self._active = None
            self.sliderReleased.emit()

    def _move_active(self, x: float) -> None:
        value = self._snap(self._to_value(x))
        if self._active == "low":
            self.setValues(min(value, self._high), self._high, emit=True)
        else:
            self.setValues(self._low, max(value, self._low), emit=True)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key == Qt.Key.Key_Tab and self._focus_handle == "low":
            self._focus_handle = "high"
            self.update()
            return
        delta = {Qt.Key.Key_Left: -1, Qt.Key.Key_Down: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Up: 1,
                 Qt.Key.Key_PageDown: -10, Qt.Key.Key_PageUp: 10}.get(key)
        if delta is None:
            super().keyPressEvent(event)
            return
        step = delta * self._step
        if self._focus_handle == "low":
            self.setValues(min(self._low + step, self._high), self._high, emit=True)
        else:
            self.setValues(self._low, max(self._high + step, self._low), emit=True)


class KnobRange(QWidget):
    """[x] label  [low spin] ====o=====o==== [high spin] : one augmentation range knob.

    `changed()` fires on every edit (slider drag, spin box, check box). `value()` is None when
    the knob is off, else (low, high).
    """

    changed = Signal()

    def __init__(self, label: str, slider_span: tuple[float, float], allowed: tuple[float, float], step: float,
                 decimals: int, suffix: str = "", tooltip: str = "", default: tuple[float, float] | None = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.check = QCheckBox(label)
        self.check.setToolTip(tooltip)
        self.check.setMinimumWidth(100)
        self.slider = RangeSlider(slider_span[0], slider_span[1], step)
        self.slider.setToolTip(tooltip)
        self.low = self._spin(allowed, step, decimals, suffix)
        self.high = self._spin(allowed, step, decimals, suffix)
        self.low.setToolTip("Lower end of the range")
        self.high.setToolTip("Upper end of the range")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(self.low)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.high)
        self._default = default or slider_span
        self._updating = False
        self.check.toggled.connect(self._on_toggled)
        self.slider.rangeChanged.connect(self._on_slider)
        self.low.valueChanged.connect(self._on_spin)
        self.high.valueChanged.connect(self._on_spin)
        self.set_value(None)

    @staticmethod
    def _spin(allowed: tuple[float, float], step: float, decimals: int, suffix: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(*allowed)
        spin.setSingleStep(step)
        spin.setDecimals(decimals)
        spin.setSuffix(suffix)
        spin.setKeyboardTracking(False)
        spin.setMinimumWidth(74)
        return spin

    def value(self) -> Optional[tuple[float, float]]:
        if not self.check.isChecked():
            return None
        return float(self.low.value()), float(self.high.value())

    def set_value(self, value: Optional[tuple[float, float]]) -> None:
        """Show a knob value without emitting `changed` (None = off, keeps the last range shown)."""
        self._updating = True
        try:
            self.check.setChecked(value is not None)
            low, high = value if value is not None else self._last_or_default()
            self.low.setValue(low)
            self.high.setValue(high)
            self.slider.setValues(low, high)
            self._sync_enabled()
        finally:
            self._updating = False

    def _last_or_default(self) -> tuple[float, float]:
        if self.low.value() != self.high.value() or self.low.value() != 0:
            return float(self.low.value()), float(self.high.value())
        return self._default

    def _sync_enabled(self) -> None:
        on = self.check.isChecked()
        for widget in (self.slider, self.low, self.high):
            widget.setEnabled(on)

    def _on_toggled(self, _on: bool) -> None:
        self._sync_enabled()
        if not self._updating:
            self.changed.emit()

    def _on_slider(self, low: float, high: float) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self.low.setValue(low)
            self.high.setValue(high)
        finally:
            self._updating = False
        self.changed.emit()

    def _on_spin(self, _value: float) -> None:
        if self._updating:
            return
        low, high = self.low.value(), self.high.value()
        self._updating = True
        try:
            if low > high:  # keep the pair ordered: the edited end pushes the other
                if self.sender() is self.low:
                    self.high.setValue(low)
                else:
                    self.low.setValue(high)
                low, high = self.low.value(), self.high.value()
            self.slider.setValues(low, high)
        finally:
            self._updating = False
        self.changed.emit()
