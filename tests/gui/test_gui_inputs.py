"""Ways in: drag and drop onto the Acquire page, Add folder, and batch inspection of a folder."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from gui_helpers import fit_and_wait


def test_drop_files_and_folders_imports_them(window, qtbot, tmp_path, synthetic_category):
    window.create_project(tmp_path / "drop", "Drop")
    window.session.add_class("disc")
    page = window.acquire_page
    page.import_role.setCurrentIndex(page.import_role.findData("test"))
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(synthetic_category / "train" / "good" / "000.png")),
                  QUrl.fromLocalFile(str(synthetic_category / "test" / "blob"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    page.dropEvent(event)
    qtbot.waitUntil(lambda: not page.importing, timeout=30_000)
    assert len(window.session.records("test")) == 4 and not window.session.records("train")
    # the same files again are refused as duplicates, with a message, not a crash
    page.import_paths([synthetic_category / "test" / "blob"], "train")
    qtbot.waitUntil(lambda: not page.importing, timeout=30_000)
    assert len(window.session.records()) == 4
    texts = [window.message_panel.tree.topLevelItem(i).text(2) for i in range(window.message_panel.count())]
    assert any("not imported" in t for t in texts)


def test_folder_batch_gets_labels_from_mvtec_folders(window, qtbot, tmp_path, synthetic_category):
    window.create_project(tmp_path / "batch", "Batch")
    window.session.add_class("disc")
    window.acquire_page.import_paths([synthetic_category / "train" / "good"], "train")
    qtbot.waitUntil(lambda: not window.acquire_page.importing, timeout=30_000)
    fit_and_wait(window, qtbot, "padim", 64)
    window.show_page(4)
    inspect = window.inspect_page
    inspect.inspect_folder(synthetic_category / "test")
    qtbot.waitUntil(lambda: inspect.task is None, timeout=60_000)
    assert sorted(r.label for r in inspect.results) == ["defect"] * 3 + ["good"] * 3
    assert "known labels" in inspect.summary.text()
    # step through the results with the operator's keys ("Follow newest" left the view on the last part)
    first = inspect.current
    assert first == len(inspect.results) - 1
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    qtbot.keyClick(inspect.table, Qt.Key.Key_B)
    assert inspect.current == first - 1
    qtbot.keyClick(inspect.table, Qt.Key.Key_N)
    assert inspect.current == first


def test_switching_class_during_a_fit_keeps_the_model_with_its_class(project_window, qtbot):
    window = project_window
    session = window.session
    session.add_class("other")  # selects it
    session.select_class("disc")
    page = window.fit_page
    page.detector.setCurrentIndex(page.detector.findData("mahalanobis"))
    page.image_size.setValue(64)
    page.refine_ratio.setValue(0.0)
    assert page.start_fit() is not None
    session.select_class("other")
    qtbot.waitUntil(lambda: page.task is None, timeout=120_000)
    project = session.project
    assert project.classes["disc"].active_model_id is not None
    assert project.classes["other"].active_model_id is None
    assert session.model is None  # 'other' is shown and has no model
    session.select_class("disc")
    session.wait_for_model()
    assert session.model is not None and session.model.model_id == project.classes["disc"].active_model_id
