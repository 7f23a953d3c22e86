"""Screenshots of the Fit and Inspect pages on parts of unusual shape (issue 11, GUI done-when).

    xvfb-run -a -s "-screen 0 1440x900x24" python tools/geometry_screenshots.py docs/screenshots

Builds two small MVTec-layout classes in a temporary folder: an elongated KolektorSDD commutator
(500 x ~1,250 px; 20 good training images, good and cracked test parts with masks) and a
2,448 x 2,048 px part made by upscaling MVTec bottle images (JPEG, so the large-JPEG decode path is
used; its test parts have large breaks and small contamination spots). Each class is fitted with the
Fit page's default settings (automatic geometry, aspect kept) and its test parts inspected; each is
then fitted again, as its own class (`*_tiles`), with the Fit page's "Tiles" geometry (automatic tile
size), which keeps small defects several feature cells wide. The Fit page (showing the effective
resolution) and a defective part's heatmap (the first small-defect part, when there is one) are saved
at 1440 x 900 and 1024 x 700 as `OUT/{1440x900,1024x700}/geometry-*.png`. `--only` picks some runs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
SIZES = ((1440, 900), (1024, 700))
#: (screenshot name, Fit page geometry); the data set of each run is the name's first word.
RUNS = (("elongated", "auto"), ("elongated-tiles", "tiles"), ("large", "auto"), ("large-tiles", "tiles"))


def kolektor_subset(out: Path, n_train: int = 20) -> Path:
    """train/good, test/{good,crack} and ground_truth/crack with a few real KolektorSDD parts."""
    source = DATA / "kolektorsdd"
    root = out / "commutator"
    for sub, files in (("train/good", sorted((source / "train" / "good").iterdir())[:n_train]),
                       ("test/good", sorted((source / "test" / "good").iterdir())[:3]),
                       ("test/crack", sorted((source / "test" / "crack").iterdir())[:4])):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copy(path, root / sub / path.name)
            if sub == "test/crack":
                mask = source / "ground_truth" / "crack" / f"{path.stem}_mask.png"
                (root / "ground_truth" / "crack").mkdir(parents=True, exist_ok=True)
                shutil.copy(mask, root / "ground_truth" / "crack" / mask.name)
    return root


def large_part(out: Path, n_train: int = 20, size: tuple[int, int] = (2048, 2448)) -> Path:
    """Bottle images upscaled to `size` (height, width), saved as JPEG; masks upscaled with them."""
    import cv2

    source = DATA / "mvtec_ad" / "bottle"
    root = out / "large_part"
    height, width = size
    groups = (("train/good", sorted((source / "train" / "good").glob("*.png"))[:n_train]),
              ("test/good", sorted((source / "test" / "good").glob("*.png"))[:3]),
              ("test/broken_large", sorted((source / "test" / "broken_large").glob("*.png"))[:2]),
              ("test/contamination", sorted((source / "test" / "contamination").glob("*.png"))[:3]))
    for sub, files in groups:
        (root / sub).mkdir(parents=True, exist_ok=True)
        for path in files:
            image = cv2.resize(cv2.imread(str(path)), (width, height), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(root / sub / f"{path.stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            if sub != "train/good" and sub != "test/good":
                kind = sub.split("/")[1]
                mask = source / "ground_truth" / kind / f"{path.stem}_mask.png"
                (root / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
                big = cv2.resize(cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE), (width, height),
                                 interpolation=cv2.INTER_NEAREST)
                cv2.imwrite(str(root / "ground_truth" / kind / f"{path.stem}_mask.png"), big)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", nargs="+", choices=[name for name, _ in RUNS], default=[name for name, _ in RUNS],
                        help="the runs to make (default: all)")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="inspector-geometry-"))
    os.environ["INSPECTOR_CONFIG_DIR"] = str(scratch / "config")
    os.environ.setdefault("INSPECTOR_NO_CAMERA_PROBE", "1")
    from inspector.gui.app import ensure_application
    from inspector.gui.screenshots import _wait

    app = ensure_application([])
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch / "qsettings"))
    from inspector.gui.main_window import MainWindow

    makers = {"elongated": kolektor_subset, "large": large_part}
    data_sets = {}
    for label in args.only:  # one class per run (a tiled run gets its own copy, named *_tiles)
        data = makers[label.split("-")[0]](scratch / label)
        if label.endswith("-tiles"):
            data = data.rename(data.with_name(f"{data.name}_tiles"))
        data_sets[label] = data
    window = MainWindow()
    window.resize(*SIZES[0])
    window.show()
    _wait(app, lambda: not window.ctx.tasks.busy, 60, "start-up")

    def shots(name: str) -> None:
        for width, height in SIZES:
            window.resize(width, height)
            for _ in range(20):
                app.processEvents()
                time.sleep(0.02)
            folder = args.out / f"{width}x{height}"
            folder.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(folder / f"geometry-{name}.png"))
            print("saved", folder / f"geometry-{name}.png", flush=True)
        window.resize(*SIZES[0])

    window.create_project(scratch / "project", "Geometry")
    for label, geometry in RUNS:
        if label not in args.only:
            continue
        data = data_sets[label]
        window.session.add_class(data.name)
        window.tabs.setCurrentWidget(window.acquire_page)
        window.acquire_page.import_dataset(data)
        _wait(app, lambda: not window.acquire_page.importing, 600, "the import")
        fit = window.fit_page
        window.tabs.setCurrentWidget(fit)
        form = fit.settings_form
        form.geometry.setCurrentIndex(form.geometry.findData(geometry))
        fit._update_notes()
        print(label, fit.geometry_note.text(), flush=True)
        fit.start_fit()
        _wait(app, lambda fit=fit: fit.task is None, 1800, "the fit")
        shots(f"{label}-fit")
        inspect = window.inspect_page
        window.tabs.setCurrentWidget(inspect)
        inspect.inspect_test_images()
        _wait(app, lambda inspect=inspect: inspect.task is None, 1800, "the batch inspection")
        defects = [i for i, r in enumerate(inspect.results) if r.label == "defect"]
        small = [i for i in defects if inspect.results[i].defect_type == "contamination"]
        defects = small or defects
        inspect.show_index(defects[0] if defects else 0)
        _wait(app, lambda inspect=inspect: not inspect.display_loader.busy, 60, "the image")
        shots(f"{label}-inspect-defect")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
