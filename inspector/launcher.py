"""Process start-up tuning that must happen before Python allocates much: glibc malloc settings.

On Linux, glibc's default malloc returns large freed blocks to the OS and maps them again for
the next batch, and the page faults dominate torch's CPU forward pass (measured in the
benchmark: see README). These variables are read only at process start, so the launcher sets
them and re-executes itself once. INSPECTOR_NO_MALLOC_TUNING=1 disables this.
"""
from __future__ import annotations

import os
import sys

MALLOC_SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",  # keep big tensors on the heap instead of fresh mmaps
    "MALLOC_TRIM_THRESHOLD_": "17179869184",  # do not give freed memory back after every batch
    "MALLOC_TOP_PAD_": "1073741824",  # grow the heap in large steps
}
_MARK = "INSPECTOR_MALLOC_TUNED"


def malloc_tuning_wanted() -> bool:
    return (sys.platform.startswith("linux") and not os.environ.get(_MARK)
            and os.environ.get("INSPECTOR_NO_MALLOC_TUNING", "") not in ("1", "true", "yes")
            and not all(key in os.environ for key in MALLOC_SETTINGS))


def reexec_with_malloc_tuning(args: list[str]) -> None:
    """Replace this process with one that has the malloc settings (returns only if not wanted)."""
    if not malloc_tuning_wanted():
        return
    env = dict(os.environ)
    for key, value in MALLOC_SETTINGS.items():
        env.setdefault(key, value)
    env[_MARK] = "1"
    if getattr(sys, "frozen", False):
        argv = [sys.executable, *args]
    else:
        argv = [sys.executable, "-m", "inspector", *args]
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, env)
    except OSError:
        return  # could not re-exec: run untuned rather than not at all
