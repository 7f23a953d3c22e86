"""The augmentation bench (issue 15): tiles that zoom beside the original, fine controls, border
fill, seed and named presets saved with the project, the preset box after an edit, the factor."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from inspector.augment.policy import PRESETS, AugmentationPolicy


def _page(window, qtbot):
    window.show_page(1)
    page = window.policy_page
    qtbot.waitUntil(lambda: page.previews_shown > 0 and not page.preview.runner.busy, timeout=30_000)
    return page


def test_clicking_a_tile_shows_it_enlarged_beside_the_original(project_window, qtbot):
    page = _page(project_window, qtbot)
    grid = page.grid
    assert grid.shown == 12 and len(page.preview._copies) == 11  # cell 0 is the original
    cells = grid.cells()
    assert cells[0].width() >= 100
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=cells[3].center())
    preview = page.preview
    assert preview.stack.currentIndex() == 1 and preview.selected == 2
    # The enlarged copy is recomputed from a larger decode: same draw, more pixels.
    qtbot.waitUntil(lambda: preview.zoomed_shown > 0, timeout=30_000)
    view = page.compare
    original, copy = view._pixmaps
    image_id = page.source.currentData()
    from inspector.io.images import load_image

    full = load_image(project_window.session.image_path(image_id))
    assert original.size() == copy.size() and original.width() == min(full.shape[1], 1024)
    # The original itself (not a copy) and the very copy of the tile (same draw): these 64 px
    # images are below both preview sizes, so the enlarged copy equals the tile pixel for pixel.
    assert original.toImage() == grid._pixmaps[0].toImage()
    assert copy.toImage() == grid._pixmaps[3].toImage() and copy.toImage() != original.toImage()
    # The zoom control and the wheel zoom both images together.
    preview.zoom.setCurrentIndex(preview.zoom.findData(4.0))
    assert view.zoom == 4.0
    source = view.source_rect(view.panes()[0])
    assert source.width() == pytest.approx(original.width() / 4, rel=0.3)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(int(view.panes()[0].left() + 5), int(view.panes()[0].top() + 5)))
    assert view.center.x() < 0.5 and view.center.y() < 0.5
    preview.next.click()
    assert preview.selected == 3
    preview.back.click()
    assert preview.stack.currentIndex() == 0


def test_shift_has_a_wide_slider_and_typed_box_in_sync(project_window, qtbot):
    page = _page(project_window, qtbot)
    knob = page.editor.translate
    knob.check.setChecked(True)
    slider, spin = knob.sliders["x"], knob.spins["x"]
    # 0.1.0: about 30 px for 0..60 px, so 15 px of drag jumped ±5 -> ±60. Now one step is >= 2 px.
    assert slider.width() / (slider.maximum() - slider.minimum()) >= 2.0, slider.width()
    assert slider.singleStep() == 1 and slider.pageStep() == 5
    spin.setValue(12)
    assert slider.value() == 12 and page.policy().translate.x == 12
    slider.setValue(7)
    assert spin.value() == 7 and page.policy().translate.x == 7
    spin.setValue(250)  # beyond the slider: the box keeps it, the slider stays at its end
    assert page.policy().translate.x == 250 and slider.value() == slider.maximum()
    rotate = page.editor.ranges["rotate"]
    rotate.check.setChecked(True)
    rotate.low.setValue(-3.5)
    assert rotate.slider.values()[0] == -3.5 and page.policy().rotate.low == -3.5
    assert rotate.low.singleStep() == 0.5


def test_border_fill_is_chosen_saved_and_reaches_the_engine(project_window, qtbot):
    page = _page(project_window, qtbot)
    editor = page.editor
    editor.set_policy(AugmentationPolicy(translate=PRESETS["zipper"].translate))  # 30 px shifts along x
    editor.border.setCurrentIndex(editor.border.findData("constant"))
    assert editor.border_value.isEnabled()
    editor.border_value.set_value(201)
    policy = page.policy()
    assert policy.border == "constant" and policy.border_value == 201
    page.save()
    stored = AugmentationPolicy.from_json(project_window.session.part.policy)
    assert stored.border == "constant" and stored.border_value == 201
    from inspector.augment.engine import augmented_copies

    image = np.full((128, 128, 3), 90, dtype=np.uint8)
    copies = augmented_copies([image], stored, 8, seed=0)
    filled = [c for c in copies if np.all(c[:, 0] == 201) or np.all(c[:, -1] == 201)]
    assert filled and all(np.all(c[:, 40:88] == 90) for c in copies)  # shifts are at most 30 px
    # The preview shows the fill too (some tile has a column of 201 at a side).
    qtbot.waitUntil(lambda: not page.preview.runner.busy, timeout=30_000)
    qtbot.wait(50)
    assert any(np.any(np.all(c[:, :1] == 201, axis=(0, 2))) or np.any(np.all(c[:, -1:] == 201, axis=(0, 2)))
               for c in page.preview._copies)


def test_constant_border_fills_an_rgb_part_with_the_chosen_colour(project_window, qtbot, monkeypatch):
    """A colour part on a coloured background gets a border of that colour, channel by channel
    (0.1.0 had no border choice; a grey level alone cannot match a green background)."""
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QColorDialog

    from inspector.augment.engine import augmented_copies

    page = _page(project_window, qtbot)
    editor = page.editor
    editor.set_policy(AugmentationPolicy(translate=PRESETS["zipper"].translate))
    editor.border.setCurrentIndex(editor.border.findData("constant"))
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *args, **kwargs: QColor(20, 200, 40)))
    qtbot.mouseClick(editor.border_value, Qt.MouseButton.LeftButton)
    assert editor.border_value.text() == "rgb 20, 200, 40"
    assert page.policy().border_value == (20, 200, 40) and "rgb(20, 200, 40)" in editor.summary.text()
    page.save()
    stored = AugmentationPolicy.from_json(project_window.session.part.policy)
    assert stored.border_value == (20, 200, 40)
    image = np.full((96, 96, 3), (120, 60, 200), dtype=np.uint8)
    copies = augmented_copies([image], stored, 8, seed=0)
    sides = [c[:, 0] if not np.array_equal(c[:, 0], image[:, 0]) else c[:, -1] for c in copies]
    assert any(np.all(side == (20, 200, 40)) for side in sides)  # a colour, not a grey
    assert all(np.all((side == (20, 200, 40)).all(axis=-1) | (side == (120, 60, 200)).all(axis=-1)) for side in sides)
    # The bench's preview tiles show the same colour.
    qtbot.waitUntil(lambda: not page.preview.runner.busy, timeout=30_000)
    qtbot.wait(50)
    assert any(np.all(c[:, :1] == (20, 200, 40)) or np.all(c[:, -1:] == (20, 200, 40)) for c in page.preview._copies)
    # Choosing a grey in the dialog stores a grey level.
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *args, **kwargs: QColor(9, 9, 9)))
    editor.border_value.click()
    assert page.policy().border_value == 9 and editor.border_value.text() == "grey 9"


def test_seed_and_named_preset_survive_reopening_the_project(project_window, qtbot, tmp_path):
    window = project_window
    page = _page(window, qtbot)
    page.preset.setCurrentIndex(page.preset.findData("builtin:bottle"))
    page.preset.activated.emit(page.preset.currentIndex())
    page.seed.setValue(77)
    page.editor.border.setCurrentIndex(page.editor.border.findData("edge"))
    assert page.save_preset_as("rim safe")
    assert page.preset_text == "rim safe (project)"
    page.save()
    root = window.session.project.root
    assert window.open_project(root)
    page = _page(window, qtbot)
    assert page.seed.value() == 77
    assert page.policy().border == "edge" and page.policy().seed == 77
    assert page.preset.findData("project:rim safe") > 0
    assert page.preset_text == "rim safe (project)"
    # Another class can start from it: the seed comes with the preset.
    window.session.add_class("second")
    page.preset.setCurrentIndex(page.preset.findData("project:rim safe"))
    page.preset.activated.emit(page.preset.currentIndex())
    assert page.policy().seed == 77 and page.policy().border == "edge"


def test_preset_box_names_what_the_knobs_are_after_an_edit(project_window, qtbot):
    page = _page(project_window, qtbot)
    page.preset.setCurrentIndex(page.preset.findData("builtin:bottle"))
    page.preset.activated.emit(page.preset.currentIndex())
    assert page.preset_text == "bottle (MVTec)"
    page.editor.flags["flip_vertical"].setChecked(True)
    assert page.preset_text == "Custom"  # 0.1.0: "Choose a preset..."
    page.editor.flags["flip_vertical"].setChecked(False)
    assert page.preset_text == "bottle (MVTec)"
    page.seed.setValue(page.seed.value() + 3)  # another draw of the same preset
    assert page.preset_text == "bottle (MVTec)"
    page.editor.ranges["add"].high.setValue(30)
    assert page.preset_text == "Custom"
    assert page.save_preset_as("bright")
    assert page.preset_text == "bright (project)" and page.delete_preset_button.isEnabled()
    page.delete_preset()
    assert page.preset_text == "Custom" and page.preset.findData("project:bright") < 0


def test_factor_is_shown_with_the_policy_and_a_policy_unused_at_factor_0_says_so(project_window, qtbot):
    window = project_window
    page = _page(window, qtbot)
    part = window.session.part
    assert page.factor.value() == part.aug_factor == 0
    page.save()
    assert "does NOT use this policy" in page.factor_note.text()
    page.factor.setValue(6)
    assert window.session.part.aug_factor == 6
    assert window.fit_page.aug_factor.value() == 6  # one home: the Fit page shows the same factor
    assert "copies of the saved policy" in page.factor_note.text()
    window.fit_page.aug_factor.setValue(3)
    assert window.session.part.aug_factor == 3 and page.factor.value() == 3
    assert window.fit_page.settings().aug_factor == 3 and window.fit_page.settings().policy is not None


def test_every_bench_control_fits_at_1024x700(project_window, qtbot):
    """0.1.0 clipped the Augment controls at 1024 x 700; now the editor scrolls down, never sideways."""
    window = project_window
    window.resize(1024, 700)
    page = _page(window, qtbot)
    qtbot.wait(50)
    assert page.minimumSizeHint().width() <= page.width(), (page.minimumSizeHint(), page.size())
    content = page.scroll.widget()
    assert page.scroll.viewport().width() >= content.minimumSizeHint().width()
    for widget in (page.seed, page.new_seed, page.factor, page.save_button, page.editor.border,
                   page.editor.ranges["rotate"].high, page.editor.translate.spins["y"]):
        right = widget.mapTo(content, widget.rect().topRight()).x()
        assert right <= page.scroll.viewport().width(), widget
    page.preview.open_copy(0)  # the compare view's controls fit too
    qtbot.wait(50)
    assert page.minimumSizeHint().width() <= page.width(), (page.minimumSizeHint(), page.size())
    page.tabs.setCurrentWidget(page.check_panel)
    qtbot.wait(20)
    panel = page.check_panel
    for widget in (panel.run_button, panel.copies, panel.cancel_button):
        assert widget.mapTo(panel, widget.rect().topRight()).x() <= panel.width(), widget
