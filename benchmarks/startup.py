"""Start-up time: seconds from launching `python -m inspector` to its main window being shown.

The app is started with INSPECTOR_QUIT_AFTER_SHOW=1 (it quits on the first event-loop turn after
`show()` and prints whether torch was already imported) under the offscreen Qt platform, with an
empty settings/config folder so no project is reopened. Prints one line per run and the median.

Then (issue 15) the engine load behind the shown window: with INSPECTOR_QUIT_AFTER_SHOW=engine the
app loads torch & co. on its worker while a 10 ms QTimer ticks on the GUI thread, and prints how
long the load took and the event loop's gaps meanwhile (0.1.0 loaded on the GUI thread: one gap
as long as the load).

    PYTHONPATH=$PWD python benchmarks/startup.py [--runs 5] [--engine-runs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def one_run(config_dir: str, mode: str = "1") -> tuple[float, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", INSPECTOR_QUIT_AFTER_SHOW=mode,
               INSPECTOR_CONFIG_DIR=config_dir, INSPECTOR_NO_CAMERA_PROBE="1", XDG_CONFIG_HOME=config_dir)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "inspector"], env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"inspector exited {done.returncode}: {done.stderr.strip()[-500:]}")
    prefix = "engine ready" if mode == "engine" else "window shown"
    line = next((l for l in done.stdout.splitlines() if l.startswith(prefix)), f"no '{prefix}' line")
    return seconds, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engine-runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory(prefix="inspector-startup-") as config_dir:
        for run in range(args.runs):
            seconds, line = one_run(config_dir)
            times.append(seconds)
            print(f"run {run + 1}: {seconds:.2f} s to the shown main window ({line})")
        print(f"median: {statistics.median(times):.2f} s over {len(times)} run(s) (target <= 3 s)")
        for run in range(args.engine_runs):
            _seconds, line = one_run(config_dir, "engine")
            print(f"engine run {run + 1}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
