"""The options of ``hypofuzz-nb fuzz``, ``%hypofuzz`` and ``%%hypofuzz``, defined once.

Each :class:`Option` says which surfaces have it (the command, the line magic, the
cell magic) and its default on each; :func:`add_options` builds an argparse parser
for one surface from those definitions, :func:`usage` its usage line, and
:func:`magic_help` the whole text that ``%hypofuzz?`` and ``%hypofuzz --help`` show.
The number checks are plain functions (:func:`positive_number`,
:func:`positive_integer`) so that ``fuzz()`` can check its own arguments with the same
rules: a number of seconds must be finite and more than 0, a count at least 1.

Guarantees: the same spelling, type, check and help on every surface that has an
option; everything after the first ``--`` goes to pytest untouched
(:func:`split_pytest_args`). This module imports neither IPython nor anything that
fuzzes, so the command line and worker processes can import it.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CELL",
    "COMMAND",
    "MAGIC",
    "MAGIC_ACTIONS",
    "OPTIONS",
    "Option",
    "add_options",
    "magic_help",
    "positive_integer",
    "positive_number",
    "split_pytest_args",
    "usage",
]

#: The surfaces: ``hypofuzz-nb fuzz``, the ``%hypofuzz`` line magic, the ``%%hypofuzz``
#: cell magic.
COMMAND = "command"
MAGIC = "magic"
CELL = "cell"

#: Where the usage lines and the magic's help are wrapped.
HELP_WIDTH = 88
#: Seconds every input may take before it counts as a timeout failure.
DEFAULT_TIMEOUT_S = 10.0
#: ``%%hypofuzz`` fuzzes for this many seconds unless told otherwise: it blocks the cell.
CELL_DEFAULT_MAX_TIME_S = 30.0

# The number checks ----------------------------------------------------------------------


def _number_problem(value: Any, *, integer: bool) -> str | None:
    """Why ``value`` is not a valid count (``integer``) or number of seconds, or None."""
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return None if value >= 1 else "must be at least 1"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number of seconds"
    if not math.isfinite(value) or value <= 0:
        return "must be a finite number of seconds, more than 0"
    return None


def positive_number(name: str, value: Any, *, error: type[Exception] = ValueError) -> float:
    """``value`` as a float if it is a finite number more than 0, else raise ``error``
    with a message that names ``name``."""
    problem = _number_problem(value, integer=False)
    if problem is not None:
        raise error(f"{name} {problem}, not {value!r}")
    return float(value)


def positive_integer(name: str, value: Any, *, error: type[Exception] = ValueError) -> int:
    """``value`` if it is an int of at least 1 (not a bool), else raise ``error`` with a
    message that names ``name``."""
    problem = _number_problem(value, integer=True)
    if problem is not None:
        raise error(f"{name} {problem}, not {value!r}")
    return int(value)


def _seconds(text: str) -> float:
    """argparse type: a number of seconds, checked as :func:`positive_number` does."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    problem = _number_problem(value, integer=False)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
    return value


def _count(text: str) -> int:
    """argparse type: a count, checked as :func:`positive_integer` does."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    problem = _number_problem(value, integer=True)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
    return value


# The definitions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One option: its spelling, value, help, and the surfaces that have it.

    ``defaults`` maps each surface that has the option to its default there.
    ``kind`` converts and checks the text of the value; ``None`` makes a flag (no
    value, default False). ``default_help`` says per surface what the default means
    where the value alone would not (``None``: "run until stopped"); otherwise the
    help shows the default value. Options with the same ``exclusive`` name cannot be
    given together. A ``negatable`` flag is spelled with and without ``--no-`` (both
    in ``flags``), and its default (``None``) means "decide for me".
    """

    flags: tuple[str, ...]
    dest: str
    help: str
    defaults: Mapping[str, Any]
    kind: Callable[[str], Any] | None = None
    metavar: str | None = None
    default_help: Mapping[str, str] = field(default_factory=dict)
    exclusive: str | None = None
    negatable: bool = False

    def help_for(self, surface: str) -> str:
        if surface in self.default_help:
            return f"{self.help} (default {self.default_help[surface]})"
        default = self.defaults[surface]
        if self.kind is None or default is None:
            return self.help
        return f"{self.help} (default {default:g})"

    def usage_for(self) -> str:
        flag = min(self.flags, key=len)
        if self.negatable:
            return flag.replace("--", "--[no-]", 1)
        return flag if self.kind is None else f"{flag} {self.metavar}"


