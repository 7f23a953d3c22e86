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


def _rect_in(widget, ancestor):
    from PySide6.QtCore import QRect

    return QRect(widget.mapTo(ancestor, widget.rect().topLeft()), widget.size())


def test_inspect_and_log_controls_are_whole_at_1024x700(project_window, qtbot):
    """Issue 15's layout findings at 1024 x 700: the Inspect legend covered the FAIL / REVIEW
    controls, "Confirm verdict" was cut, the Log summary was cut, Export fell off the window."""
    from gui_helpers import fit_and_wait

    window = project_window
    fit_and_wait(window, qtbot, "padim", 64)
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 700, timeout=5_000)
    window.show_page(4)
    page = window.inspect_page
    page.inspect_test_images()
    qtbot.waitUntil(lambda: page.task is None, timeout=120_000)
    page.show_index(0)
    qtbot.wait(50)
    legend = page.histogram.legend
    assert legend.isVisible() and legend.text()
    for control in (page.fail_spin, page.review_check):
        assert control.isVisible()
        assert not _rect_in(legend, page).intersects(_rect_in(control, page)), control
    assert legend.height() >= legend.fontMetrics().height()  # one readable line, not squeezed
    confirm = page.confirm_button
    assert confirm.isVisible() and confirm.width() >= confirm.sizeHint().width()  # "Confirm verdict  (Enter)" whole
    assert confirm.height() >= confirm.minimumSizeHint().height()
    window.show_page(5)
    log = window.log_page
    log.refresh()
    qtbot.wait(50)
    counts = log.counts
    assert counts.text()
    assert counts.wordWrap() or counts.width() >= counts.sizeHint().width()
    if counts.wordWrap():
        assert counts.height() >= counts.heightForWidth(counts.width())  # every line of the summary shown
    export = log.export_button
    assert export.isVisible() and _rect_in(export, window).right() <= window.width()
