"""GUI actions that must not corrupt the record (issue 10 item 10)."""
from PySide6.QtWidgets import QApplication


def test_enter_in_threshold_box_does_not_record_a_verdict(window, monkeypatch):
    """Enter typed into the FAIL box commits the number; the page's Enter = confirm shortcut must not fire."""
    inspect = window.inspect_page
    calls = []
    for box in (inspect.fail_spin, inspect.review_spin):
        monkeypatch.setattr(QApplication, "focusWidget", staticmethod(lambda box=box: box))
        inspect._unless_typing(lambda: calls.append("verdict"))
    assert calls == []
    monkeypatch.setattr(QApplication, "focusWidget", staticmethod(lambda: inspect.table))
    inspect._unless_typing(lambda: calls.append("verdict"))
    assert calls == ["verdict"]