_COMMAND_AND_MAGIC = (COMMAND, MAGIC)

OPTIONS: tuple[Option, ...] = (
    Option(
        flags=("-n", "--workers"),
        dest="workers",
        kind=_count,
        metavar="N",
        defaults=dict.fromkeys(_COMMAND_AND_MAGIC, 1),
        help="number of worker processes",
        default_help={
            COMMAND: "1: one worker in this process",
            MAGIC: "1: one worker thread in this kernel",
        },
    ),
    Option(
        flags=("--cluster",),
        dest="cluster",
        kind=str,
        metavar="ADDRESS",
        defaults=dict.fromkeys(_COMMAND_AND_MAGIC),
        help="run the -n fuzzing processes on the Dask cluster whose scheduler is at "
        "ADDRESS (tcp://HOST:8786), or on a new LocalCluster with `local` (the dask "
        "extra; the database must be one all workers share, e.g. Redis)",
    ),
    Option(
        flags=("--max-time",),
        dest="max_time",
        kind=_seconds,
        metavar="SECONDS",
        defaults={COMMAND: None, MAGIC: None, CELL: CELL_DEFAULT_MAX_TIME_S},
        help="stop after this many seconds",
        default_help={
            COMMAND: "none: run until Ctrl-C or until every test has failed",
            MAGIC: "none: run until `%hypofuzz stop` or until every test has failed",
        },
    ),
    Option(
        flags=("--max-examples",),
        dest="max_examples",
        kind=_count,
        metavar="N",
        defaults=dict.fromkeys(_COMMAND_AND_MAGIC),
        help="stop fuzzing each test after this many inputs",
    ),
    Option(
        flags=("--timeout",),
        dest="timeout",
        kind=_seconds,
        metavar="SECONDS",
        defaults={COMMAND: DEFAULT_TIMEOUT_S, MAGIC: DEFAULT_TIMEOUT_S, CELL: DEFAULT_TIMEOUT_S},
        help="per-input timeout in seconds: a slower input is a failure",
    ),
    Option(
        flags=("--seed",),
        dest="seed",
        kind=int,
        metavar="N",
        defaults={COMMAND: None},
        help="seed the choice of inputs, for repeatable runs (default: random)",
    ),
    Option(
        flags=("-x", "--exitfirst"),
        dest="exitfirst",
        defaults=dict.fromkeys(_COMMAND_AND_MAGIC, False),
        help="stop as soon as the first failure is found and saved (like pytest -x)",
    ),
    Option(
        flags=("--solver", "--no-solver"),
        dest="solver",
        defaults=dict.fromkeys(_COMMAND_AND_MAGIC),
        negatable=True,
        help="on a plateau, spend at most a fifth of a test's time running it through "
        "CrossHair's solver (the solver extra: pip install 'hypofuzz_nb[solver]')",
        default_help=dict.fromkeys(_COMMAND_AND_MAGIC, "off"),
    ),
    Option(
        flags=("--no-dashboard",),
        dest="no_dashboard",
        defaults=dict.fromkeys(_COMMAND_AND_MAGIC, False),
        help="run workers only, with no dashboard",
        default_help={COMMAND: "here: progress goes to the terminal"},
        exclusive="mode",
    ),
    Option(
        flags=("--dashboard-only",),
        dest="dashboard_only",
        defaults=dict.fromkeys(_COMMAND_AND_MAGIC, False),
        help="start no workers: show what the database holds",
        exclusive="mode",
    ),
    Option(
        flags=("--interactive",),
        dest="interactive",
        defaults={MAGIC: False},
        help="draw the progress plot with ipympl, to zoom and pan (the `interactive` extra)",
    ),
)

#: The ``%hypofuzz`` words that act on the running session instead of starting one.
MAGIC_ACTIONS: tuple[tuple[str, str], ...] = (
    ("status", "print what the running workers are doing"),
    ("stop", "stop the workers (no failure found so far is lost)"),
    ("wait", "block until the running session ends (Ctrl-C/interrupt stops it)"),
    ("failures", "list the failures in the database, with replay buttons"),
)

_PATHS_HELP = "test files or directories (default: the current directory)"
_PYTEST_ARGS = "[-- PYTEST_ARGS ...]"
#: What argparse writes before the first usage line.
_USAGE_PREFIX = "usage: "


