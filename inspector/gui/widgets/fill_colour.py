"""A button that shows and picks the constant border's fill: a grey level or an RGB colour.

A grey fill suits grey parts and black backgrounds (bottle); a colour lets an RGB part on a
coloured background (a green conveyor) get a border the same colour as its background, which
a grey level cannot give. The button shows a swatch and the value; a click opens Qt's colour
dialog, whose RGB boxes take typed values.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QColorDialog, QPushButton, QWidget

from inspector.augment.policy import BorderValue, border_fill


def fill_text(value: BorderValue) -> str:
    return f"rgb {value[0]}, {value[1]}, {value[2]}" if isinstance(value, tuple) else f"grey {value}"


class FillColourButton(QPushButton):
    """Swatch + 'grey 0' / 'rgb 20, 200, 40'; `valueChanged` after every change."""

    valueChanged = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._value: BorderValue = 0
        self.setToolTip("Fill of the constant border: a grey level or, for colour parts, an RGB colour "
                        "(click to choose; a grey image gets the colour's brightness)")
        self.clicked.connect(self.choose)
        self._show()

    def value(self) -> BorderValue:
        return self._value

    def set_value(self, value: BorderValue) -> None:
        value = border_fill(value)
        if value == self._value:
            return
        self._value = value
        self._show()
        self.valueChanged.emit()

    def choose(self) -> None:
        red, green, blue = self._value if isinstance(self._value, tuple) else (self._value,) * 3
        colour = QColorDialog.getColor(QColor(red, green, blue), self, "Border fill colour")
        if colour.isValid():
            self.set_value((colour.red(), colour.green(), colour.blue()))

    def _show(self) -> None:
        red, green, blue = self._value if isinstance(self._value, tuple) else (self._value,) * 3
        swatch = QPixmap(14, 14)
        swatch.fill(QColor(red, green, blue))
        painter = QPainter(swatch)  # an outline, so a white or black fill shows on any button colour
        painter.setPen(QColor("#57606a"))
        painter.drawRect(0, 0, 13, 13)
        painter.end()
        self.setIcon(QIcon(swatch))
        self.setText(fill_text(self._value))
