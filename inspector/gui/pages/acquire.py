"""Acquire: capture good parts from a camera, or load files, folders and datasets.

The gallery shows the class's images with their role; the user marks them as training or test,
deletes or restores them. Imports run on a worker (each file is fully decoded to check it).
The camera box is its own widget (`gui/widgets/camera_panel.py`); the dataset import plan and
the image lister live in Qt-free modules.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.gui.context import AppContext
from inspector.gui.widgets.camera_panel import ERROR_STYLE, HINT_STYLE, CameraPanel
from inspector.gui.widgets.gallery import Gallery, GalleryEntry
from inspector.gui.widgets.splitter import make_splitter
from inspector.io.datasets import collect_image_files
from inspector.io.images import IMAGE_SUFFIXES



def dataset_plan(folder: Path) -> list[tuple[str, Optional[str], list[Path]]]:
    """(role, label, files) groups of an MVTec-style category: train/good, test/good, test/<defect>."""
    from inspector.io.datasets import load_category

    category = load_category(folder)
    plan: list[tuple[str, Optional[str], list[Path]]] = [("train", "good", [s.path for s in category.train])]
    good = [s.path for s in category.test if s.label == 0]
    bad = [s.path for s in category.test if s.label == 1]
    if good:
        plan.append(("test", "good", good))
    if bad:
        plan.append(("test", "defect", bad))
    return plan


class AcquirePage(QWidget):
    """Camera on the left, the class's gallery on the right."""

    title = "1  Acquire"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.camera_panel = CameraPanel(ctx)
        self.camera_panel.captureRequested.connect(self.capture)

        self.add_files_button = QPushButton("Add files...")
        self.add_files_button.setToolTip("Copy image files into this class (Ctrl+Shift+A)")
        self.add_folder_button = QPushButton("Add folder...")
        self.add_folder_button.setToolTip("Copy every image of a folder (and its sub-folders) into this class")
        self.add_dataset_button = QPushButton("Import dataset...")
        self.add_dataset_button.setToolTip("MVTec-style folder: train/good becomes training, test/* becomes test "
                                           "(labelled good or defect by folder)")
        self.import_role = QComboBox()
        self.import_role.addItem("as training", "train")
        self.import_role.addItem("as test", "test")
        self.import_role.setToolTip("Role given to files added with Add files / Add folder / drag and drop")
        self.filter = QComboBox()
        for key, label in Gallery.FILTERS.items():
            self.filter.addItem(label, key)
        self.filter.setToolTip("Which images to show")
        self.to_train_button = QPushButton("Training")
        self.to_train_button.setToolTip("Use the selected images for fitting (T)")
        self.to_test_button = QPushButton("Test")
        self.to_test_button.setToolTip("Keep the selected images for testing only (E)")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Move the selected images to the deleted ones (Del); they can be restored")
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip("Bring the selected deleted images back")
        self.counts = QLabel("")
        self.counts.setStyleSheet(HINT_STYLE)
        self.gallery = Gallery(ctx.thumbnails)
        self.gallery.setToolTip("Images of the class. Drop image files or folders here to add them; "
                                "right-click to label the selected images good or defective.")
        from inspector.gui.widgets.label_menu import LabelMenu

        self.label_menu = LabelMenu(ctx, self.gallery, self.gallery.selected_keys)
        self.drop_hint = QLabel("No images yet: capture parts with the camera, use Add files / Add folder, "
                                "or drop image files and folders here.")
        self.drop_hint.setWordWrap(True)
        self.drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_hint.setStyleSheet("QLabel { color: #57606a; border: 2px dashed #d0d7de; border-radius: 6px; padding: 18px; }")

        add_row = QHBoxLayout()
        for widget in (self.add_files_button, self.add_folder_button, self.import_role, self.add_dataset_button):
            add_row.addWidget(widget)
        add_row.addStretch(1)
        show_row = QHBoxLayout()
        show_row.addWidget(QLabel("Show:"))
        show_row.addWidget(self.filter)
        show_row.addStretch(1)
        show_row.addWidget(self.counts)
        mark_row = QHBoxLayout()
        mark_row.addWidget(QLabel("Selected:"))
        for widget in (self.to_train_button, self.to_test_button, self.delete_button, self.restore_button):
            mark_row.addWidget(widget)
        mark_row.addStretch(1)
        images_box = QGroupBox("Images of the class")
        self.images_box = images_box
        images_layout = QVBoxLayout(images_box)
        images_layout.addLayout(add_row)
        images_layout.addLayout(show_row)
        images_layout.addWidget(self.drop_hint)
        images_layout.addWidget(self.gallery, 1)
        images_layout.addLayout(mark_row)

        splitter = make_splitter(Qt.Orientation.Horizontal, [self.camera_panel, images_box], [2, 3], [420, 640],
                                 name="acquireSplitter")
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.setAcceptDrops(True)

        self.add_files_button.clicked.connect(self.add_files_dialog)
        self.add_folder_button.clicked.connect(self.add_folder_dialog)
        self.add_dataset_button.clicked.connect(self.import_dataset_dialog)
        self.filter.currentIndexChanged.connect(lambda _i: self._on_filter())
        self.to_train_button.clicked.connect(lambda: self.set_role("train"))
        self.to_test_button.clicked.connect(lambda: self.set_role("test"))
        self.delete_button.clicked.connect(self.delete_selected)
        self.restore_button.clicked.connect(self.restore_selected)
        self.gallery.itemSelectionChanged.connect(self._update_buttons)
        for keys, slot in ((Qt.Key.Key_Space, self.capture), (Qt.Key.Key_Delete, self.delete_selected),
                           (Qt.Key.Key_T, lambda: self.set_role("train")), (Qt.Key.Key_E, lambda: self.set_role("test")),
                           (QKeySequence("Ctrl+Shift+A"), self.add_files_dialog)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(slot)

        self.session.class_changed.connect(self.refresh)
        self.session.images_changed.connect(self.refresh)
        self.session.project_changed.connect(self.refresh)
        self._importing = False
        self.refresh()

    # -- gallery --------------------------------------------------------------------------------
    def refresh(self) -> None:
        part = self.session.part
        enabled = part is not None
        for widget in (self.add_files_button, self.add_folder_button, self.add_dataset_button, self.gallery):
            widget.setEnabled(enabled and not self._importing)
        self.images_box.setTitle(f"Images of '{part.name}'" if part else "Images (select a part class on the left)")
        if part is None:
            self.gallery.set_entries([])
            self.counts.setText("")
            self.drop_hint.setVisible(True)
            self._update_buttons()
            return
        removed = part.left_out_ids()
        entries = []
        for record in part.images:
            if record.missing:
                continue
            caption = record.filename if not record.kind else f"{record.filename} ({record.kind})"
            entries.append(GalleryEntry(record.id, self.session.image_path(record), record.role, record.deleted,
                                        caption, flagged=record.id in removed))
        self.gallery.set_entries(entries)
        train = sum(1 for r in part.images if r.role == "train" and not r.deleted and not r.missing)
        test = sum(1 for r in part.images if r.role == "test" and not r.deleted and not r.missing)
        deleted = sum(1 for r in part.images if r.deleted)
        self.counts.setText(f"{train} training, {test} test, {deleted} deleted")
        self.drop_hint.setVisible(not entries)
        self._update_buttons()

    def _on_filter(self) -> None:
        self.gallery.set_filter(self.filter.currentData())
        self._update_buttons()

    def _update_buttons(self) -> None:
        selected = [self.gallery.entry(k) for k in self.gallery.selected_keys()]
        active = [e for e in selected if e is not None and not e.deleted]
        deleted = [e for e in selected if e is not None and e.deleted]
        self.to_train_button.setEnabled(any(e.role != "train" for e in active))
        self.to_test_button.setEnabled(any(e.role != "test" for e in active))
        self.delete_button.setEnabled(bool(active))
        self.restore_button.setEnabled(bool(deleted))
        if len(selected) == 1 and selected[0] is not None:
            self.session.focus_image_id = selected[0].key

    def _change(self, action, keys: list[str], done: str) -> None:
        if not keys:
            return
        try:
            action(self.session.require_part().name, keys)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not change the images", exc, self)
            return
        self.ctx.messages.info(done.format(n=len(keys)))
        self.session.notify_images_changed()

    def set_role(self, role: str) -> None:
        project = self.session.project
        keys = [k for k in self.gallery.selected_keys() if (e := self.gallery.entry(k)) and not e.deleted and e.role != role]
        if project is not None:
            self._change(lambda c, k: project.set_role(c, k, role), keys,
                         "{n} image(s) marked as " + ("training" if role == "train" else "test") + ".")

    def delete_selected(self) -> None:
        project = self.session.project
        keys = [k for k in self.gallery.selected_keys() if (e := self.gallery.entry(k)) and not e.deleted]
        if project is not None:
            self._change(project.delete_image, keys, "{n} image(s) deleted (Show: Deleted to restore them).")

    def restore_selected(self) -> None:
        project = self.session.project
        keys = [k for k in self.gallery.selected_keys() if (e := self.gallery.entry(k)) and e.deleted]
        if project is not None:
            self._change(project.restore_image, keys, "{n} image(s) restored.")

    # -- adding images --------------------------------------------------------------------------
    def capture(self) -> None:
        frame = self.camera_panel.current_frame()
        if frame is None:
            self.camera_panel.status.setStyleSheet(ERROR_STYLE)
            self.camera_panel.status.setText("No live camera image to capture: start the camera first.")
            return
        project, part = self.session.project, self.session.part
        if project is None or part is None:
            self.ctx.report_error("Capture", "Select or add a part class first (left panel).", self)
            return
        role = self.camera_panel.capture_role()
        try:
            record = project.add_captured_image(part.name, frame, role=role)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not save the captured image", exc, self)
            return
        self.camera_panel.status.setStyleSheet(HINT_STYLE)
        self.camera_panel.status.setText(f"Captured {record.filename} ({'training' if role == 'train' else 'test'}).")
        self.session.notify_images_changed()

    def add_files_dialog(self) -> None:
        if self.session.part is None:
            return
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(self, "Add images", "", f"Images ({patterns});;All files (*)")
        if files:
            self.import_paths([Path(f) for f in files], self.import_role.currentData())

    def add_folder_dialog(self) -> None:
        if self.session.part is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Add every image of a folder")
        if folder:
            self.import_paths([Path(folder)], self.import_role.currentData())

    def import_dataset_dialog(self) -> None:
        if self.session.part is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Import an MVTec-style dataset folder (with train/good)")
        if folder:
            self.import_dataset(Path(folder))

    def import_paths(self, paths: Sequence[Path], role: str, label: Optional[str] = None) -> None:
        """Import files and folders on a worker; refused files are listed in the messages."""
        files = collect_image_files(paths)
        if not files:
            self.ctx.report_error("Add images", f"No image files ({', '.join(IMAGE_SUFFIXES)}) found in what was given.", self)
            return
        self._run_import([(role, label, files)])

    def import_dataset(self, folder: Path) -> None:
        try:
            plan = dataset_plan(folder)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Import dataset", exc, self)
            return
        self._run_import(plan)

    def _run_import(self, plan: list[tuple[str, Optional[str], list[Path]]]) -> None:
        project, part = self.session.project, self.session.require_part()
        assert project is not None
        class_name = part.name
        total = sum(len(files) for _, _, files in plan)

        def work(reporter):
            from inspector.types import Reporter

            imported, errors, done = 0, [], 0
            for role, label, files in plan:
                offset = done

                def relay(progress, offset=offset):
                    reporter.report("import", offset + progress.done, total, progress.message)

                records, refused = project.import_images(class_name, files, role, label=label,
                                                         reporter=Reporter(relay, reporter.cancel_token))
                imported += len(records)
                errors += refused
                done += len(files)
            return imported, errors

        self._importing = True
        self.refresh()
        self.ctx.messages.info(f"Importing {total} image(s) into '{class_name}'...")
        self.ctx.run(work, f"Import into '{class_name}'", on_result=self._on_imported, on_finished=self._on_import_finished,
                     parent=self)

    def _on_imported(self, result: tuple[int, list[str]]) -> None:
        imported, errors = result
        self.ctx.messages.info(f"{imported} image(s) imported.")
        if errors:
            details = "\n".join(errors)
            self.ctx.messages.warning(f"{len(errors)} file(s) were not imported (double-click for the list).", details)
            if imported == 0:
                self.ctx.report_error("Add images", f"None of the {len(errors)} file(s) could be imported.\n\n"
                                      + "\n".join(errors[:5]), self)

    def _on_import_finished(self) -> None:
        self._importing = False
        self.session.notify_images_changed()

    @property
    def importing(self) -> bool:
        return self._importing

    # -- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self.session.part is not None and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths, self.import_role.currentData())
