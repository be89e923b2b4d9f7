"""The `scope` command. Each command group lives in a module of its own and registers its subcommands.

Imports stay lazy: `scope spawn` and `scope poll` must start in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from scope_tui.store.errors import ScopeError

# Modules under scope_tui.cli with `register(subparsers)`; order is the order of `scope --help`.
GROUPS = ["core", "room", "run", "hook", "diff", "patches", "agent", "skills"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"scope: {message} (try '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="scope",
        description="A terminal control room for LLM agents. With no command, opens the control room.",
    )
    p.add_argument("--version", action="version", version=f"scope {__import__('scope_tui').__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for g in GROUPS:
        importlib.import_module(f"scope_tui.cli.{g}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    try:
        if func is None:
            from scope_tui.cli.room import open_room

            return int(open_room(args) or 0)
        return int(func(args) or 0)
    except ScopeError as exc:
        print(f"scope: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
