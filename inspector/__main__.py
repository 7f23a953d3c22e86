"""Entry point: `inspector` / `python -m inspector`.

No arguments (or only Qt/GUI options, or an existing project folder) opens the desktop application;
`--self-test` runs the packaged smoke test; a verb of the CLI's parser runs the CLI; any other word is
an unknown verb: an error naming it and the known verbs, exit 2 (never a silently opened app).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

CLI_OPTIONS = {"-h", "--help", "--version"}


def known_verbs() -> list[str]:
    """The verbs the CLI's parser defines (read from it, so a newly added verb is known at once)."""
    import argparse

    from inspector.cli.main import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def unknown_verb(word: str, verbs: Sequence[str]) -> int:
    print(f"inspector: error: unknown verb '{word}' (known verbs: {', '.join(verbs)}). "
          "Run `inspector --help`, or give an existing project folder to open it in the app.", file=sys.stderr)
    return 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        from inspector.selftest import main as selftest_main

        return selftest_main([arg for arg in args if arg != "--self-test"])
    if args and (args[0] in CLI_OPTIONS or not args[0].startswith("-")):
        if args[0] in CLI_OPTIONS or args[0] in (verbs := known_verbs()):
            from inspector.cli.main import main as cli_main

            return cli_main(args)
        if not Path(args[0]).is_dir():
            return unknown_verb(args[0], verbs)
    from inspector.gui.app import run_gui

    return run_gui(args)


def launch() -> int:
    """Console-script entry: tune the process (see inspector.launcher), then run `main`."""
    from inspector.launcher import reexec_with_malloc_tuning

    reexec_with_malloc_tuning(sys.argv[1:])
    return main()


if __name__ == "__main__":
    sys.exit(launch())
