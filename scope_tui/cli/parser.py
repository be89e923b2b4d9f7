"""The `scope` parser (argparse), built for one command or for all of them (`scope --help`)."""

from __future__ import annotations

import argparse
import importlib
import os

from scope_tui.cli import COMMANDS, GROUPS

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from typing import Any, NoReturn


_columns: int | None = None


def _help_width() -> int:
    """The width help is wrapped to, as argparse would take it, asked of the terminal once."""
    global _columns
    if _columns is None:
        try:
            _columns = int(os.environ.get("COLUMNS") or os.get_terminal_size(1).columns)
        except (ValueError, OSError):
            _columns = 80
    return max(_columns - 2, 20)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"scope: {message} (try '{self.prog} --help')\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument, and each asks the terminal its width (and
        # imports shutil to ask): a cost every command paid at start-up before printing anything
        return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]


class _Unbuilt:
    """Stands in for the parser of a command this run does not need: takes every call, builds nothing."""

    def __getattr__(self, name: str) -> Any:
        return self._take

    def _take(self, *args: object, **kwargs: object) -> _Unbuilt:
        return self


class _Only:
    """The subcommands, with only `name`'s parser really built: argparse spends about a millisecond
    on each, and `scope spawn` runs by the hundred."""

    def __init__(self, sub: Any, name: str) -> None:
        self.sub, self.name = sub, name

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        return self.sub.add_parser(name, **kwargs) if name == self.name else _Unbuilt()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `scope` parser; with `only`, just that command's parser (`scope --help` builds them all)."""
    p = _Parser(
        prog="scope",
        description="A terminal control room for LLM agents. With no command, opens the control room.",
    )
    p.add_argument("--version", action="version", version=f"scope {__import__('scope_tui').__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    if only in COMMANDS:
        importlib.import_module(f"scope_tui.cli.{COMMANDS[only]}").register(_Only(sub, only))
    else:
        for g in GROUPS:
            importlib.import_module(f"scope_tui.cli.{g}").register(sub)
    return p
