"""Helpers shared by the GUI tests (imported by name: tests/gui is on sys.path)."""
from __future__ import annotations


def shutdown(window, qtbot) -> None:
    """Close a MainWindow the way a user would, after stopping what still runs."""
    from inspector.gui.workers import running_tasks

    window.ctx.tasks.cancel_all()
    for task in running_tasks():
        task.cancel()
    try:
        qtbot.waitUntil(lambda: not running_tasks(), timeout=60_000)
    except Exception as exc:
        raise AssertionError(f"jobs still running at shutdown: {[t.name for t in running_tasks()]}") from exc
    window.close()
    window.deleteLater()
    qtbot.wait(10)


def fit_and_wait(window, qtbot, detector: str = "padim", image_size: int = 64, aug_factor: int = 0,
                 refine: float = 0.0, timeout: int = 180_000):
    page = window.fit_page
    page.detector.setCurrentIndex(page.detector.findData(detector))
    page.image_size.setValue(image_size)
    page.aug_factor.setValue(aug_factor)
    page.refine_ratio.setValue(refine)
    task = page.start_fit()
    assert task is not None
    qtbot.waitUntil(lambda: page.task is None, timeout=timeout)
    return page
