"""The main window: project and classes on the left, the workflow pages in the middle,
messages at the bottom, and a status bar with the project, the class, the device and the job.

Geometry, dock layout and splitter positions are restored from QSettings on the next start.
The class panel lives in inspector.gui.class_panel, the menus and Help dialogs in
inspector.gui.main_menu (a mixin, so the actions stay window attributes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QSizePolicy, QSplitter, QStackedWidget, QTabWidget)

from inspector.gui.camera import CameraController
from inspector.gui.class_panel import ClassPanel
from inspector.gui.context import AppContext, TaskTracker
from inspector.gui.main_menu import MainMenuMixin
from inspector.gui.pages.acquire import AcquirePage
from inspector.gui.pages.inspect import InspectPage
from inspector.gui.pages.log import LogPage
from inspector.gui.pages.policy import PolicyPage
from inspector.gui.pages.review import ReviewPage
from inspector.gui.pages.run import RunPage
from inspector.gui.pages.welcome import WelcomePage
from inspector.gui.session import Session
from inspector.gui.widgets.gallery import ThumbnailCache
from inspector.gui.widgets.messages import MessageHub, MessagePanel
from inspector.gui.widgets.page_tabs import PageTabs
from inspector.gui.workers import running_tasks
from inspector.types import Progress

__all__ = ["ClassPanel", "MainWindow", "SETTINGS_VERSION"]

SETTINGS_VERSION = 1


class MainWindow(MainMenuMixin, QMainWindow):
    engineReady = Signal()  # the deferred engine is loaded and the Fit page built

    def __init__(self, camera_factory=None, defer_engine: bool = False) -> None:
        """`defer_engine`: show at once with a placeholder Fit page; `load_engine()` later imports torch & co."""
        super().__init__()
        self.setWindowTitle("Inspector")
        self.setObjectName("mainWindow")
        self.messages = MessageHub(self)
        self.session = Session(self.messages, self)
        camera = CameraController(camera_factory, self) if camera_factory else CameraController(parent=self)
        self.ctx = AppContext(self.session, self.messages, camera, ThumbnailCache(self), TaskTracker(self), self)
        self._build_status_bar()  # before the pages: they report to it from their first jobs

        self.welcome = WelcomePage()
        self.tabs = PageTabs()
        self.tabs.setDocumentMode(True)
        self.acquire_page = AcquirePage(self.ctx)
        self.policy_page = PolicyPage(self.ctx)
        self.engine_ready = not defer_engine
        self._engine_task = None  # the worker importing the engine (load_engine)
        if defer_engine:
            self.fit_page = QLabel("Loading the inspection engine...")
            self.fit_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.fit_page.title = "3  Fit"
        else:
            from inspector.gui.pages.fit import FitPage

            self.fit_page = FitPage(self.ctx)
        self.review_page = ReviewPage(self.ctx)
        self.inspect_page = InspectPage(self.ctx)
        self.log_page = LogPage(self.ctx)
        self.run_page = RunPage(self.ctx)
        self.pages = [self.acquire_page, self.policy_page, self.fit_page, self.review_page, self.inspect_page,
                      self.log_page, self.run_page]
        for page in self.pages:
            self.tabs.addTab(page, page.title)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)

        self.class_panel = ClassPanel(self.ctx)
        self.class_dock = QDockWidget("Project", self)
        self.class_dock.setObjectName("classDock")
        self.class_dock.setWidget(self.class_panel)
        self.class_dock.setMinimumWidth(170)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.class_dock)
        self.message_panel = MessagePanel(self.messages)
        self.message_dock = QDockWidget("Messages", self)
        self.message_dock.setObjectName("messageDock")
        self.message_dock.setWidget(self.message_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.message_dock)
        self.resizeDocks([self.message_dock], [80], Qt.Orientation.Vertical)
        self.resizeDocks([self.class_dock], [190], Qt.Orientation.Horizontal)  # room for the pages at 1024 px

        self._build_menus()
        self.welcome.newRequested.connect(self.new_project_dialog)
        self.welcome.openRequested.connect(self.open_project_dialog)
        self.welcome.demoRequested.connect(lambda: self.open_demo_project())
        self.welcome.recentChosen.connect(self.open_project)
        self.session.project_changed.connect(self._on_project_changed)
        self.session.class_changed.connect(self._update_status)
        self.session.model_changed.connect(self._update_status)
        self.messages.posted.connect(self._on_message)
        self.ctx.tasks.changed.connect(self._on_tasks_changed)
        self.ctx.tasks.progress.connect(self._on_task_progress)
        self.review_page.refitRequested.connect(self.refit_after_review)
        self.ctx.camera.failed.connect(lambda message: self.statusBar().showMessage(message, 8000))
        self.resize(1280, 820)
        self._pending_splitters: dict[QSplitter, QByteArray] = {}
        self._restore_layout()
        self._on_project_changed()

    def load_engine(self) -> None:
        """Import the engine (torch, timm, detectors) on a worker behind the shown window.

        The event loop keeps running meanwhile (issue 15): the status bar says which module is
        loading, and the Fit page is built on the GUI thread once everything is in
        (`engine_ready`, `engineReady`). See app.preload_engine for what is loaded and why early.
        """
        if self.engine_ready or self._engine_task is not None:
            return
        from inspector.gui.app import start_engine_load

        self.status_engine.setText("Engine: loading...")
        self.status_engine.show()
        self._engine_task = start_engine_load(lambda text: self.status_engine.setText(f"Engine: {text}"),
                                              self._install_engine_pages, self._on_engine_failed)

    def _install_engine_pages(self) -> None:
        from inspector.gui.pages.fit import FitPage

        self._engine_task = None
        placeholder = self.fit_page
        index = self.tabs.indexOf(placeholder)
        current = self.tabs.currentIndex()
        self.fit_page = FitPage(self.ctx)
        self.pages[self.pages.index(placeholder)] = self.fit_page
        scroller = QTabWidget.widget(self.tabs, index)  # the placeholder's scroll area
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, self.fit_page, self.fit_page.title)
        self.tabs.setCurrentIndex(current)
        scroller.deleteLater()
        self.engine_ready = True
        self.status_engine.setText("Engine: ready")
        self.status_engine.hide()
        self.engineReady.emit()

    def _on_engine_failed(self, info) -> None:
        self._engine_task = None
        self.status_engine.setText("Engine: failed to load (see Messages)")
        self.fit_page.setText(f"The inspection engine could not be loaded: {info.message}")
        self.messages.error(f"The inspection engine could not be loaded: {info.message}", info.details)

    def wait_for_engine(self, timeout_ms: int = 120_000) -> bool:
        """Block, processing events, until the engine is in (tests, scripts); True when ready."""
        from PySide6.QtCore import QElapsedTimer

        timer = QElapsedTimer()
        timer.start()
        while not self.engine_ready and self._engine_task is not None and timer.elapsed() < timeout_ms:
            self._engine_task.wait(20)
            QApplication.processEvents()
        return self.engine_ready

    # -- chrome -----------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_project = QLabel("")
        self.status_class = QLabel("")
        self.status_device = QLabel("Device: ...")
        self.status_device.setObjectName("statusDevice")
        self.status_device.setToolTip("Where the backbone runs (set on the Fit page)")
        self.status_task = QLabel("")
        self.status_engine = QLabel("")
        self.status_engine.setObjectName("statusEngine")
        self.status_engine.hide()
        self.status_progress = QProgressBar()
        self.status_progress.setMaximumWidth(160)
        self.status_progress.setMaximumHeight(14)
        self.status_progress.setTextVisible(False)
        self.status_progress.hide()
        for label in (self.status_task, self.status_class, self.status_project):
            label.setMinimumWidth(0)  # long texts are cut, the window never widens for them
            label.setSizePolicy(QSizePolicy.Policy.Ignored, label.sizePolicy().verticalPolicy())
            label.setMaximumWidth(360)
        for widget in (self.status_engine, self.status_task, self.status_progress, self.status_project, self.status_class, self.status_device):
            bar.addPermanentWidget(widget)

    def set_device_text(self, text: str) -> None:
        self.status_device.setText(f"Device: {text}")

    # -- projects ---------------------------------------------------------------------------------
    def new_project_dialog(self) -> None:
        """Ask for a name and a location; the project folder is created (it need not exist)."""
        from inspector.gui.widgets.new_project_dialog import NewProjectDialog

        current = self.session.project.root.parent if self.session.project is not None else None
        dialog = NewProjectDialog(self, current)
        if dialog.exec() == NewProjectDialog.DialogCode.Accepted:
            self.create_project(dialog.folder(), dialog.name())

    def create_project(self, folder: Path, name: str) -> bool:
        try:
            self.session.create_project(folder, name)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not create the project", exc, self)
            return False
        self.messages.info("Next: add a part class (left panel), then its images on the Acquire page.")
        return True

    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a project folder")
        if folder:
            self.open_project(Path(folder))

    def open_project(self, folder: Path) -> bool:
        if not self._confirm_abandon_jobs():
            return False
        try:
            project = self.session.open_project(Path(folder))
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not open the project", exc, self)
            return False
        if project.problems:
            self.statusBar().showMessage(f"The project opened with {len(project.problems)} problem(s): see Messages.", 10000)
        return True

    def reopen_last_project(self) -> None:
        recent = self.session.recent_projects()
        self.welcome.set_recent(recent)
        if recent and QSettings().value("reopen_last", True, type=bool):
            self.open_project(recent[0])

    def close_project(self) -> None:
        if self._confirm_abandon_jobs():
            self.session.close_project()

    def open_demo_project(self, parent_folder: Optional[Path] = None) -> bool:
        """Create a project from the bundled demo images (train -> training, test -> labelled test)."""
        from inspector.resources import DEMO_PART, demo_dir

        try:
            source = demo_dir()
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("The demo images are missing", exc, self)
            return False
        base = Path(parent_folder) if parent_folder else Path.home() / "Inspector"
        index = 1
        while (base / f"demo-{index}").exists():
            index += 1
        if not self.create_project(base / f"demo-{index}", "Demo"):
            return False
        self.session.add_class(DEMO_PART)
        self.messages.info(f"Demo project created in {base / f'demo-{index}'}; importing the demo images...")
        self.tabs.setCurrentWidget(self.acquire_page)
        self.acquire_page.import_dataset(source)
        return True

    def _on_project_changed(self) -> None:
        has = self.session.project is not None
        self.stack.setCurrentWidget(self.tabs if has else self.welcome)
        if not has:
            self.welcome.set_recent(self.session.recent_projects())
        self.action_close.setEnabled(has)
        project = self.session.project
        self.setWindowTitle(f"Inspector - {project.name}" if project else "Inspector")
        self._update_status()

    def refit_after_review(self) -> None:
        if not self.engine_ready or self.fit_page.running:
            return
        self.tabs.setCurrentWidget(self.fit_page)
        self.fit_page.start_fit(refine_ratio=0.0)

    # -- status -----------------------------------------------------------------------------------
    def _update_status(self) -> None:
        project = self.session.project
        self.status_project.setText(f"Project: {project.name}" if project else "No project")
        self.status_project.setToolTip(str(project.root) if project else "")
        part = self.session.part
        if part is None:
            self.status_class.setText("")
        else:
            model = self.session.model
            state = "loading model" if self.session.model_loading else ("model ready" if model else "no model")
            self.status_class.setText(f"Class: {part.name} ({state})")

    def _on_message(self, level: str, text: str, _details: str) -> None:
        self.statusBar().showMessage(text, 6000 if level == "info" else 12000)

    def _on_tasks_changed(self) -> None:
        labels = self.ctx.tasks.labels()
        visible = [l for l in labels if l not in ("Detect device", "Find cameras")]
        self.status_task.setText(", ".join(visible) + "..." if visible else "")
        self.status_progress.setVisible(bool(visible))
        if visible:
            self.status_progress.setRange(0, 0)

    def _on_task_progress(self, label: str, progress: Progress) -> None:
        if progress.total > 0:
            self.status_progress.setRange(0, progress.total)
            self.status_progress.setValue(progress.done)
        self.status_task.setText(f"{label}: {progress.stage} {progress.done}/{progress.total}")

    # -- layout persistence and shutdown -------------------------------------------------------
    def _splitters(self) -> list[QSplitter]:
        return [s for s in self.findChildren(QSplitter) if s.objectName()]

    def _restore_layout(self) -> None:
        settings = QSettings()
        if settings.value("layout/version", 0, type=int) != SETTINGS_VERSION:
            return
        geometry = settings.value("layout/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = settings.value("layout/state")
        if isinstance(state, QByteArray):
            self.restoreState(state, SETTINGS_VERSION)
        # A splitter is restored when it is first shown, at its real size: restored while its page
        # is hidden, it would be rescaled later and lose the sizes the user chose.
        for splitter in self._splitters():
            value = settings.value(f"layout/splitter/{splitter.objectName()}")
            if isinstance(value, QByteArray):
                self._pending_splitters[splitter] = value
                splitter.installEventFilter(self)
        self.tabs.setCurrentIndex(settings.value("layout/page", 0, type=int))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Show and watched in self._pending_splitters:
            watched.restoreState(self._pending_splitters.pop(watched))
            watched.removeEventFilter(self)
        return super().eventFilter(watched, event)

    def save_layout(self) -> None:
        settings = QSettings()
        settings.setValue("layout/version", SETTINGS_VERSION)
        settings.setValue("layout/geometry", self.saveGeometry())
        settings.setValue("layout/state", self.saveState(SETTINGS_VERSION))
        for splitter in self._splitters():
            state = self._pending_splitters.get(splitter) or splitter.saveState()  # never shown: keep the old
            settings.setValue(f"layout/splitter/{splitter.objectName()}", state)
        settings.setValue("layout/page", self.tabs.currentIndex())
        settings.sync()

    def _confirm_abandon_jobs(self) -> bool:
        """Ask before stopping running jobs; cancel them (cleanly) and wait when the user agrees."""
        jobs = [l for l in self.ctx.tasks.labels() if l not in ("Detect device", "Find cameras")]
        if not jobs:
            return True
        answer = QMessageBox.question(self, "Jobs are running", "Running: " + ", ".join(jobs) +
                                      ".\nCancel them? (They stop at their next safe point.)")
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.ctx.tasks.cancel_all()
        self.ctx.tasks.wait_all(60_000)
        return True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._confirm_abandon_jobs():
            event.ignore()
            return
        self.save_layout()
        self.ctx.camera.stop()
        self.ctx.tasks.cancel_all()
        self.ctx.tasks.wait_all(30_000)
        for task in running_tasks():  # previews and image loads are not tracked: stop them too
            task.cancel()
            task.wait(10_000)
        self.ctx.thumbnails.wait(5_000)
        QApplication.processEvents()  # deliver the jobs' last signals while their receivers exist
        if self.session.project is not None:
            self.session.project.close()
        event.accept()
