"""`inspector --self-test`: prove an installation works end to end, headless.

Why: after installing (or freezing) the app, one command should show that the backbone weights
load, features extract, a model fits, saves, loads and gives verdicts, using only the bundled
demo images. The frozen-bundle smoke test and the Windows CI step run exactly this.
Returns 0 when every check passed, 1 otherwise. No Qt here unless `gui=True` is asked for.
"""
from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from inspector.detectors.registry import DEFAULT_DETECTOR

VERDICTS = ("PASS", "REVIEW", "FAIL")
GUI_ENV_VAR = "INSPECTOR_SELFTEST_GUI"


@dataclass
class SelfTestReport:
    """What the self-test found: timings per step and failed checks (empty = success)."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


class _Run:
    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.report = SelfTestReport()

    def say(self, text: str) -> None:
        self.report.lines.append(text)
        if self.verbose:
            print(text, flush=True)

    def check(self, condition: bool, what: str) -> None:
        self.say(f"  [{'ok' if condition else 'FAILED'}] {what}")
        if not condition:
            self.report.failures.append(what)

    def step(self, name: str, action: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = action()
        self.report.timings[name] = time.perf_counter() - start
        self.say(f"  {name}: {self.report.timings[name]:.1f} s")
        return result


def _check_qt(run: _Run) -> None:
    """Start the GUI and render the main window once (see inspector.gui.selfcheck).

    Imported only on request, so that this module, like all core code, stays free of Qt.
    """
    from inspector.gui.selfcheck import check_gui

    check_gui(run)


def run_selftest(verbose: bool = True, detector: str = DEFAULT_DETECTOR, device: str = "auto",
                 n_train: Optional[int] = None, gui: Optional[bool] = None) -> int:
    """Fit on the bundled demo images, inspect a good and defective parts, check the results.

    `n_train` limits the training images (faster); `gui=True` also checks that the GUI starts
    (default: environment variable INSPECTOR_SELFTEST_GUI=1, so packaging scripts can ask for it
    whatever flags the entry point passes on).
    """
    if gui is None:
        gui = os.environ.get(GUI_ENV_VAR, "") in ("1", "true", "yes")
    run = _Run(verbose)
    try:
        _selftest(run, detector, device, n_train, gui)
    except Exception as exc:  # report any failure as a failed check, with the details
        run.report.failures.append(f"{type(exc).__name__}: {exc}")
        run.say("  [FAILED] " + "".join(traceback.format_exception(exc)).rstrip())
    status = "PASSED" if run.report.ok else f"FAILED ({len(run.report.failures)} problem(s))"
    total = sum(run.report.timings.values())
    run.say(f"Self-test {status} in {total:.1f} s.")
    for failure in run.report.failures:
        run.say(f"  - {failure}")
    return 0 if run.report.ok else 1


def _selftest(run: _Run, detector: str, device: str, n_train: Optional[int], gui: bool) -> None:
    from inspector.version import __version__
    from inspector.resources import demo_dir

    frozen = "frozen (PyInstaller)" if getattr(sys, "frozen", False) else "from source"
    run.say(f"Inspector {__version__} self-test, {frozen}")
    run.say(f"  Python {platform.python_version()} on {platform.platform()}")

    modules = run.step("import libraries", _import_libraries)
    run.say("  " + ", ".join(f"{name} {version}" for name, version in modules.items()))

    from inspector.io.datasets import load_category
    from inspector.pipeline import FitSettings, InspectionModel, fit_model

    root = demo_dir()
    run.say(f"  demo images: {root}")
    category = load_category(root)
    train = category.train if n_train is None else category.train[: max(2, n_train)]
    good = next(s for s in category.test if s.label == 0)
    defective = [next(s for s in category.test if s.defect == kind) for kind in category.defect_types]
    run.check(len(train) >= 2 and bool(defective), f"{len(train)} training images, defects {category.defect_types}")

    settings = FitSettings(detector=detector, device=device)
    train_images = [s.load() for s in train]
    result = run.step("fit", lambda: fit_model(train_images, settings, names=[s.path.name for s in train]))
    model = result.model
    run.say(f"  device: {model.info.get('device', '?')}, FAIL threshold {model.threshold.fail:.4g}")

    samples = [good, *defective]
    images = [s.load() for s in samples]
    predictions = run.step("inspect", lambda: model.predict(images))
    for sample, prediction in zip(samples, predictions):
        run.say(f"  {sample.defect:>8} {sample.path.name}: score {prediction.score:.4g} -> {prediction.verdict}")
    run.check(all(np.isfinite(p.score) for p in predictions), "scores are finite")
    run.check(all(p.verdict in VERDICTS for p in predictions), "every image got a verdict")
    good_score = predictions[0].score
    run.check(all(p.score > good_score for p in predictions[1:]), "every defective part scores above the good part")
    run.check(any(p.verdict != "PASS" for p in predictions[1:]), "at least one defective part is not passed")
    if model.localizes:
        maps_ok = all(p.anomaly_map is not None and p.anomaly_map.shape == img.shape[:2]
                      for p, img in zip(predictions, images))
        run.check(maps_ok, "anomaly maps come at the image size")

    with tempfile.TemporaryDirectory(prefix="inspector-selftest-") as folder:
        def roundtrip() -> float:
            model.save(Path(folder) / "model")
            return InspectionModel.load(Path(folder) / "model").predict(images[:1])[0].score

        reloaded = run.step("save + load + inspect", roundtrip)
        run.check(bool(np.isclose(reloaded, good_score, rtol=1e-4, atol=1e-6)), "a saved model scores the same after loading")

    if gui:
        run.step("start Qt", lambda: _check_qt(run))


def _import_libraries() -> dict[str, str]:
    """Import the heavy dependencies a frozen build must carry; their versions for the log."""
    import cv2
    import faiss
    import imgaug
    import timm
    import torch

    return {"torch": torch.__version__, "timm": timm.__version__, "faiss": faiss.__version__,
            "opencv": cv2.__version__, "imgaug": getattr(imgaug, "__version__", "?"),
            "numpy": np.__version__}


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m inspector.selftest [--gui] [--quiet] [--detector NAME]` (also `inspector --self-test`)."""
    import argparse

    parser = argparse.ArgumentParser(description="Inspector self-test on the bundled demo images.")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train", type=int, default=None, help="use only this many training images")
    parser.add_argument("--gui", action="store_true", default=None,
                        help="also check that the GUI starts (works with QT_QPA_PLATFORM=offscreen)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return run_selftest(not args.quiet, args.detector, args.device, args.train, args.gui)


if __name__ == "__main__":
    sys.exit(main())
