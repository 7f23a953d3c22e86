"""Augmentation bench (engineer): knobs, presets, seed, factor, a zoomable preview and the policy check.

Every edit submits a preview request to a `LatestOnly` runner: the augmentation runs on a worker
and only the newest request waits, so dragging a slider never stutters and never queues up.
The preview's shifts are meant in pixels of the working size the fit uses (the active model's,
else the Fit settings' short side), as the fit's copies are. The preset box names what the
knobs are: a built-in or project preset they equal, else "Custom". The factor lives here, next
to the policy it multiplies, and is stored with the class (the Fit page follows it).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QInputDialog, QLabel, QPushButton,
                               QScrollArea, QSizePolicy, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from inspector.augment.policy import PRESETS, AugmentationPolicy
from inspector.gui.context import AppContext
from inspector.gui.pages.policy_check_panel import PolicyCheckPanel
from inspector.gui.pages.policy_preview import PreviewPanel
from inspector.gui.widgets.policy_editor import PolicyEditor
from inspector.gui.widgets.splitter import make_splitter

GENERIC = ("object", "texture", "none")
CUSTOM = "Custom"
WARN, OK = "color: #8a6100;", "color: #1a7f37;"


class PolicyPage(QWidget):
    title = "2  Augment"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.editor = PolicyEditor()
        self.preset = QComboBox()
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset.setMinimumContentsLength(14)
        self.preset.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.preset.setToolTip("Start from a preset: the generic ones, the per-category MVTec policies of Gutierrez "
                               "et al. 2021 (Table 4), or this project's own")
        self.save_preset_button = QPushButton("Save as preset...")
        self.save_preset_button.setToolTip("Keep these settings under a name, with the project (any class can use it)")
        self.delete_preset_button = QPushButton("Delete preset")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed of the augmentation, saved with the policy (the same seed gives the same copies)")
        self.new_seed = QPushButton("New draw")
        self.new_seed.setToolTip("Next seed: show other random copies")
        self.factor = QSpinBox()
        self.factor.setRange(0, 100)
        self.factor.setSuffix(" copies / image")
        self.factor.setToolTip("Augmented copies per training image at the next fit (0: the policy is not used); "
                               "stored with the class, the Fit page shows the same value")
        self.factor_note = QLabel("")
        self.factor_note.setWordWrap(True)
        self.save_button = QPushButton("Save policy to class")
        self.save_button.setToolTip("Store this policy (with its seed and border fill) with the part class; fits use it (Ctrl+S)")
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Back to the policy saved with the class")
        self.state = QLabel("")
        self.state.setWordWrap(True)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Preset:", self.preset)
        preset_buttons = QHBoxLayout()
        preset_buttons.addWidget(self.save_preset_button)
        preset_buttons.addWidget(self.delete_preset_button)
        preset_buttons.addStretch(1)
        form.addRow("", preset_buttons)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.new_seed)
        form.addRow("Seed:", seed_row)
        use_box = QGroupBox("Use at the next fit")
        use_layout = QFormLayout(use_box)
        use_layout.addRow("Factor:", self.factor)
        use_layout.addRow(self.factor_note)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.revert_button)
        buttons.addStretch(1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addLayout(form)
        left_layout.addWidget(self.editor)
        left_layout.addWidget(use_box)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.state)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        # Wide enough for the editor's narrowest layout: nothing is clipped at 1024 x 700, it scrolls down.
        scroll.setMinimumWidth(left.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = scroll

        self.preview = PreviewPanel(ctx, self.policy)
        self.grid, self.compare, self.source = self.preview.grid, self.preview.compare, self.preview.source
        self.check_panel = PolicyCheckPanel(ctx, self.policy, lambda: int(self.factor.value()))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.preview, "Preview")
        self.tabs.addTab(self.check_panel, "Policy check")
        splitter = make_splitter(Qt.Orientation.Horizontal, [scroll, self.tabs], [2, 3], [480, 720],
                                 name="policySplitter", collapsible=False)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._saved: Optional[AugmentationPolicy] = None
        self._loading_class = False
        self.editor.policyChanged.connect(self._on_edited)
        self.preset.activated.connect(self._on_preset)
        self.seed.valueChanged.connect(lambda _v: self._on_edited(keep_preset=True))
        self.new_seed.clicked.connect(lambda: self.seed.setValue(self.seed.value() + 1))
        self.factor.valueChanged.connect(self._on_factor)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.save_preset_button.clicked.connect(lambda: self.save_preset_as(None))
        self.delete_preset_button.clicked.connect(self.delete_preset)
        from PySide6.QtGui import QKeySequence, QShortcut

        save = QShortcut(QKeySequence.StandardKey.Save, self)
        save.activated.connect(self.save)
        self.session.class_changed.connect(self.load_class)
        self.session.project_changed.connect(self.load_class)
        self.session.policy_changed.connect(self._sync_factor)
        self.load_class()

    # -- presets ----------------------------------------------------------------------------------
    def _project_presets(self) -> dict[str, dict]:
        project = self.session.project
        return {} if project is None else project.policy_presets()

    def _fill_presets(self) -> None:
        self.preset.blockSignals(True)
        self.preset.clear()
        self.preset.addItem(CUSTOM, None)
        for name in self._project_presets():
            self.preset.addItem(f"{name} (project)", f"project:{name}")
        for name in GENERIC:
            self.preset.addItem(f"{name} (generic)", f"builtin:{name}")
        for name in sorted(n for n in PRESETS if n not in GENERIC):
            self.preset.addItem(f"{name.replace('_', ' ')} (MVTec)", f"builtin:{name}")
        self.preset.blockSignals(False)

    def _preset_policy(self, key: str) -> Optional[AugmentationPolicy]:
        kind, name = key.split(":", 1)
        if kind == "builtin":
            return PRESETS[name]
        data = self._project_presets().get(name)
        return None if data is None else AugmentationPolicy.from_json(data)

    def _show_matching_preset(self) -> None:
        """Select the preset the knobs equal (a project one first), else 'Custom'."""
        try:
            policy = self.policy()
        except Exception:  # noqa: BLE001
            self.preset.setCurrentIndex(0)
            return
        index = 0
        presets = self._project_presets()
        for row in range(1, self.preset.count()):
            kind, name = str(self.preset.itemData(row)).split(":", 1)
            candidate = (AugmentationPolicy.from_json(presets[name]) if kind == "project" and name in presets
                         else PRESETS.get(name) if kind == "builtin" else None)
            if candidate is not None and policy.same_knobs(candidate):
                index = row
                break
        self.preset.setCurrentIndex(index)
        self.delete_preset_button.setEnabled(self._current_project_preset() is not None)

    def _current_project_preset(self) -> Optional[str]:
        key = self.preset.currentData()
        return key.split(":", 1)[1] if isinstance(key, str) and key.startswith("project:") else None

    @property
    def preset_text(self) -> str:
        return self.preset.currentText()

    def _on_preset(self, _index: int) -> None:
        key = self.preset.currentData()
        if key is None:
            return
        policy = self._preset_policy(key)
        if policy is None:
            return
        self.editor.set_policy(policy)
        if key.startswith("project:"):
            self.seed.blockSignals(True)
            self.seed.setValue(policy.seed)
            self.seed.blockSignals(False)
        self._on_edited()

    def save_preset_as(self, name: Optional[str] = None) -> bool:
        """Store the knobs, border and seed as a named project preset (asks for the name when None)."""
        project = self.session.project
        if project is None:
            return False
        if name is None:
            suggestion = self._current_project_preset() or ""
            name, ok = QInputDialog.getText(self, "Save preset", "Name of the preset (kept with the project):",
                                            text=suggestion)
            if not ok:
                return False
        try:
            stored = project.save_policy_preset(name, self.policy().to_json())
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not save the preset", exc, self)
            return False
        self.editor.set_policy(AugmentationPolicy.from_json(stored))
        self._fill_presets()
        self._show_matching_preset()
        self.ctx.messages.info(f"Preset '{stored['name']}' saved with the project.")
        return True

    def delete_preset(self) -> None:
        name, project = self._current_project_preset(), self.session.project
        if project is None or name is None:
            return
        try:
            project.delete_policy_preset(name)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not delete the preset", exc, self)
            return
        self._fill_presets()
        self._show_matching_preset()

    # -- class binding --------------------------------------------------------------------------
    def load_class(self) -> None:
        part = self.session.part
        self.setEnabled(part is not None)
        self._loading_class = True
        try:
            self._fill_presets()
            policy = None
            if part is not None and part.policy is not None:
                try:
                    policy = AugmentationPolicy.from_json(part.policy)
                except Exception as exc:  # noqa: BLE001 - a bad stored policy must not block the page
                    self.ctx.messages.warning(f"The saved policy of '{part.name}' is invalid ({exc}); showing 'object'.")
            self._saved = policy
            shown = policy or PRESETS["object"]
            self.editor.set_policy(shown)
            self.seed.blockSignals(True)
            self.seed.setValue(shown.seed)
            self.seed.blockSignals(False)
            self._sync_factor()
        finally:
            self._loading_class = False
        self._show_matching_preset()
        self._update_state()
        self.preview.load_class()

    def _sync_factor(self) -> None:
        part = self.session.part
        self.factor.blockSignals(True)
        self.factor.setValue(0 if part is None else int(part.aug_factor))
        self.factor.blockSignals(False)
        self._update_state()

    def _on_factor(self, value: int) -> None:
        project, part = self.session.project, self.session.part
        if project is None or part is None or self._loading_class or part.aug_factor == value:
            self._update_state()
            return
        try:
            project.set_aug_factor(part.name, int(value))
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not store the augmentation factor", exc, self)
        self.session.policy_changed.emit()

    # -- editing --------------------------------------------------------------------------------
    def policy(self) -> AugmentationPolicy:
        """The policy shown: the editor's knobs and border with the seed box's seed."""
        return replace(self.editor.policy(), seed=int(self.seed.value()))

    def _on_edited(self, keep_preset: bool = False) -> None:
        if not keep_preset:
            self._show_matching_preset()
        self._update_state()
        self.preview.request_preview()

    @property
    def dirty(self) -> bool:
        try:
            return self._saved is None or self.policy() != self._saved
        except Exception:  # noqa: BLE001
            return True

    def _update_state(self) -> None:
        part = self.session.part
        if part is None:
            self.state.setText("Select a part class on the left.")
            self.factor_note.setText("")
            return
        if self._saved is None:
            self.state.setText("No policy saved for this class yet: fits use no augmentation until you save one.")
            self.state.setStyleSheet(WARN)
        elif self.dirty:
            self.state.setText("Changed: not saved yet.")
            self.state.setStyleSheet(WARN)
        else:
            self.state.setText("Saved with the class.")
            self.state.setStyleSheet(OK)
        self.revert_button.setEnabled(self._saved is not None and self.dirty)
        factor = int(self.factor.value())
        if factor == 0:
            unused = self._saved is not None and not self._saved.is_identity
            self.factor_note.setText("Factor 0: the next fit does NOT use this policy." + (
                " Set a factor to train on augmented copies." if unused else ""))
            self.factor_note.setStyleSheet(WARN if unused else "color: #57606a;")
        elif self._saved is None:
            self.factor_note.setText(f"Factor {factor}, but no policy is saved: save one or the factor is ignored.")
            self.factor_note.setStyleSheet(WARN)
        else:
            n = len(self.session.training_records())
            self.factor_note.setText(f"The next fit trains on {n} image(s) + {n * factor} copies of the saved policy.")
            self.factor_note.setStyleSheet(OK)

    def save(self) -> None:
        try:
            policy = self.policy()
            self.session.save_policy(policy.to_json())
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not save the policy", exc, self)
            return
        self._saved = policy
        note = "" if self.factor.value() else " The factor is 0: fits will not use it until you set one."
        self.ctx.messages.info(f"Policy of '{self.session.class_name}' saved: {policy.describe()}, seed {policy.seed}.{note}")
        self._update_state()

    def revert(self) -> None:
        if self._saved is not None:
            self.editor.set_policy(self._saved)
            self.seed.blockSignals(True)
            self.seed.setValue(self._saved.seed)
            self.seed.blockSignals(False)
            self._on_edited()

    @property
    def runner(self):
        """The preview's LatestOnly runner (busy while a preview is computed)."""
        return self.preview.runner

    @property
    def previews_shown(self) -> int:
        return self.preview.previews_shown

    def request_preview(self) -> None:
        self.preview.request_preview()
