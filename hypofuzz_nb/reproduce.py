"""A failure the fuzzer found, as an object you can re-run, debug and patch.

:func:`failures` turns the ``failures`` frame of :func:`hypofuzz_nb.load` into
:class:`Failure` objects. ``Failure.reproduce()`` re-runs the failing example in
this process and raises the test's real exception, so ``%debug`` and
``pdb.pm()`` work on it; ``Failure.debug()`` opens the post-mortem debugger
directly. Every text a failure shows in HTML is escaped: generated strings are
hostile by nature (``<script>`` and worse).
"""

from __future__ import annotations

import ast
import html
import keyword
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import Phase, settings
from hypothesis.database import ExampleDatabase, ReadOnlyDatabase

from hypofuzz_nb import _compat, records
from hypofuzz_nb.errors import FailureDidNotReproduce, HypofuzzNbError, TestNotFound
from hypofuzz_nb.postmortem import post_mortem

__all__ = ["Failure", "failures", "highlight_traceback"]


def highlight_traceback(traceback: str) -> str:
    """``traceback`` as syntax-highlighted, fully escaped HTML (a ``<pre>`` block).

    Pygments escapes every character of the input it emits, so no markup from the
    traceback (which contains generated strings) survives as markup.
    """
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonTracebackLexer
    except ImportError:  # pygments comes with IPython; be safe without it anyway
        return f"<pre>{html.escape(traceback)}</pre>"
    formatter = HtmlFormatter(noclasses=True, nobackground=True, style="default")
    return highlight(traceback, PythonTracebackLexer(), formatter)


def _text(value: Any) -> str:
    """A frame cell as text: missing values (None, NaN, NA) become ``""``."""
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value) is True:
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


