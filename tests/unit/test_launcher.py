"""The launcher re-executes once with the malloc settings, and not again or when disabled."""
from __future__ import annotations

import sys

import pytest

from inspector import launcher


@pytest.fixture
def captured(monkeypatch):
    calls = []
    monkeypatch.setattr(launcher.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.setattr(launcher.sys, "platform", "linux")
    for key in [*launcher.MALLOC_SETTINGS, "INSPECTOR_MALLOC_TUNED", "INSPECTOR_NO_MALLOC_TUNING"]:
        monkeypatch.delenv(key, raising=False)
    return calls


def test_reexecs_with_settings_and_a_mark(captured):
    launcher.reexec_with_malloc_tuning(["fit", "parts"])
    (path, argv, env), = captured
    assert argv == [sys.executable, "-m", "inspector", "fit", "parts"]
    assert all(env[key] == value for key, value in launcher.MALLOC_SETTINGS.items())
    assert env["INSPECTOR_MALLOC_TUNED"] == "1"


def test_no_reexec_when_marked_disabled_or_not_linux(captured, monkeypatch):
    monkeypatch.setenv("INSPECTOR_MALLOC_TUNED", "1")
    launcher.reexec_with_malloc_tuning([])
    monkeypatch.delenv("INSPECTOR_MALLOC_TUNED")
    monkeypatch.setenv("INSPECTOR_NO_MALLOC_TUNING", "1")
    launcher.reexec_with_malloc_tuning([])
    monkeypatch.delenv("INSPECTOR_NO_MALLOC_TUNING")
    monkeypatch.setattr(launcher.sys, "platform", "win32")
    launcher.reexec_with_malloc_tuning([])
    assert captured == []
