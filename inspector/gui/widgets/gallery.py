"""Thumbnail gallery of a class's images, with role badges (TRAIN / TEST) and a filter.

Thumbnails are decoded on a background pool (QImage is safe off the GUI thread; QPixmap is not)
and cached by path and modification time, so a 300-image class opens without a freeze.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from inspector.gui.widgets.imaging import to_qimage

THUMB = 112
ROLE_COLORS = {"train": QColor("#1a7f37"), "test": QColor("#0969da"), "deleted": QColor("#6e7781")}
KEY_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class GalleryEntry:
    """What the gallery shows for one image (built by the page from the project's records)."""

    key: str
    path: Path
    role: str  # 'train' | 'test' | other
    deleted: bool = False
    caption: str = ""
    flagged: bool = False  # e.g. flagged by SROC


class _ThumbSignals(QObject):
    loaded = Signal(str, float, QImage)  # path, mtime, image (null when unreadable)


class _ThumbJob(QRunnable):
    def __init__(self, paths: list[tuple[str, float]], signals: _ThumbSignals) -> None:
        super().__init__()
        self.paths = paths
        self.signals = signals

    def run(self) -> None:
        from inspector.io.images import load_image

        for path, mtime in self.paths:
            try:
                image = to_qimage(load_image(path, max_side=THUMB * 2)).scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            except Exception:  # noqa: BLE001 - an unreadable file shows as a placeholder
                image = QImage()
            self.signals.loaded.emit(path, mtime, image)


class ThumbnailCache(QObject):
    """Path -> thumbnail QImage, loaded in the background; `ready(path)` when one arrives."""

    ready = Signal(str)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self._images: dict[tuple[str, float], QImage] = {}
        self._pending: set[tuple[str, float]] = set()
        self._signals = _ThumbSignals()
        self._signals.loaded.connect(self._on_loaded)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)

    @staticmethod
    def _key(path: Path) -> tuple[str, float]:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = -1.0
        return str(path), mtime

    def get(self, path: Path) -> Optional[QImage]:
        return self._images.get(self._key(path))

    def request(self, paths: Sequence[Path]) -> None:
        wanted = [key for key in map(self._key, paths) if key not in self._images and key not in self._pending]
        for start in range(0, len(wanted), 16):
            batch = wanted[start:start + 16]
            self._pending.update(batch)
            self.pool.start(_ThumbJob(batch, self._signals))

    def wait(self, timeout_ms: int = 10_000) -> bool:
        return self.pool.waitForDone(timeout_ms)

    def _on_loaded(self, path: str, mtime: float, image: QImage) -> None:
        self._pending.discard((path, mtime))
        self._images[(path, mtime)] = image
        self.ready.emit(path)


def _badge(image: Optional[QImage], entry: GalleryEntry) -> QIcon:
    """Thumbnail on a fixed square with a role badge (and a red frame for flagged images)."""
    pixmap = QPixmap(THUMB, THUMB)
    pixmap.fill(QColor("#eaeef2"))
    painter = QPainter(pixmap)
    if image is not None and not image.isNull():
        x = (THUMB - image.width()) // 2
        y = (THUMB - image.height()) // 2
        if entry.deleted:
            painter.setOpacity(0.35)
        painter.drawImage(x, y, image)
        painter.setOpacity(1.0)
    elif image is not None:
        painter.setPen(QColor("#b31d28"))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "unreadable")
    else:
        painter.setPen(QColor("#6e7781"))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "loading...")
    label = "DELETED" if entry.deleted else entry.role.upper()
    color = ROLE_COLORS["deleted" if entry.deleted else entry.role] if (entry.deleted or entry.role in ROLE_COLORS) else QColor("#57606a")
    font = QFont()
    font.setPointSize(7)
    font.setBold(True)
    painter.setFont(font)
    width = painter.fontMetrics().horizontalAdvance(label) + 8
    painter.fillRect(2, 2, width, 14, color)
    painter.setPen(QColor("white"))
    painter.drawText(2, 2, width, 14, Qt.AlignmentFlag.AlignCenter, label)
    if entry.flagged:
        painter.setPen(QColor("#d73a49"))
        painter.drawRect(0, 0, THUMB - 1, THUMB - 1)
        painter.drawRect(1, 1, THUMB - 3, THUMB - 3)
    painter.end()
    return QIcon(pixmap)


class Gallery(QListWidget):
    """Icon-mode list of GalleryEntry; multi-selection; `selected_keys()` for the page's actions."""

    FILTERS = {"all": "All images", "train": "Training", "test": "Test", "deleted": "Deleted"}

    def __init__(self, cache: Optional[ThumbnailCache] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.cache = cache or ThumbnailCache(self)
        self.cache.ready.connect(self._on_thumbnail)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 16, THUMB + 34))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setUniformItemSizes(True)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSpacing(4)
        self._entries: dict[str, GalleryEntry] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._filter = "all"

    def set_entries(self, entries: Sequence[GalleryEntry]) -> None:
        selected = set(self.selected_keys())
        self.blockSignals(True)
        try:
            self.clear()
            self._entries = {e.key: e for e in entries}
            self._items = {}
            for entry in entries:
                item = QListWidgetItem(_badge(self.cache.get(entry.path), entry), entry.caption or entry.path.name)
                item.setData(KEY_ROLE, entry.key)
                item.setToolTip(f"{entry.path}\nrole: {entry.role}{' (deleted)' if entry.deleted else ''}")
                item.setSizeHint(QSize(THUMB + 12, THUMB + 30))
                self.addItem(item)
                self._items[entry.key] = item
                item.setSelected(entry.key in selected)
            self._apply_filter()
        finally:
            self.blockSignals(False)
        self.cache.request([e.path for e in entries])
        self.itemSelectionChanged.emit()

    def set_filter(self, name: str) -> None:
        self._filter = name
        self._apply_filter()

    def _visible(self, entry: GalleryEntry) -> bool:
        if self._filter == "deleted":
            return entry.deleted
        if entry.deleted:
            return False
        return self._filter == "all" or entry.role == self._filter

    def _apply_filter(self) -> None:
        for key, item in self._items.items():
            item.setHidden(not self._visible(self._entries[key]))

    def entries(self) -> list[GalleryEntry]:
        return list(self._entries.values())

    def visible_keys(self) -> list[str]:
        return [key for key, item in self._items.items() if not item.isHidden()]

    def selected_keys(self) -> list[str]:
        return [item.data(KEY_ROLE) for item in self.selectedItems() if not item.isHidden()]

    def select_keys(self, keys: Sequence[str]) -> None:
        self.clearSelection()
        for key in keys:
            if key in self._items:
                self._items[key].setSelected(True)

    def entry(self, key: str) -> Optional[GalleryEntry]:
        return self._entries.get(key)

    def _on_thumbnail(self, path: str) -> None:
        for key, entry in self._entries.items():
            if str(entry.path) == path:
                self._items[key].setIcon(_badge(self.cache.get(entry.path), entry))
