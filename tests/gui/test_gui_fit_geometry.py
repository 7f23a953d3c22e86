"""The Fit page's geometry choice (issue 11): automatic (aspect kept, effective input shown) or square,
turned into the preprocessing record the model saves, and shown back from stored settings."""
from __future__ import annotations

from inspector.detectors.registry import available_detectors
from inspector.features.preprocess import PREPROCESSING_V1, choose_geometry
from inspector.gui.widgets.fit_settings_form import FitSettingsForm


def test_geometry_choice_shows_the_effective_input_and_reaches_the_settings(qapp, qtbot):
    form = FitSettingsForm(available_detectors())
    qtbot.addWidget(form)
    assert form.geometry.currentData() == "auto"
    assert "chosen from the training images" in form.geometry_note.text()
    shapes = [(1250, 500), (1240, 500), (1260, 510)]  # elongated KolektorSDD parts
    form.set_training_shapes(shapes)
    size = int(form.image_size.value())
    expected = choose_geometry(shapes, size)
    assert expected[0] > expected[1]
    assert form.effective_geometry() == expected
    assert f"{expected[0]} x {expected[1]} px" in form.geometry_note.text()
    settings = form.settings(None)
    assert settings.preprocessing["version"] == 2 and settings.preprocessing["aspect"] == "keep"
    form.image_size.setValue(320)  # the line follows the size
    assert form.effective_geometry() == choose_geometry(shapes, 320)
    assert f"{choose_geometry(shapes, 320)[0]} x 320 px" in form.geometry_note.text()
    form.geometry.setCurrentIndex(form.geometry.findData("square"))
    assert form.effective_geometry() == (320, 320) and "320 x 320 px" in form.geometry_note.text()
    assert form.settings(None).preprocessing == PREPROCESSING_V1
    # stored settings of a square (version 1) model are shown back as square, a v2 one as auto
    form.apply_settings({"image_size": 224, "preprocessing": {"version": 2, "height": 576, "width": 224}})
    assert form.geometry.currentData() == "auto" and form.image_size.value() == 224
    form.apply_settings({"image_size": 224, "preprocessing": dict(PREPROCESSING_V1)})
    assert form.geometry.currentData() == "square"
