"""The `scope` command. Each command group lives in a module of its own and registers its subcommands.

Imports stay lazy: `scope spawn` and `scope poll` must start in a few tens of milliseconds.
"""

from __future__ import annotations

import sys

from scope_tui.store.errors import ScopeError

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from typing import Any

    from scope_tui.cli.options import Args

# Modules under scope_tui.cli with `register(subparsers)`; order is the order of `scope --help`.
GROUPS = ["core", "room", "run", "hook", "diff", "patches", "agent", "skills", "trust", "hosts", "notify"]

# Which group registers each command, so a run builds only the parser it needs (spawn, worker and the
# pane-died hook start many times a second). tests/test_cli.py checks this against the groups.
COMMANDS = {
    **dict.fromkeys(
        ["spawn", "wait", "poll", "tree", "kill", "redirect", "attach", "clean", "log", "doctor", "worker"],
        "core",
    ),
    **dict.fromkeys(["demo", "serve", "room"], "room"),
    **dict.fromkeys(["run", "escalate"], "run"),
    "hook": "hook",
    "diff": "diff",
    "merge": "diff",
    "resume": "diff",
    "patches": "patches",
    "rate": "patches",
    "agent": "agent",
    "reap": "agent",
    "skills": "skills",
    "trust": "trust",
    "watch": "hosts",
    "host": "hosts",
    "notify": "notify",
}


# Commands whose plain command lines are read without argparse (cli/options.py): their group module maps
# each to (its options, its positional's name, whether that is required, its function) in PLAIN. spawn
# runs by the hundred; hook on every tool call of every Claude Code session.
PLAIN = ("spawn", "hook")

# Commands that print what sessions, patches, skills and agents hold: their output goes through
# render.printable, so no control character from state reaches the person's terminal. Not the room (its
# screen is Textual's), attach, and the commands whose output is a program's (worker, hook, reap, diff).
PRINTS_STATE = frozenset(
    ["wait", "poll", "tree", "log", "kill", "redirect", "clean", "doctor", "run", "escalate"]
    + ["patches", "agent", "skills", "host"]
)


# Commands that take `NAME:ID` for a session on another host: they run there, through ssh.
REMOTE_IDS = frozenset(["wait", "poll", "tree", "kill", "redirect", "attach", "log", "resume"])


def _read_plain(argv: list[str]) -> Args | None:
    if not argv or argv[0] not in PLAIN:
        return None
    from scope_tui.cli import options

    group = __import__(f"scope_tui.cli.{COMMANDS[argv[0]]}", fromlist=["PLAIN"])
    opts, positional, required, func = group.PLAIN[argv[0]]
    return options.read(argv[1:], opts, positional, required=required, command=argv[0], func=func)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args: Any = _read_plain(argv)
    if args is None:
        from scope_tui.cli.parser import build_parser

        args = build_parser(argv[0] if argv else None).parse_args(argv)
    func = getattr(args, "func", None)
    if argv and argv[0] in PRINTS_STATE:
        from scope_tui.cli.render import Escaping

        sys.stdout, sys.stderr = Escaping(sys.stdout), Escaping(sys.stderr)  # type: ignore[assignment]
    try:
        if argv and argv[0] in REMOTE_IDS:
            from scope_tui.cli.hosts import forward

            remote = forward(argv, args)
            if remote is not None:
                return remote
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
    except OSError as exc:  # a folder that cannot be made, a port already taken: one line, not a traceback
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"scope: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
