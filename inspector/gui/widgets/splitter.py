"""One way to set up the pages' splitters: the widgets, their stretch, their first sizes, a name.

A named splitter is remembered across restarts: the main window saves and restores the sizes of
every splitter with an object name (`MainWindow._splitters`), so the name must be unique and
stable. Unnamed splitters (nested ones) keep the proportions their stretch factors give.
"""
from __future__ import annotations

from typing import Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget


def make_splitter(orientation: Qt.Orientation, widgets: Sequence[QWidget], stretch: Sequence[int],
                  sizes: Optional[Sequence[int]] = None, name: str = "", collapsible: bool = True) -> QSplitter:
    """A splitter holding `widgets` in order, stretched by `stretch` (one factor each).

    `sizes` are the first sizes in pixels (the window's default size), `name` the settings key
    that keeps the user's sizes, and `collapsible` False stops a pane from being dragged to nothing.
    """
    if len(stretch) != len(widgets) or (sizes is not None and len(sizes) != len(widgets)):
        raise ValueError("one stretch factor (and size) per widget")
    splitter = QSplitter(orientation)
    if name:
        splitter.setObjectName(name)
    for index, (widget, factor) in enumerate(zip(widgets, stretch)):
        splitter.addWidget(widget)
        splitter.setStretchFactor(index, int(factor))
    if sizes is not None:
        splitter.setSizes([int(size) for size in sizes])
    splitter.setChildrenCollapsible(collapsible)
    return splitter
