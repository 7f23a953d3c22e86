"""Application start-up: Qt environment fixes, QApplication, settings location, main window."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional, Sequence

ORGANIZATION = "Inspector"
APPLICATION = "Inspector"


def _neutralise_cv2_qt_plugins() -> None:
    """opencv-python points QT_QPA_PLATFORM_PLUGIN_PATH at its own Qt plugins on import.

    Those plugins belong to a different Qt build and crash PySide6, so the variable is dropped
    when it points into cv2 (before the QApplication exists).
    """
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        value = os.environ.get(name, "")
        if value and "cv2" in Path(value).parts:
            os.environ.pop(name, None)


def configure_pyqtgraph() -> None:
    """Row-major images (NumPy order) everywhere, antialiased plots, white-on-dark defaults."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def ensure_application(argv: Optional[Sequence[str]] = None):
    """The QApplication (created once), with names used by QSettings.

    `argv` are the arguments after the program name; Qt takes its own (-style, -platform ...).
    """
    import cv2  # noqa: F401  (imported first so that its environment change can be undone)

    _neutralise_cv2_qt_plugins()
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANIZATION)
        QCoreApplication.setApplicationName(APPLICATION)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        program = sys.argv[0] if sys.argv and sys.argv[0] else "inspector"
        app = QApplication([program, *(argv or [])])
        app.setStyle("Fusion")
    configure_pyqtgraph()
    return app


#: Engine modules imported once at start-up, on a worker behind the shown main window (so the
#: event loop keeps running), before any fit can start. Imported lazily inside a fit instead, they
#: would hold the module locks (and, in C code, the GIL) for hundreds of milliseconds mid-job.
ENGINE_MODULES = ("torch", "timm", "inspector.pipeline", "inspector.augment.engine", "inspector.refine.sroc",
                  "inspector.visualize", "inspector.evaluation.metrics")
#: torch's native libraries, in dependency order (torch/lib). Python's import of an extension holds
#: the GIL through the libraries' static initialisers (about a second for libtorch_cpu, the GUI
#: thread frozen all that time); loaded first through a ctypes foreign call, which releases the
#: GIL, the import then finds them in memory.
_TORCH_NATIVE = ("libc10.so", "libtorch_cpu.so", "libtorch.so", "libtorch_python.so")


