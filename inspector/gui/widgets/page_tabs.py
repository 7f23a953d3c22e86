"""Tabs whose pages scroll: each page sits in a QScrollArea, so a small window (1024 x 700) never clips
a page's controls and a page that grows (a long notice) never makes the window resize itself.

The tab widget still speaks in pages: setCurrentWidget / indexOf / currentWidget take and return the
page, not its scroll area.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget


class PageTabs(QTabWidget):
    def _scroller(self, page: QWidget) -> QScrollArea:
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        area.setWidget(page)
        return area

    def addTab(self, page: QWidget, title: str) -> int:  # noqa: N802 (Qt naming)
        return super().addTab(self._scroller(page), title)

    def insertTab(self, index: int, page: QWidget, title: str) -> int:  # noqa: N802
        return super().insertTab(index, self._scroller(page), title)

    def page(self, index: int) -> Optional[QWidget]:
        area = super().widget(index)
        return area.widget() if isinstance(area, QScrollArea) else area

    def widget(self, index: int) -> Optional[QWidget]:
        return self.page(index)

    def currentWidget(self) -> Optional[QWidget]:  # noqa: N802
        return self.page(self.currentIndex())

    def indexOf(self, page: QWidget) -> int:  # noqa: N802
        for index in range(self.count()):
            if self.page(index) is page:
                return index
        return super().indexOf(page)

    def setCurrentWidget(self, page: QWidget) -> None:  # noqa: N802
        index = self.indexOf(page)
        if index >= 0:
            self.setCurrentIndex(index)
