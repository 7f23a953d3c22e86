"""Label any image of a class good or defective (with a defect type) from the gallery's context menu.

Imported MVTec folders label themselves; images added by hand or captured do not, and without
labels the Inspect page cannot count wrong verdicts or recall per defect type. The menu acts on
the gallery's selection and stores the labels through `store.image_import.set_image_labels`.
"""
from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QInputDialog, QListWidget, QMenu, QWidget

from inspector.gui.context import AppContext


class LabelMenu:
    """Right-click menu of a gallery: Good / Defective / each known defect type / new type / clear."""

    def __init__(self, ctx: AppContext, gallery: QListWidget, selected: Callable[[], list[str]],
                 ask_type: Optional[Callable[[QWidget, list[str]], Optional[str]]] = None) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.gallery = gallery
        self.selected = selected
        self.ask_type = ask_type or _ask_type
        gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        gallery.customContextMenuRequested.connect(self._show)

    def known_types(self) -> list[str]:
        part = self.session.part
        return sorted({r.defect_type for r in part.images if r.defect_type}) if part is not None else []

    def build(self) -> QMenu:
        """The menu for the current selection (also used by tests, without showing it)."""
        menu = QMenu(self.gallery)
        ids = self.selected()
        title = menu.addAction(f"Label {len(ids)} image(s) as:")
        title.setEnabled(False)
        menu.addAction("Good", lambda: self.apply("good"))
        menu.addAction("Defective (no type)", lambda: self.apply("defect"))
        for name in self.known_types():
            menu.addAction(f"Defective: {name}", lambda name=name: self.apply("defect", name))
        menu.addAction("Defective, new type...", self.apply_new_type)
        menu.addSeparator()
        menu.addAction("No label", lambda: self.apply(None))
        for action in menu.actions()[1:]:
            action.setEnabled(bool(ids))
        return menu

    def _show(self, pos: QPoint) -> None:
        if self.session.part is None:
            return
        self.build().exec(self.gallery.viewport().mapToGlobal(pos))

    def apply_new_type(self) -> None:
        name = self.ask_type(self.gallery, self.known_types())
        if name:
            self.apply("defect", name)

    def apply(self, label: Optional[str], defect_type: Optional[str] = None) -> bool:
        """Store the label on every selected image; False (with a message) when it cannot be stored."""
        from inspector.store.image_import import set_image_labels

        project, part, ids = self.session.project, self.session.part, self.selected()
        if project is None or part is None or not ids:
            return False
        try:
            set_image_labels(project, part.name, ids, label, defect_type)
        except Exception as exc:  # noqa: BLE001 (read-only project, bad type name)
            self.ctx.report_error("Could not label the images", exc, self.gallery)
            return False
        what = "no label" if label is None else (f"defective ({defect_type})" if defect_type else
                                                 "good" if label == "good" else "defective")
        self.ctx.messages.info(f"{len(ids)} image(s) labelled {what}.")
        self.session.notify_images_changed()
        return True


def _ask_type(parent: QWidget, known: list[str]) -> Optional[str]:
    name, ok = QInputDialog.getText(parent, "Defect type", "Name of the defect type (e.g. crack, scratch):")
    return name.strip() if ok and name.strip() else None
