"""Entry point: `inspector` / `python -m inspector`.

No arguments (or only Qt/GUI options) opens the desktop application; `--self-test` runs the
packaged smoke test; a verb (fit, inspect, evaluate, demo, log) runs the CLI.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

CLI_VERBS = {"fit", "inspect", "evaluate", "demo", "log", "-h", "--help", "--version"}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        from inspector.selftest import main as selftest_main

        return selftest_main([arg for arg in args if arg != "--self-test"])
    if args and args[0] in CLI_VERBS:
        from inspector.cli.main import main as cli_main

        return cli_main(args)
    from inspector.gui.app import run_gui

    return run_gui(args)


def launch() -> int:
    """Console-script entry: tune the process (see inspector.launcher), then run `main`."""
    from inspector.launcher import reexec_with_malloc_tuning

    reexec_with_malloc_tuning(sys.argv[1:])
    return main()


if __name__ == "__main__":
    sys.exit(launch())
