"""Every page usable at 1024 x 700 (pages scroll instead of clipping) and notices never resize the window (issue 15)."""
from PySide6.QtWidgets import QScrollArea


def test_every_page_fits_or_scrolls_at_1024x700(project_window, qtbot):
    window = project_window
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 700, timeout=5_000)
    for index, page in enumerate(window.pages):
        window.tabs.setCurrentIndex(index)
        qtbot.wait(20)
        assert window.tabs.currentWidget() is page
        area = page.parentWidget().parentWidget()
        assert isinstance(area, QScrollArea), page.title
        hint = page.minimumSizeHint()
        # Never squeezed below what its controls need: whatever does not fit is reachable by scrolling.
        assert page.width() >= hint.width() and page.height() >= hint.height(), page.title
    assert window.size().width() == 1024 and window.size().height() == 700


def test_window_size_unchanged_after_a_notice(project_window, qtbot):
    window = project_window
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=5_000)
    before = window.size()
    long_text = "The model could not be loaded because a very long explanation follows here " * 6
    window.messages.warning(long_text)
    window.messages.error(long_text)
    window.status_task.setText(long_text)
    window.inspect_page.progress_label.setText(long_text)
    window.fit_page.summary.setText(long_text)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        qtbot.wait(20)
    assert window.size() == before
