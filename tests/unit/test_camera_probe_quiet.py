"""'Find' camera probes absent devices without OpenCV printing an error line for each (issue 15)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_probing_absent_cameras_prints_nothing_and_restores_the_log_level():
    code = ("import cv2; from inspector.io.camera import list_cameras; "
            "cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_INFO); "
            "print(list_cameras(max_index=5)); print(cv2.utils.logging.getLogLevel())")
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_NO_CAMERA_PROBE"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[-1] == "4"  # LOG_LEVEL_INFO again after the probe
    assert "[ERROR" not in done.stderr and "WARN" not in done.stderr, done.stderr
