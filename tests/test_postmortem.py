"""The one debugger choice and the last-exception slots."""

from __future__ import annotations

import pdb
import sys

import pytest

from hypofuzz_nb import postmortem
from hypofuzz_nb.postmortem import (
    post_mortem,
    post_mortem_debugger,
    remember_last_exception,
    show_exception,
)


def _raised() -> BaseException:
    try:
        raise KeyError("planted")
    except KeyError as exc:
        return exc


@pytest.fixture
def outside_ipython(monkeypatch):
    # Another test in this process may have started an IPython shell.
    monkeypatch.setattr(postmortem, "_running_ipython", lambda: None)


def test_outside_ipython_the_debugger_is_pdb(outside_ipython):
    assert type(post_mortem_debugger()) is pdb.Pdb


def test_inside_ipython_the_debugger_is_ipythons(monkeypatch):
    from IPython.core.debugger import Pdb

    monkeypatch.setattr(postmortem, "_running_ipython", object)
    assert isinstance(post_mortem_debugger(), Pdb)


def test_post_mortem_opens_the_given_debugger_on_the_traceback():
    calls = []

    class Debugger:
        def reset(self):
            calls.append("reset")

        def interaction(self, frame, traceback):
            calls.append((frame, traceback))

    exc = _raised()
    post_mortem(exc.__traceback__, Debugger())
    assert calls == ["reset", (None, exc.__traceback__)]


def test_remember_and_show_the_last_exception(monkeypatch, capsys, outside_ipython):
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        monkeypatch.delattr(sys, name, raising=False)
    exc = _raised()
    remember_last_exception(exc)
    assert (sys.last_type, sys.last_value, sys.last_traceback) == (
        KeyError,
        exc,
        exc.__traceback__,
    )
    show_exception(exc)
    assert "KeyError: 'planted'" in capsys.readouterr().err
