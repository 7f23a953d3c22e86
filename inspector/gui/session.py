"""What the window is working on: the open project, the current class and its active model.

Pages never keep their own copy of this state; they read the `Session` and follow its signals,
so every view agrees. The Session itself does quick project edits (JSON writes) in the GUI
thread and loads models on a worker (a PaDiM model holds hundreds of MB of covariances).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from PySide6.QtCore import QObject, Signal

from inspector.gui.widgets.messages import MessageHub
from inspector.gui.workers import ErrorInfo, Task
from inspector.store.project import ImageRecord, PartClass, Project, load_recent, remember_recent
from inspector.types import InspectorError


class Session(QObject):
    """The open project and the selected part class; the single source of truth for the pages."""

    project_changed = Signal()  # a project was opened, created or closed
    classes_changed = Signal()  # classes added, removed or renamed
    class_changed = Signal()  # another class was selected (or none)
    images_changed = Signal()  # images of the current class changed (role, delete, import)
    policy_changed = Signal()  # the current class's saved policy changed
    model_changed = Signal()  # the active model of the current class changed or finished loading
    thresholds_changed = Signal()  # the working point changed (saved or not)
    review_changed = Signal()  # review decisions changed

    def __init__(self, messages: Optional[MessageHub] = None, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.messages = messages or MessageHub(self)
        self.project: Optional[Project] = None
        self.class_name: Optional[str] = None
        self._model: Any = None  # InspectionModel of the current class (loaded lazily)
        self._model_key: Optional[tuple[str, str]] = None
        self._loading: Optional[Task] = None
        self.model_error: Optional[str] = None
        #: "GPU: ..." or "CPU (n threads)", once detected (shown in the status bar).
        self.device_name: str = ""
        #: The image last selected in the gallery (the policy preview starts from it).
        self.focus_image_id: Optional[str] = None

    # -- project ------------------------------------------------------------------------------
    def create_project(self, folder: Path, name: str) -> Project:
        project = Project.create(folder, name)
        self._set_project(project)
        return project

    def open_project(self, folder: Path) -> Project:
        project = Project.open(folder)
        self._set_project(project)
        for problem in project.problems:
            self.messages.warning(problem)
        return project

    def close_project(self) -> None:
        if self.project is not None:
            self.project.close()
        self.project = None
        self.class_name = None
        self._forget_model()
        self.project_changed.emit()
        self.class_changed.emit()

    def _set_project(self, project: Project) -> None:
        if self.project is not None:
            self.project.close()
        self.project = project
        remember_recent(project.root)
        self.class_name = None
        self._forget_model()
        self.project_changed.emit()
        self.classes_changed.emit()
        names = list(project.classes)
        self.select_class(names[0] if names else None)
        self.messages.info(f"Opened project '{project.name}' ({project.root}).")

    @staticmethod
    def recent_projects() -> list[Path]:
        return load_recent()

    # -- classes ------------------------------------------------------------------------------
    @property
    def part(self) -> Optional[PartClass]:
        if self.project is None or self.class_name is None:
            return None
        return self.project.classes.get(self.class_name)

    def require_part(self) -> PartClass:
        part = self.part
        if part is None:
            raise InspectorError("Select or add a part class first (left panel).")
        return part

    def class_names(self) -> list[str]:
        return [] if self.project is None else list(self.project.classes)

    def add_class(self, name: str) -> None:
        if self.project is None:
            raise InspectorError("Create or open a project first.")
        part = self.project.add_class(name)
        self.classes_changed.emit()
        self.select_class(part.name)

    def rename_class(self, old: str, new: str) -> None:
        assert self.project is not None
        part = self.project.rename_class(old, new)
        if self.class_name == old:
            self.class_name = part.name
        self.classes_changed.emit()
        self.class_changed.emit()

    def remove_class(self, name: str) -> None:
        assert self.project is not None
        self.project.remove_class(name)
        self.classes_changed.emit()
        if self.class_name == name:
            names = self.class_names()
            self.select_class(names[0] if names else None)

    def select_class(self, name: Optional[str]) -> None:
        if name == self.class_name:
            return
        self.class_name = name
        self.focus_image_id = None
        self._forget_model()
        self.class_changed.emit()
        self.load_active_model()

    # -- images -------------------------------------------------------------------------------
    def image_path(self, record: ImageRecord | str) -> Path:
        assert self.project is not None and self.class_name is not None
        return self.project.image_path(self.class_name, record)

    def records(self, role: Optional[str] = None, include_deleted: bool = False) -> list[ImageRecord]:
        part = self.part
        return [] if part is None else part.active_images(role, include_deleted)

    def training_records(self) -> list[ImageRecord]:
        """Training images a fit uses: active, role train, not removed in the review."""
        part = self.part
        if part is None:
            return []
        removed = part.left_out_ids()  # removed, or flagged by SROC and undecided (as SROC did)
        return [r for r in part.active_images("train") if r.id not in removed]

    def notify_images_changed(self) -> None:
        self.images_changed.emit()

    # -- policy -------------------------------------------------------------------------------
    def save_policy(self, policy_json: Optional[dict]) -> None:
        assert self.project is not None
        self.project.save_policy(self.require_part().name, policy_json)
        self.policy_changed.emit()

    # -- models -------------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The loaded InspectionModel of the current class, or None (none active / still loading)."""
        return self._model

    @property
    def model_loading(self) -> bool:
        return self._loading is not None

    def _forget_model(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            self._loading = None
        self._model = None
        self._model_key = None
        self.model_error = None

    def load_active_model(self) -> None:
        """Load the active model on a worker; `model_changed` fires when it is ready (or failed)."""
        part = self.part
        self._forget_model()
        if part is None or part.active_model_id is None or self.project is None:
            self.model_changed.emit()
            return
        key = (part.name, part.active_model_id)
        path = self.project.model_path(part.name, part.active_model_id)

        def load(_reporter):
            from inspector.pipeline import InspectionModel

            return InspectionModel.load(path)

        task = Task(load, "load-model")
        self._loading = task
        task.result.connect(lambda model, k=key, t=task: self._on_model_loaded(t, k, model))
        task.error.connect(lambda info, k=key, t=task: self._on_model_failed(t, k, info))
        task.finished.connect(lambda t=task: self._loading_done(t))
        task.start()
        self.model_changed.emit()  # pages show "loading model..."

    def _on_model_loaded(self, task: Task, key: tuple[str, str], model: Any) -> None:
        if task is not self._loading:
            return  # a newer request won
        self._model, self._model_key = model, key
        self._loading = None
        self.model_changed.emit()
        self.thresholds_changed.emit()

    def _on_model_failed(self, task: Task, key: tuple[str, str], info: ErrorInfo) -> None:
        if task is not self._loading:
            return
        self._loading = None
        self.model_error = info.message
        self.messages.error(f"Could not load model {key[1]} of class '{key[0]}': {info.message}", info.details)
        self.model_changed.emit()

    def _loading_done(self, task: Task) -> None:
        if self._loading is task:
            self._loading = None

    def wait_for_model(self, timeout_ms: int = 60_000) -> None:
        """Block (processing events) until the model is loaded; for tests and scripts."""
        from PySide6.QtCore import QCoreApplication, QElapsedTimer

        timer = QElapsedTimer()
        timer.start()
        while self._loading is not None and timer.elapsed() < timeout_ms:
            self._loading.wait(20)
            QCoreApplication.processEvents()

    def install_model(self, class_name: str, model: Any, model_id: str, fit_settings: Optional[dict] = None,
                      aug_factor: Optional[int] = None, flagged_ids: Sequence[str] = ()) -> None:
        """Make a just-fitted (already saved) model the active one of `class_name`.

        The class is named, not taken from the selection: the user may have selected another
        class while the fit ran. Images SROC flagged and nobody decided on yet become 'remove'
        (that is what the model did); the class's threshold overrides are dropped, since a new
        model has its own score scale.
        """
        assert self.project is not None
        project = self.project
        if fit_settings is not None:
            project.set_fit_settings(class_name, fit_settings, aug_factor)
        project.set_active_model(class_name, model_id)
        project.set_thresholds(class_name, None, None)
        if flagged_ids:
            decisions = dict(project.classes[class_name].review_decisions)
            for image_id in flagged_ids:
                decisions.setdefault(image_id, "undecided")
            project.set_review_decisions(class_name, decisions)
        if class_name != self.class_name:
            return
        self._forget_model()
        self._model, self._model_key = model, (class_name, model_id)
        self.model_changed.emit()
        self.thresholds_changed.emit()
        self.review_changed.emit()

    def activate_model(self, model_id: Optional[str]) -> None:
        assert self.project is not None
        part = self.require_part()
        if model_id == part.active_model_id:
            return
        self.project.set_active_model(part.name, model_id)
        self.project.set_thresholds(part.name, None, None)
        self.load_active_model()
        self.thresholds_changed.emit()

    # -- thresholds ---------------------------------------------------------------------------
    def threshold(self) -> Any:
        """The working point in force: the model's calibrated Threshold with the class's overrides."""
        model, part = self._model, self.part
        if model is None or part is None:
            return None
        base = model.threshold
        if part.fail_threshold is None and part.review_threshold is None:
            return base
        fail = part.fail_threshold if part.fail_threshold is not None else base.fail
        review = part.review_threshold
        if review is not None and review > fail:
            review = None
        return base.with_values(fail, review)

    def save_thresholds(self, fail: Optional[float], review: Optional[float]) -> None:
        """Store the operator's working point with the class (None, None = back to calibrated)."""
        assert self.project is not None
        self.project.set_thresholds(self.require_part().name, fail, review)
        self.thresholds_changed.emit()

    # -- review -------------------------------------------------------------------------------
    def set_review_decisions(self, decisions: dict[str, str]) -> None:
        assert self.project is not None
        self.project.set_review_decisions(self.require_part().name, decisions)
        self.review_changed.emit()

    @property
    def log(self):
        return None if self.project is None else self.project.log