@dataclass
class Failure:
    """One failing example of one test, as stored in the database.

    Attributes mirror the ``failures`` frame columns. ``database`` is where the
    failure was read from; ``database_key`` the test's key in it (when known).
    """

    nodeid: str
    state: str = "shrunk"
    exception: str = ""
    message: str = ""
    representation: str = ""
    traceback: str = ""
    reproduction_decorator: str = ""
    choices: tuple[Any, ...] | None = None
    first_seen: Any = None
    arguments: dict[str, Any] = field(default_factory=dict)
    database: ExampleDatabase | None = field(default=None, repr=False, compare=False)
    database_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_row(
        cls,
        row: Mapping[str, Any],
        *,
        database: ExampleDatabase | None = None,
        database_key: bytes | None = None,
    ) -> Failure:
        """A Failure from one row of the ``failures`` frame (a dict or a pandas Series)."""
        choices = row.get("choices")
        if isinstance(choices, (bytes, bytearray)):
            choices = records.decode_choices(bytes(choices))
        elif isinstance(choices, (list, tuple)):
            choices = tuple(choices)
        else:
            choices = None
        arguments = row.get("arguments")
        return cls(
            nodeid=_text(row.get("nodeid")),
            state=_text(row.get("state")) or "shrunk",
            exception=_text(row.get("exception")),
            message=_text(row.get("message")),
            representation=_text(row.get("representation")),
            traceback=_text(row.get("traceback")),
            reproduction_decorator=_text(row.get("reproduction_decorator")),
            choices=choices,
            first_seen=row.get("first_seen"),
            arguments=dict(arguments) if isinstance(arguments, Mapping) else {},
            database=database,
            database_key=database_key,
        )

    # -- text ------------------------------------------------------------------------

    @property
    def test_name(self) -> str:
        """The test function's name (with its parametrization, if any)."""
        return self.nodeid.rsplit("::", 1)[-1]

    @property
    def reproduce_failure_line(self) -> str | None:
        """The ``@reproduce_failure(...)`` decorator line Hypothesis printed, if any."""
        line = self.reproduction_decorator.strip()
        return line or None

    def example_patch(self) -> str | None:
        """An ``@example(...)`` line that pins this failure in the test's source.

        Built from Hypothesis' representation of the failing call
        (``test_f(x=1, y='a')``), which is Python syntax for every argument with a
        literal-style repr; otherwise from the observation's ``arguments`` where
        they are plain JSON values. ``None`` when neither gives valid Python (a
        state machine's steps, objects without a usable repr).
        """
        from_representation = _example_from_representation(self.representation)
        if from_representation is not None:
            return from_representation
        return _example_from_arguments(self.arguments)

    @property
    def summary(self) -> str:
        """``ExceptionType: message``, the one line that says what went wrong."""
        if self.exception and self.message:
            return f"{self.exception}: {self.message}"
        return self.exception or self.message or "failed"

    def __str__(self) -> str:
        lines = [f"{self.nodeid} [{self.state}]: {self.summary}"]
        if self.representation:
            lines.append(self.representation)
        if self.reproduce_failure_line:
            lines.append(self.reproduce_failure_line)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Escaped HTML: header, minimal example, highlighted traceback, patch lines."""
        e = html.escape
        parts = [
            '<div class="hypofuzz-nb-failure">',
            f"<b>{e(self.nodeid)}</b> <i>[{e(self.state)}]</i><br>",
            f"<code>{e(self.summary)}</code>",
        ]
        if self.representation:
            parts.append(f"<div>Minimal example:</div><pre>{e(self.representation)}</pre>")
        if self.traceback:
            parts.append(
                f"<details><summary>Traceback</summary>{highlight_traceback(self.traceback)}"
                "</details>"
            )
        patch = self.example_patch()
        if patch:
            parts.append(f"<div>Pin it in the test:</div><pre>{e(patch)}</pre>")
        if self.reproduce_failure_line:
            parts.append(f"<pre>{e(self.reproduce_failure_line)}</pre>")
        parts.append("</div>")
        return "\n".join(parts)

    # -- running -----------------------------------------------------------------------

    def reproduce(
        self,
        *,
        namespace: Mapping[str, Any] | None = None,
        paths: list[str] | None = None,
    ) -> None:
        """Re-run the failing example here and let the test's own exception propagate.

        The test is found again by node id: notebook tests (``<name>::function``
        where the part before ``::`` is not a Python file) in ``namespace``
        (default: ``__main__``, the notebook's namespace); file tests by collecting
        ``paths`` (default: the file in the node id) through pytest. It runs with
        only the explicit and reuse phases on a private in-memory database seeded
        with exactly this failure's choices, so the user's database is not changed
        and no new examples are generated. Without stored choices it replays what
        the database holds under the test's key, read-only.

        Raises the test's exception when the failure reproduces (use ``%debug``),
        :class:`FailureDidNotReproduce` when the example passes, and
        :class:`TestNotFound` when the test cannot be found.
        """
        if self._is_file_test():
            self._reproduce_file_test(paths)
        else:
            self._reproduce_notebook_test(namespace)
        raise FailureDidNotReproduce(
            f"{self.nodeid}: the failing example ran and passed. The bug is fixed, or the "
            "test depends on something outside the example (time, files, global state); "
            "rerun it with plain pytest to check."
        )

    def debug(
        self,
        *,
        debugger: Any = None,
        namespace: Mapping[str, Any] | None = None,
        paths: list[str] | None = None,
    ) -> None:
        """Reproduce the failure and open the post-mortem debugger on its traceback.

        ``debugger`` is a ``pdb.Pdb`` (or IPython debugger) instance; by default
        IPython's debugger inside IPython, else ``pdb``. Raises what ``reproduce``
        raises when the failure does not reproduce or the test is not found.
        """
        try:
            self.reproduce(namespace=namespace, paths=paths)
        except HypofuzzNbError:
            raise
        except Exception as exc:
            post_mortem(exc.__traceback__, debugger)

    def _is_file_test(self) -> bool:
        path = self.nodeid.split("::", 1)[0]
        return "::" in self.nodeid and path.endswith(".py")

    def _replay_settings(self, test: Any) -> settings:
        parent = _compat.reproduce_test_settings(test)
        if self.choices is not None:
            replay_db: ExampleDatabase = _ReplayDatabase(records.encode_choices(self.choices))
        elif self.database is not None:
            replay_db = ReadOnlyDatabase(self.database)
        else:
            raise TestNotFound(
                f"{self.nodeid}: this failure has neither stored choices nor a database "
                "to replay from; load it with hypofuzz_nb.load(database) first."
            )
        return settings(
            parent,
            phases=[Phase.explicit, Phase.reuse],
            database=replay_db,
            deadline=None,
            report_multiple_bugs=False,
        )

    def _reproduce_notebook_test(self, namespace: Mapping[str, Any] | None) -> None:
        name = self.test_name
        if namespace is None:
            namespace = vars(sys.modules["__main__"])
        test = namespace.get(name)
        if test is None or not hasattr(test, "hypothesis"):
            raise TestNotFound(
                f"{self.nodeid}: no @given test named {name!r} in the notebook's namespace; "
                "run the cell that defines it first."
            )
        _compat.reproduce_call_with_settings(test, self._replay_settings(test), {})

    def _reproduce_file_test(self, paths: list[str] | None) -> None:
        path = self.nodeid.split("::", 1)[0]
        if paths is None:
            if not Path(path).exists():
                raise TestNotFound(
                    f"{self.nodeid}: {path} does not exist relative to {Path.cwd()}; change "
                    "to the project's root directory, or pass paths=[...] to collect from."
                )
            paths = [path]
        from hypofuzz_nb.collect import collect_tests

        # collect_tests raises its own clear errors (a test file that fails to
        # import shows the user's traceback); the collection is closed after the
        # run so that session fixtures are torn down.
        with collect_tests(paths) as collection:
            target = next((t for t in collection.targets if t.nodeid == self.nodeid), None)
            if target is None and collection.errors:
                raise TestNotFound(
                    f"{self.nodeid}: collecting {paths} failed, fix this first:\n"
                    f"{collection.errors[0]}"
                )
            if target is None:
                found = ", ".join(t.nodeid for t in collection.targets[:5]) or "none"
                raise TestNotFound(
                    f"{self.nodeid}: not among the tests collected from {paths} "
                    f"(found: {found}); was it renamed or removed?"
                )
            with target.fixtures() as kwargs:
                _compat.reproduce_call_with_settings(
                    target.test, self._replay_settings(target.test), dict(kwargs)
                )


class _ReplayDatabase(ExampleDatabase):
    """Answers every test's primary key with one stored failure; keeps nothing.

    Hypothesis' reuse phase replays the values under the test's primary key (a
    ``records.TEST_KEY_LENGTH``-byte digest) first. Answering any such key means the replay does not
    depend on recomputing that digest (which for parametrized tests includes the
    node id only while pytest's plugin runs the test); the secondary and pareto
    keys are longer and get nothing, and saves and deletes are dropped, so a
    reproduction never writes anywhere.
    """

    def __init__(self, choices_bytes: bytes) -> None:
        super().__init__()
        self._value = choices_bytes

    def fetch(self, key: bytes):  # type: ignore[override]
        if records.decode_test_key(key) is not None:
            yield self._value

    def save(self, key: bytes, value: bytes) -> None:
        pass

    def delete(self, key: bytes, value: bytes) -> None:
        pass


def _example_from_representation(representation: str) -> str | None:
    try:
        tree = ast.parse(representation.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return None
    call = tree.body
    if not isinstance(call, ast.Call) or not call.keywords or call.args:
        return None
    source = representation.strip()
    arguments = []
    for kw in call.keywords:
        if kw.arg is None:
            return None
        segment = ast.get_source_segment(source, kw.value)
        if segment is None:
            return None
        arguments.append(f"{kw.arg}={' '.join(segment.split())}")
    return f"@example({', '.join(arguments)})"


def _is_plain_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_is_plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain_json(v) for k, v in value.items())
    return False


def _example_from_arguments(arguments: Mapping[str, Any]) -> str | None:
    if not arguments:
        return None
    parts = []
    for name, value in arguments.items():
        if not (name.isidentifier() and not keyword.iskeyword(name)) or not _is_plain_json(value):
            return None
        parts.append(f"{name}={value!r}")
    return f"@example({', '.join(parts)})"


def failures(data: Any, *, database: ExampleDatabase | None = None) -> list[Failure]:
    """The failures in ``data`` (what :func:`hypofuzz_nb.load` returns) as objects.

    ``database`` is the database they were loaded from (default: ``data.database``
    when ``data`` carries one); it is only read, to replay failures without
    stored choices. Shrunk failures come first, then unshrunk, then fixed. An
    unshrunk failure whose input is its test's shrunk one (the input the fuzzer
    found was minimal already) is listed once, as shrunk.
    """
    frame = getattr(data, "failures", None)
    if frame is None:
        raise TypeError(
            f"failures() needs the result of hypofuzz_nb.load(), not {type(data).__name__}"
        )
    if database is None:
        database = getattr(data, "database", None)
    keys: dict[str, bytes] = {}
    tests = getattr(data, "tests", None)
    if tests is not None and "database_key" in getattr(tests, "columns", ()):
        for nodeid, key in zip(tests["nodeid"], tests["database_key"], strict=True):
            raw = key if isinstance(key, bytes) else records.key_from_base64(_text(key))
            if raw:
                keys[str(nodeid)] = raw
    order = {"shrunk": 0, "unshrunk": 1, "fixed": 2}
    result = [
        Failure.from_row(row, database=database, database_key=keys.get(str(row.get("nodeid"))))
        for row in frame.to_dict("records")
    ]
    shrunk = {(f.nodeid, f.choices) for f in result if f.state == "shrunk" and f.choices}
    result = [f for f in result if not (f.state == "unshrunk" and (f.nodeid, f.choices) in shrunk)]
    result.sort(key=lambda f: (order.get(f.state, 3), f.nodeid))
    return result
