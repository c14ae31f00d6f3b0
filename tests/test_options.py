"""The options of the command and the magics, defined once in hypofuzz_nb.options."""

from __future__ import annotations

import argparse
import math

import pytest

from hypofuzz_nb import options
from hypofuzz_nb.cli import build_parser
from hypofuzz_nb.errors import WorkerError


@pytest.mark.parametrize("value", [0, -1, -0.5, math.inf, -math.inf, math.nan, "3", None, True])
def test_positive_number_rejects_what_is_no_finite_positive_number(value):
    with pytest.raises(ValueError, match=r"^max_time must be"):
        options.positive_number("max_time", value)


@pytest.mark.parametrize("value", [0, -3, 1.5, "2", None, True])
def test_positive_integer_rejects_what_is_no_count(value):
    with pytest.raises(WorkerError, match=r"^workers must be"):
        options.positive_integer("workers", value, error=WorkerError)


def test_the_checks_return_the_value():
    assert options.positive_number("timeout", 2) == 2.0
    assert options.positive_integer("workers", 3) == 3


def test_split_pytest_args_splits_at_the_first_double_dash_only():
    assert options.split_pytest_args(["a", "--", "-k", "--", "x"]) == (["a"], ["-k", "--", "x"])
    assert options.split_pytest_args(["a", "-n", "2"]) == (["a", "-n", "2"], [])


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_each_surface_has_exactly_the_options_defined_for_it():
    command = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["fuzz"]
    for surface, parser in [
        (options.COMMAND, command),
        (options.MAGIC, options.add_options(argparse.ArgumentParser(), options.MAGIC)),
        (options.CELL, options.add_options(argparse.ArgumentParser(), options.CELL)),
    ]:
        wanted = {f for o in options.OPTIONS if surface in o.defaults for f in o.flags}
        assert _flags(parser) - {"-h", "--help"} == wanted, surface
        for option in options.OPTIONS:
            if surface in option.defaults:
                assert option.usage_for() in options.usage("prog", surface)


def test_the_magic_help_lists_every_magic_option_and_action():
    text = options.magic_help()
    for option in options.OPTIONS:
        if options.MAGIC in option.defaults:
            assert option.flags[-1] in text
    assert "--seed" not in text  # a command-only option
    for word, _ in options.MAGIC_ACTIONS:
        assert word in text
    assert max(len(line) for line in text.splitlines()) <= options.HELP_WIDTH
