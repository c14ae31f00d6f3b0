"""One failure in the dashboard: its description, and Reproduce and Debug buttons.

A button runs the failure again in the kernel. The exception it raises is stored
where ``%debug`` and ``pdb.pm()`` find it, and shown under the buttons; Debug also
opens the post-mortem debugger on it where the frontend can take input.
"""

from __future__ import annotations

import ipywidgets as widgets

from hypofuzz_nb.errors import HypofuzzNbError
from hypofuzz_nb.postmortem import post_mortem, remember_last_exception, show_exception
from hypofuzz_nb.reproduce import Failure

__all__ = ["failure_widget"]


def failure_widget(failure: Failure) -> widgets.Widget:
    """A box with ``failure``'s description, its two buttons and their output."""
    output = widgets.Output()
    reproduce = widgets.Button(description="Reproduce", icon="play", tooltip=failure.nodeid)
    debug = widgets.Button(description="Debug", icon="bug", tooltip=failure.nodeid)
    reproduce.on_click(lambda _button: _reproduce(failure, output, debug=False))
    debug.on_click(lambda _button: _reproduce(failure, output, debug=True))
    body = widgets.HTML(failure._repr_html_())
    box = widgets.VBox([body, widgets.HBox([reproduce, debug]), output])
    box.add_class("hypofuzz-nb-failure")
    return box


def _reproduce(failure: Failure, output: widgets.Output, *, debug: bool) -> None:
    """Run a failure from a button; the exception lands where ``%debug`` finds it."""
    output.clear_output()
    with output:
        try:
            failure.reproduce()
        except HypofuzzNbError as exc:
            print(exc)
            return
        except Exception as exc:
            remember_last_exception(exc)
            if debug:
                try:
                    post_mortem(exc.__traceback__)
                    return
                except Exception:
                    # No stdin in a widget callback (e.g. a frontend without
                    # input support): fall through to %debug instructions.
                    pass
            show_exception(exc)
            print("Reproduced. Run %debug in a new cell to inspect the failing frame.")
