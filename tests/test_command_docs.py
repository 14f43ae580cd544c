"""Every command's module docstring is its `--help` text: its examples must print as written."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import emovox.commands


def _command_modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(emovox.commands.__path__) if not m.name.startswith("_")
    )


@pytest.mark.parametrize("name", _command_modules())
def test_a_continued_example_keeps_its_backslash_and_line_break(name):
    # In a docstring that is not raw, a backslash at the end of a line escapes the line break: `--help` would
    # print the example as one line with the next line's indentation in the middle. Write `\\` there.
    doc = importlib.import_module(f"emovox.commands.{name}").__doc__ or ""
    joined = [line for line in doc.splitlines() if re.search(r"\S {5,}--", line)]
    assert not joined, f"emovox.commands.{name}: an example lost its line break: {joined}"
