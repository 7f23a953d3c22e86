"""`inspector WORD`: a CLI verb runs the CLI, a project folder opens the app, anything else is an error (issue 15)."""
import subprocess
import sys
from pathlib import Path

import pytest

import inspector.__main__ as entry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def gui_calls(monkeypatch):
    calls = []
    import inspector.gui.app as app

    monkeypatch.setattr(app, "run_gui", lambda args: calls.append(list(args)) or 0)
    return calls


@pytest.mark.parametrize("argv", [["run2", "--help"], ["frobnicate"]])
def test_unknown_verb_is_an_error_naming_it_and_the_known_verbs(argv, gui_calls, capsys):
    assert entry.main(argv) == 2
    err = capsys.readouterr().err
    assert f"unknown verb '{argv[0]}'" in err
    for verb in entry.known_verbs():
        assert verb in err
    assert gui_calls == []  # the app was not opened


def test_known_verbs_come_from_the_parser(monkeypatch, gui_calls, capsys):
    import inspector.cli.main as cli

    original = cli.build_parser

    def with_run():
        parser = original()
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        sub.add_parser("run2", help="a verb added later").set_defaults(handler=lambda _args: 7)
        return parser

    monkeypatch.setattr(cli, "build_parser", with_run)
    assert "run2" in entry.known_verbs() and "fit" in entry.known_verbs()
    assert entry.main(["run2"]) == 7
    assert gui_calls == []


def test_existing_folder_and_qt_options_open_the_app(tmp_path, gui_calls):
    assert entry.main([str(tmp_path)]) == 0
    assert entry.main(["-style", "fusion"]) == 0
    assert entry.main([]) == 0
    assert gui_calls == [[str(tmp_path)], ["-style", "fusion"], []]


def test_unknown_verb_exit_code_from_the_command_line():
    done = subprocess.run([sys.executable, "-m", "inspector", "frobnicate"], capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "unknown verb 'frobnicate'" in done.stderr and "fit" in done.stderr
