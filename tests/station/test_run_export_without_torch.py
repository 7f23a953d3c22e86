"""`inspector run --model EXPORT` judges parts headless in a process where `import torch` fails (issue 13).

This is what the station bundle (torch-free) does on a line: a hot folder in, the SQLite log out,
SIGTERM to stop. Verdicts and scores must be the torch path's (`load_export`), to 1e-4 relative.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspector.cli.main import main
from inspector.export_onnx import export_model, load_export
from inspector.io.images import load_image
from inspector.store.log import InspectionLog
from inspector.store.project import Project

REPO = Path(__file__).resolve().parents[2]
BLOCK_TORCH = ("import sys\n"
               "for name in ('torch', 'timm', 'torchvision'):\n"
               "    sys.modules[name] = None  # any import of them now raises ImportError\n"
               "from inspector.cli.main import main\n"
               "rc = main(sys.argv[1:])\n"
               "assert all(sys.modules.get(m) is None for m in ('torch', 'timm', 'torchvision'))\n"
               "sys.exit(rc)\n")


def _wait(predicate, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _logged(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with InspectionLog(database) as log:
            return log.count()
    except Exception:  # noqa: BLE001 - the station may be creating it right now
        return 0


def test_run_with_an_export_judges_parts_without_torch(synthetic_category, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_ONNX_CACHE", str(tmp_path / "onnx-cache"))
    project = Project.create(tmp_path / "proj", "line 1")
    project.add_class("widget")
    project.save()
    project.close()
    assert main(["fit", str(synthetic_category), "--out", str(tmp_path / "model"), "--detector", "padim",
                 "--image-size", "64", "--quiet"]) == 0
    export = export_model(tmp_path / "model", tmp_path / "export")
    parts = sorted((synthetic_category / "test").rglob("*.png"))
    expected = {f"{p.parent.name}-{p.stem}": prediction
                for p, prediction in zip(parts, load_export(export).predict([load_image(p) for p in parts]))}
    assert {"PASS", "FAIL"} <= {p.verdict for p in expected.values()}  # the comparison means something

    hot = tmp_path / "hot"
    hot.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "INSPECTOR_ONNX_CACHE": str(tmp_path / "no-cache")}
    proc = subprocess.Popen([sys.executable, "-c", BLOCK_TORCH, "run", str(tmp_path / "proj"), "--class", "widget",
                             "--source", f"hotfolder:{hot}", "--model", str(export), "--operator", "ann"],
                            env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        for part in parts:
            staged = tmp_path / f"{part.parent.name}-{part.name}.tmp"
            shutil.copy(part, staged)
            staged.rename(hot / f"{part.parent.name}-{part.name}")  # atomic, as a camera writer should
        database = tmp_path / "proj" / "inspections.sqlite"
        assert _wait(lambda: _logged(database) >= len(parts)), f"{_logged(database)} of {len(parts)} logged"
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 0, err
    with InspectionLog(database) as log:
        rows = {Path(row["image_path"]).stem: row for row in log.query()}
    assert set(rows) == set(expected)
    for part_id, prediction in expected.items():
        assert rows[part_id]["verdict"] == prediction.verdict, part_id
        assert np.isclose(rows[part_id]["score"], prediction.score, rtol=1e-4, atol=0), part_id
