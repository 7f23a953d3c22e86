"""Frozen entry point: the same start-up as `python -m inspector` (malloc tuning, then main)."""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless when unused; required if a library spawns workers
    from inspector.__main__ import launch

    sys.exit(launch())
