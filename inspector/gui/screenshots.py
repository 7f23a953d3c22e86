"""Drive the application through its whole workflow and save a screenshot of each main view.

    xvfb-run -a python -m inspector.gui.screenshots docs/screenshots --data ../shared/data/mvtec_ad/bottle

Without --data the bundled demo part is used. The project is created in a temporary folder;
settings and the recent-projects list go to a temporary folder too, so a user's are untouched.
Used to document the GUI and to look at it after changes (it is not a test).
"""
from __future__ import annotations
from inspector.detectors.registry import DEFAULT_DETECTOR

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable


def _wait(app, condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)
    for _ in range(5):
        app.processEvents()


def run_genicam(out: Path, width: int, height: int, parts: int = 12) -> Path:
    """The Run page streaming from the genicam wheel's virtual camera (viky.cti) -> out/7-run-genicam.png.

    A PaDiM model is fitted on 60 frames (3 s) of the same virtual camera first, so the verdicts and
    heatmaps are those of a real model on the frames being streamed.
        xvfb-run -a python -m inspector.gui.screenshots docs/screenshots/1440x900 --only run-genicam
    """
    scratch = Path(tempfile.mkdtemp(prefix="inspector-genicam-shot-"))
    os.environ["INSPECTOR_CONFIG_DIR"] = str(scratch / "config")
    os.environ.setdefault("INSPECTOR_NO_CAMERA_PROBE", "1")
    from inspector.gui.app import ensure_application

    app = ensure_application([])
    import subprocess

    from inspector.gui.main_window import MainWindow
    from inspector.gui.widgets.run_setup import GENICAM
    from inspector.pipeline import InspectionModel
    from inspector.station.frame_sources import GenicamSource, bundled_producer
    from inspector.store.log import InspectionLog

    cti = bundled_producer()
    if cti is None:
        raise SystemExit("the genicam wheel (viky.cti) is not installed")
    train = scratch / "viky" / "train" / "good"
    camera = GenicamSource(str(cti), train, fetch_timeout_s=5)
    frames = []
    while len(frames) < 60:  # 3 s of the moving target, so the model has seen where it goes
        frames.extend(camera.poll())
    camera.close()
    shutil.rmtree(train / "done", ignore_errors=True)
    shutil.rmtree(train / "error", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "inspector", "fit", str(train.parents[1]), "--out", str(scratch / "model"),
                    "--detector", "padim", "--quiet"], check=True)  # the CLI's fit, in its own process (gui !-> cli)
    model = InspectionModel.load(scratch / "model")
    window = MainWindow()
    window.resize(width, height)
    window.show()
    _wait(app, lambda: not window.ctx.tasks.busy, 60, "start-up")
    window.create_project(scratch / "project", "Line 3 station")
    window.session.add_class("viky")
    run = window.run_page
    window.tabs.setCurrentWidget(run)
    log = InspectionLog(scratch / "log.sqlite")
    run.configure(model, "viky", log, scratch / "station")
    run.setup_panel.set_source_kind(GENICAM)
    run.setup_panel.opcua_on.setChecked(True)
    run.setup_panel.opcua_host.setText("127.0.0.1")
    run.setup_panel.opcua_port.setValue(48400 + os.getpid() % 1000)
    run.start(operator="Screenshot operator")
    _wait(app, lambda: run.results_shown >= parts, 300, "the streamed parts")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "7-run-genicam.png"
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    window.grab().save(str(path))
    print("saved", path, flush=True)
    run.stop()
    _wait(app, lambda: run.task is None, 60, "the run to stop")
    log.close()
    window.close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=None, help="MVTec-style category (default: bundled demo)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--only", choices=["run-genicam"], default=None, help="just this view")
    args = parser.parse_args(argv)
    if args.only == "run-genicam":
        run_genicam(args.out, args.width, args.height)
        return 0

    scratch = Path(tempfile.mkdtemp(prefix="inspector-shots-"))
    os.environ["INSPECTOR_CONFIG_DIR"] = str(scratch / "config")
    os.environ.setdefault("INSPECTOR_NO_CAMERA_PROBE", "1")
    from inspector.gui.app import ensure_application

    app = ensure_application([])
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch / "qsettings"))
    from inspector.gui.main_window import MainWindow
    from inspector.resources import demo_dir

    data = args.data or demo_dir()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow()
    window.resize(args.width, args.height)
    window.show()
    _wait(app, lambda: not window.ctx.tasks.busy, 60, "start-up")

    def shot(name: str) -> None:
        for _ in range(10):
            app.processEvents()
            time.sleep(0.02)
        path = out / f"{name}.png"
        window.grab().save(str(path))
        print("saved", path, flush=True)

    shot("0-welcome")
    window.create_project(scratch / "project", "Line 3 inspection")
    window.session.add_class(data.name)
    window.tabs.setCurrentWidget(window.acquire_page)
    window.acquire_page.import_dataset(data)
    _wait(app, lambda: not window.acquire_page.importing, 600, "the import")
    window.acquire_page.filter.setCurrentIndex(window.acquire_page.filter.findData("all"))
    _wait(app, lambda: window.ctx.thumbnails.wait(10) and True, 120, "thumbnails")
    gallery = window.acquire_page.gallery
    keys = gallery.visible_keys()
    gallery.select_keys(keys[:1])
    shot("1-acquire")

    page = window.policy_page
    window.tabs.setCurrentWidget(page)
    preset = f"builtin:{data.name}" if page.preset.findData(f"builtin:{data.name}") >= 0 else "builtin:object"
    page.preset.setCurrentIndex(page.preset.findData(preset))
    page._on_preset(0)
    page.editor.border.setCurrentIndex(page.editor.border.findData("constant"))  # white, as the background
    page.editor.border_value.set_value(255)
    page.factor.setValue(4)
    _wait(app, lambda: page.previews_shown > 0 and not page.preview.runner.busy, 60, "the preview")
    page.save_preset_as(f"{data.name} white fill")
    page.save()
    _wait(app, lambda: not page.preview.runner.busy, 60, "the preview")
    shot("2-augment")
    page.preview.open_copy(4)
    page.preview.zoom.setCurrentIndex(page.preview.zoom.findData(2.0))
    _wait(app, lambda: page.preview.zoomed_shown > 0 and not page.preview.zoom_runner.busy, 60, "the zoomed copy")
    shot("2-augment-zoom")
    page.preview.close_copy()

    fit = window.fit_page
    window.tabs.setCurrentWidget(fit)
    fit.detector.setCurrentIndex(fit.detector.findData(args.detector))
    fit.image_size.setValue(args.image_size)
    fit.aug_factor.setValue(0)
    fit.refine_ratio.setValue(5.0)
    started = time.monotonic()
    fit.start_fit()
    _wait(app, lambda: fit.progress.chip_state("extract") in ("active", "done") and fit.progress.bar.value() > 0,
          300, "the fit to show progress")
    shot("3-fit-running")
    _wait(app, lambda: fit.task is None, 3600, "the fit")
    print(f"fit took {time.monotonic() - started:.0f} s", flush=True)
    shot("3-fit-done")

    window.tabs.setCurrentWidget(page)
    page.tabs.setCurrentWidget(page.check_panel)
    page.check_panel.start()
    _wait(app, lambda: page.check_panel.task is None, 1800, "the policy check")
    shot("2-augment-policy-check")
    page.tabs.setCurrentWidget(page.preview)

    review = window.review_page
    window.tabs.setCurrentWidget(review)
    _wait(app, lambda: window.ctx.thumbnails.wait(10) and True, 60, "thumbnails")
    review.table.setFocus()
    review.table.selectRow(0)  # the most suspicious image, with its reasons
    _wait(app, lambda: review.shown is not None and not review.loader.busy, 300, "the review reasons")
    shot("4-review")

    inspect = window.inspect_page
    window.tabs.setCurrentWidget(inspect)
    inspect.inspect_test_images()
    _wait(app, lambda: inspect.task is None, 1800, "the batch inspection")
    defects = [i for i, r in enumerate(inspect.results) if r.label == "defect"]
    inspect.show_index(defects[len(defects) // 2] if defects else 0)
    _wait(app, lambda: not inspect.display_loader.busy, 30, "the image")
    shot("5-inspect-defect")
    goods = [i for i, r in enumerate(inspect.results) if r.label == "good"]
    if goods:
        inspect.show_index(goods[0])
        _wait(app, lambda: not inspect.display_loader.busy, 30, "the image")
    threshold = inspect.threshold
    inspect.set_thresholds(threshold.fail, threshold.fail * 0.85)
    shot("5-inspect-good-review-band")
    inspect.results_table.tabs.setCurrentWidget(inspect.breakdown)  # recall per defect type, mask coverage
    shot("5-inspect-per-defect-type")
    inspect.results_table.tabs.setCurrentWidget(inspect.table)

    run = window.run_page
    window.tabs.setCurrentWidget(run)
    hot_folder = scratch / "hot-folder"
    hot_folder.mkdir()
    run.folder_edit.setText(str(hot_folder))
    run.start(operator="Screenshot operator")
    _wait(app, lambda: run.state == "WAITING FOR PART", 60, "the run to start")
    parts = sorted(p for p in (data / "test").rglob("*.png"))[:8]
    for part in parts:
        shutil.copy(part, hot_folder / f"{part.parent.name}-{part.name}")
    _wait(app, lambda: run.counters.counts["parts"] >= len(parts), 600, "the run's parts")
    shot("7-run")
    run.stop()
    _wait(app, lambda: run.task is None, 60, "the run to stop")

    window.tabs.setCurrentWidget(window.log_page)
    shot("6-log")
    from inspector.gui.pages.log import ROW_ROLE

    log_model = window.log_page.model  # a log row opened: its image and heatmap (one whose file is still there)
    rows = [r for r in range(log_model.rowCount()) if Path(log_model.item(r, 0).data(ROW_ROLE).get("image_path") or
                                                            "/nonexistent").is_file()]
    viewer = window.log_page.open_row(rows[0]) if rows else None
    if viewer is not None:
        viewer.resize(min(720, args.width - 80), min(620, args.height - 80))
        _wait(app, lambda: viewer.loaded, 120, "the log row's heatmap")
        for _ in range(10):
            app.processEvents()
            time.sleep(0.02)
        viewer.grab().save(str(out / "6-log-row.png"))
        print("saved", out / "6-log-row.png", flush=True)
        viewer.close()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
