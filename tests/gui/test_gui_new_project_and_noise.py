"""Issue 15 findings without a page of their own: a new project in a folder that does not exist
yet, and "Find" camera printing nothing on the terminal."""
from __future__ import annotations

import sys

import pytest


def test_new_project_in_a_typed_folder_that_does_not_exist_is_created(window, qtbot, tmp_path, monkeypatch):
    """0.1.0 asked for an existing folder: a typed new one gave "Directory not found"."""
    from inspector.gui.widgets.new_project_dialog import NewProjectDialog

    location = tmp_path / "lines" / "line 3"  # neither exists
    dialog = NewProjectDialog(window, tmp_path)
    qtbot.addWidget(dialog)
    dialog.location_edit.setText(str(location))
    dialog.name_edit.setText("Bottle caps")
    assert dialog.create_button.isEnabled()
    assert dialog.folder() == location / "Bottle caps" and "a new folder" in dialog.folder_label.text()
    # A folder that holds something is refused with the reason, before anything is written.
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    dialog.location_edit.setText(str(tmp_path))
    dialog.name_edit.setText("busy")
    assert not dialog.create_button.isEnabled() and "not empty" in dialog.folder_label.text()
    dialog.name_edit.setText("a/b")
    assert not dialog.create_button.isEnabled()

    def fill_and_accept(self):
        self.location_edit.setText(str(location))
        self.name_edit.setText("Bottle caps")
        assert self.create_button.isEnabled()
        return NewProjectDialog.DialogCode.Accepted

    monkeypatch.setattr(NewProjectDialog, "exec", fill_and_accept)
    window.new_project_dialog()  # File > New project...
    project = window.session.project
    assert project is not None and project.root == location / "Bottle caps" and project.name == "Bottle caps"
    assert (location / "Bottle caps").is_dir()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenCV's V4L2 probe messages are Linux's")
def test_find_camera_prints_nothing_on_the_terminal(window, qtbot, capfd, monkeypatch):
    """0.1.0: each "Find" printed OpenCV's probe errors (five absent indexes) on the terminal."""
    from inspector.io.camera import default_capture_factory

    capfd.readouterr()
    capture = default_capture_factory(9)  # unsilenced: does this OpenCV build speak about absent cameras?
    opened = capture.isOpened()
    capture.release()
    if opened or not capfd.readouterr().err.strip():
        pytest.skip("this machine has a camera 9, or its OpenCV says nothing about absent ones")
    monkeypatch.delenv("INSPECTOR_NO_CAMERA_PROBE", raising=False)
    panel = window.acquire_page.camera_panel
    panel.refresh_button.click()
    qtbot.waitUntil(lambda: panel.refresh_button.isEnabled(), timeout=60_000)
    assert "camera" in panel.status.text().lower()
    assert capfd.readouterr().err.strip() == ""