def add_options(parser: argparse.ArgumentParser, surface: str) -> argparse.ArgumentParser:
    """Add the options ``surface`` has (and, but for the cell magic, ``PATHS``) to
    ``parser``; returns it."""
    if surface != CELL:
        parser.add_argument("paths", nargs="*", metavar="PATHS", help=_PATHS_HELP)
    groups: dict[str, Any] = {}
    for option in OPTIONS:
        if surface not in option.defaults:
            continue
        target: Any = parser
        if option.exclusive is not None:
            target = groups.get(option.exclusive)
            if target is None:
                target = groups[option.exclusive] = parser.add_mutually_exclusive_group()
        # argparse %-formats help strings: a literal % (as in `%hypofuzz`) is doubled.
        help_text = option.help_for(surface).replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": option.dest, "help": help_text}
        if option.negatable:
            kwargs.update(action=argparse.BooleanOptionalAction, default=None)
        elif option.kind is None:
            kwargs["action"] = "store_true"
        else:
            kwargs.update(
                type=option.kind, default=option.defaults[surface], metavar=option.metavar
            )
        flags = option.flags
        if option.negatable:  # argparse adds the --no- form itself
            flags = tuple(f for f in flags if not f.startswith("--no-"))
        target.add_argument(*flags, **kwargs)
    return parser


def usage(prog: str, surface: str) -> str:
    """The usage line of ``prog`` on ``surface``, wrapped to ``HELP_WIDTH``."""
    words = [] if surface == CELL else ["[PATHS ...]"]
    exclusive: dict[str, list[str]] = {}
    for option in OPTIONS:
        if surface not in option.defaults:
            continue
        if option.exclusive is None:
            words.append(f"[{option.usage_for()}]")
        else:
            group = exclusive.setdefault(option.exclusive, [])
            if not group:
                words.append(option.exclusive)  # placeholder, filled in below
            group.append(option.usage_for())
    words = [f"[{' | '.join(exclusive[w])}]" if w in exclusive else w for w in words]
    if surface != CELL:
        words.append(_PYTEST_ARGS)
    # Wrapped between the bracketed parts, never inside one; continuation lines line
    # up after argparse's "usage: " prefix and the program's name.
    lines = [prog]
    for word in words:
        if len(_USAGE_PREFIX) + len(lines[-1]) + 1 + len(word) > HELP_WIDTH:
            lines.append(" " * (len(_USAGE_PREFIX) + len(prog)))
        lines[-1] += f" {word}"
    return "\n".join(lines)


def split_pytest_args(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our words, pytest's words): everything after the first ``--`` is pytest's."""
    words = list(words)
    if "--" in words:
        split = words.index("--")
        return words[:split], words[split + 1 :]
    return words, []


def magic_help() -> str:
    """What ``%hypofuzz?`` and ``%hypofuzz --help`` show, built from the definitions."""
    indent = " " * len(_USAGE_PREFIX)
    lines = [
        usage("%hypofuzz", MAGIC),
        f"{indent}%hypofuzz {' | '.join(word for word, _ in MAGIC_ACTIONS)}",
        indent + usage("%%hypofuzz", CELL),
    ]
    width = max(len(word) for word, _ in MAGIC_ACTIONS) + 2
    actions = "\n".join(f"  {word:<{width}}{meaning}" for word, meaning in MAGIC_ACTIONS)
    parser = add_options(
        argparse.ArgumentParser(
            prog="%hypofuzz",
            usage="\n".join(lines).replace("%", "%%"),
            # Paragraphs kept as written, and a fixed width: the text is the same
            # whatever terminal the kernel was started from.
            formatter_class=functools.partial(
                argparse.RawDescriptionHelpFormatter, width=HELP_WIDTH
            ),
            description=(
                "Start fuzzing the Hypothesis tests that pytest collects from PATHS in the\n"
                "background, and show the live dashboard. Arguments after `--` go to pytest's\n"
                'collection, e.g. -- -k sort -m "not slow".\n\n'
                "The cell magic %%hypofuzz runs its cell, then fuzzes the @given tests the\n"
                "cell defines; it has only --timeout, and --max-time (default "
                f"{CELL_DEFAULT_MAX_TIME_S:g})."
            ),
            epilog=(
                f"actions on the session this kernel started:\n{actions}\n\n"
                "Every failure is saved where Hypothesis looks for it: a plain `pytest` run\n"
                "afterwards on the same database fails on its first example."
            ),
        ),
        MAGIC,
    )
    return parser.format_help()
