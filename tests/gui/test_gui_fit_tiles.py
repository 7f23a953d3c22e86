"""The Fit page's tiling choice (issue 11): tile size and overlap shown only when tiling, the tile grid and
per-tile input shown as the effective resolution, the record the model saves, and shown back."""
from __future__ import annotations

from inspector.detectors.registry import available_detectors
from inspector.features.tiling import choose_layout
from inspector.gui.widgets.fit_settings_form import FitSettingsForm


def test_tiles_choice_shows_the_grid_and_reaches_the_settings(qapp, qtbot):
    form = FitSettingsForm(available_detectors())
    qtbot.addWidget(form)
    form.show()
    assert not form.tile_size.isVisible()  # only with the tiles geometry
    form.geometry.setCurrentIndex(form.geometry.findData("tiles"))
    assert form.tile_size.isVisible() and form.tile_overlap.isVisible()
    assert "chosen from the training images" in form.geometry_note.text()
    shapes = [(2448, 2048)] * 3
    form.set_training_shapes(shapes)
    auto = choose_layout(shapes, 224)
    assert auto.describe() in form.geometry_note.text() and form.effective_geometry() == auto.input
    form.tile_size.setValue(512)
    form.tile_overlap.setValue(30)
    chosen = choose_layout(shapes, 224, 512, 0.30)
    assert f"{chosen.grid[0]} x {chosen.grid[1]} tiles of 512 x 512 px" in form.geometry_note.text()
    record = form.settings(None).preprocessing
    assert record["version"] == 3 and record["tile_size"] == 512 and record["overlap"] == 0.30
    assert record["rows"] is None  # the layout itself is chosen by the fit, from the images
    form.apply_settings({"image_size": 224, "preprocessing": dict(chosen.record())})
    assert form.geometry.currentData() == "tiles" and form.tile_size.value() == 512
    form.apply_settings({"image_size": 224, "preprocessing": {**chosen.record(), "tile_size": None}})
    assert form.tile_size.value() == 0 and form.tile_size.text() == "Auto"
    form.geometry.setCurrentIndex(form.geometry.findData("auto"))
    assert not form.tile_size.isVisible()
