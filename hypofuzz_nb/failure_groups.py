"""Failures grouped by the bug they show: :func:`group_failures` and :class:`FailureGroup`.

Hypothesis leaves every unshrunk failing input it met under a test's secondary key,
so one bug can list many failures. A group is one test's failures with the same
exception type raised at the same place (the innermost ``File "...", line N`` of the
traceback); its shrunk failure, if any, is its head, the rest are folded under it.
Every text the HTML shows is escaped.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from hypofuzz_nb.reproduce import Failure

__all__ = ["FailureGroup", "exception_type", "failure_location", "group_failures"]

_EXCEPTION_TYPE = re.compile(r"[\w.]+")
_FRAME_LINE = re.compile(r'^\s*File "([^"]+)", line (\d+)', re.MULTILINE)
#: A failure's place in the list of its group: shrunk first, then unshrunk, then fixed.
_STATE_ORDER = {"shrunk": 0, "unshrunk": 1, "fixed": 2}


def exception_type(exception: str) -> str:
    """The exception's type name alone: the failures frame's ``exception`` can carry
    part of the message (when the message contains " at ", as Hypothesis' status does)."""
    match = _EXCEPTION_TYPE.match(exception.strip())
    return match[0] if match else ""


def failure_location(traceback: str) -> str:
    """``file:line`` of the innermost frame of ``traceback``, or ``""`` if it names none."""
    frames = _FRAME_LINE.findall(traceback or "")
    if not frames:
        return ""
    path, line = frames[-1]
    return f"{path}:{line}"


@dataclass
class FailureGroup:
    """One test's failures of one exception type at one location, head first."""

    nodeid: str
    exception: str
    location: str
    failures: list[Failure] = field(default_factory=list)

    @property
    def head(self) -> Failure:
        """The failure that stands for the group: its shrunk one when there is one."""
        return self.failures[0]

    @property
    def folded(self) -> list[Failure]:
        """The other failures of the group (unshrunk inputs of the same bug)."""
        return self.failures[1:]

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        more = f" (+{len(self.folded)} unshrunk)" if self.folded else ""
        return f"{self.head.summary}{where}{more}\n{self.head}"

    def notes_html(self) -> str:
        """What goes under the head: where it raised, and the folded failures."""
        parts = []
        if self.location:
            parts.append(
                f"<div><small>raised at {html.escape(_shown(self.location))}</small></div>"
            )
        if self.folded:
            parts.append(
                f"<details><summary>{len(self.folded)} more input(s) failing the same way</summary>"
            )
            parts.extend(f._repr_html_() for f in self.folded)
            parts.append("</details>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return (
            '<div class="hypofuzz-nb-failure-group">'
            f"{self.head._repr_html_()}{self.notes_html()}</div>"
        )


def _shown(location: str) -> str:
    """``location`` relative to the current directory when it lies under it."""
    path, _, line = location.rpartition(":")
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        if not relative.startswith(os.pardir):
            return f"{relative}:{line}"
    return location


def group_failures(failures: Iterable[Failure]) -> list[FailureGroup]:
    """``failures`` grouped by (node id, exception type, location): groups with a
    shrunk failure first, each group's failures ordered shrunk, unshrunk, fixed, with
    the smaller input first within a state."""
    groups: dict[tuple[str, str, str], FailureGroup] = {}
    for failure in failures:
        location = failure_location(failure.traceback)
        key = (failure.nodeid, exception_type(failure.exception), location)
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureGroup(*key)
        group.failures.append(failure)
    for group in groups.values():
        group.failures.sort(
            key=lambda f: (
                _STATE_ORDER.get(f.state, len(_STATE_ORDER)),
                len(f.choices or ()),
                len(f.representation),
            )
        )
    return sorted(
        groups.values(),
        key=lambda g: (_STATE_ORDER.get(g.head.state, len(_STATE_ORDER)), g.nodeid, g.exception),
    )