def _preload_native_libraries() -> None:
    """dlopen torch's shared libraries with the GIL released (Linux; elsewhere the import does it)."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return
    import ctypes
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return
    libc = ctypes.CDLL(None)  # CDLL calls release the GIL (PyDLL ones would not)
    libc.dlopen.restype = ctypes.c_void_p
    libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    folder = Path(spec.origin).parent / "lib"
    for name in _TORCH_NATIVE:
        path = folder / name
        if path.exists():  # RTLD_LOCAL: no symbol is made global; never closed, torch's import reuses it
            libc.dlopen(str(path).encode(), os.RTLD_NOW | os.RTLD_LOCAL)


def preload_engine(on_module=None) -> None:
    """Import the engine's heavy modules now (see ENGINE_MODULES).

    A third-party one that fails to import is left to fail, with its own message, where it is
    used; the project's own modules are never optional, so their import errors are not hidden.
    """
    import gc
    import importlib

    # The imports create about a million objects; the cyclic collector's full passes over them
    # (hundreds of ms each, holding the GIL) were the GUI thread's longest stalls. Collection
    # waits until the engine is in, and `gc.freeze` then keeps those long-lived module objects
    # out of every later pass (the engine's modules are never unloaded).
    collecting = gc.isenabled()
    gc.disable()
    try:
        if on_module is not None:
            on_module("torch (native libraries)")
        try:
            _preload_native_libraries()
        except OSError:
            pass  # the import below loads them itself (holding the GIL longer)
        for name in ENGINE_MODULES:
            if on_module is not None:
                on_module(name)
            try:
                importlib.import_module(name)
            except ImportError:
                if name.startswith("inspector."):
                    raise
        from inspector.detectors.registry import available_detectors

        available_detectors()
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def start_engine_load(on_text, on_ready, on_failed):
    """Run `preload_engine` on a worker (a `Task`); `on_text(str)` shows its state, then `on_ready()`
    or `on_failed(ErrorInfo)` is called on the GUI thread. Returns the Task."""
    from inspector.gui.workers import Task

    total = len(ENGINE_MODULES) + 1

    def load(reporter) -> None:
        count = iter(range(total))
        # One stage per module: a stage change is never throttled away (workers._Runner), so the
        # status bar names the module that is loading even when the one before took 1 ms.
        preload_engine(lambda name: reporter.report(f"engine {name}", next(count, total), total, f"loading {name}..."))

    task = Task(load, "load-engine")
    task.progress.connect(lambda progress: on_text(progress.message))
    task.result.connect(lambda _result: on_ready())
    task.error.connect(on_failed)
    return task.start()


def _quit_after_show(app, window) -> int:
    """INSPECTOR_QUIT_AFTER_SHOW (benchmarks/startup.py): report the shown window, and with
    `=engine` also how long the engine took to load and the longest event-loop gap meanwhile."""
    import time

    from PySide6.QtCore import QTimer

    shown = time.perf_counter()
    if os.environ.get("INSPECTOR_QUIT_AFTER_SHOW") != "engine":
        def report_and_quit() -> None:
            print(f"window shown; torch imported: {'torch' in sys.modules}", flush=True)
            app.quit()

        QTimer.singleShot(0, report_and_quit)
        return int(app.exec())
    beats: list[float] = []
    ticker = QTimer()
    ticker.setInterval(10)
    ticker.timeout.connect(lambda: beats.append(time.perf_counter()))

    def finished() -> None:
        ticker.stop()
        marks = [shown, *beats, time.perf_counter()]
        gaps = sorted(b - a for a, b in zip(marks, marks[1:]))
        p95 = gaps[int(0.95 * (len(gaps) - 1))]
        print(f"engine ready {'yes' if window.engine_ready else 'no'} after {marks[-1] - shown:.2f} s; "
              f"event loop ticks: {len(beats)}; longest gap {gaps[-1] * 1000:.0f} ms; "
              f"95th percentile gap {p95 * 1000:.0f} ms", flush=True)
        app.quit()

    window.engineReady.connect(finished)
    QTimer.singleShot(0, ticker.start)
    QTimer.singleShot(0, window.load_engine)
    return int(app.exec())


def _stop_backbone() -> None:
    """At exit, end the backbone owner's thread (queued work cancelled) if the engine ever started it."""
    owner_module = sys.modules.get("inspector.features.backbone_owner")
    if owner_module is not None:
        owner_module.shutdown_default_owner(10.0)


def run_gui(argv: Optional[Sequence[str]] = None) -> int:
    """Open the main window (optionally on a project folder given as first argument); returns the exit code."""
    argv = list(argv or [])
    from PySide6.QtWidgets import QApplication

    created = QApplication.instance() is None
    app = ensure_application(argv)
    # Qt removed its own options (-style fusion, -platform ...) from the new app's arguments.
    remaining = app.arguments()[1:] if created else argv
    from inspector.gui.main_window import MainWindow

    window = MainWindow(defer_engine=True)
    window.show()
    app.aboutToQuit.connect(_stop_backbone)
    project_arg = next((a for a in remaining if not a.startswith("-")), None)
    quit_after_show = os.environ.get("INSPECTOR_QUIT_AFTER_SHOW")
    if quit_after_show and quit_after_show != "engine":  # benchmarks/startup.py: time to the window
        return _quit_after_show(app, window)
    if not quit_after_show:
        window.load_engine()  # on a worker: the window stays live while torch & co. load
    if project_arg:  # opened while the engine loads (its model loads on a worker once the engine is in)
        window.open_project(Path(project_arg))
    elif not quit_after_show:
        window.reopen_last_project()
    if quit_after_show:  # "engine": the load behind the window, measured
        return _quit_after_show(app, window)
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_gui(sys.argv[1:]))
