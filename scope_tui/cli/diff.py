"""`scope diff ID`: what a --worktree session changed, as a git diff (coloured on a terminal);
`scope merge ID`: that branch merged back into the branch the session started from."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_diff(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.store import sessions
    from scope_tui.store.errors import UsageError
    from scope_tui.store.project import Project

    s = sessions.load(Project.open(), args.id)
    if s.corrupt:
        raise UsageError(f"session {s.id} is corrupt ({s.corrupt})")
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    text = api.worktree_diff(s, color=color, stat=args.stat)
    if not text:
        print(f"session {s.id} changed nothing (branch {s.meta.get('branch')})", file=sys.stderr)
        return 0
    sys.stdout.write(text)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.store import sessions
    from scope_tui.store.errors import UsageError
    from scope_tui.store.project import Project

    s = sessions.load(Project.open(), args.id)
    if s.corrupt:
        raise UsageError(f"session {s.id} is corrupt ({s.corrupt})")
    if args.pr:
        print(api.open_pr(s, into=args.into))
        return 0
    m = api.merge(s, squash=args.squash, into=args.into)
    how = "squashed into one commit on" if m.squash else "merged into"
    print(f"{m.branch} {how} {m.target} ({m.commit[:12]}): {len(m.files)} file(s) changed")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.store.errors import UsageError
    from scope_tui.store.project import Project

    if bool(args.id) == bool(args.all):
        raise UsageError("resume needs a session id or --all")
    done = api.resume(Project.open(), args.id, rerun=args.rerun)
    if not done:
        print("no lost session to resume")
    for old, new in done:
        print(f"{old} resumed as {new}" if new[:1].isdigit() else f"{old}: {new}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("diff", help="what a --worktree session changed (its branch against where it started)")
    p.add_argument("id", metavar="ID", help="the session (spawned with --worktree)")
    p.add_argument("--stat", action="store_true", help="only the files changed and how much")
    p.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto", help="colour (default: on a terminal)"
    )
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser(
        "merge", help="merge a finished --worktree session's branch into the branch it started from"
    )
    p.add_argument("id", metavar="ID", help="the session (spawned with --worktree, finished)")
    p.add_argument("--squash", action="store_true", help="one commit on the target instead of a merge commit")
    p.add_argument(
        "--pr", action="store_true", help="push the branch and open a pull request with gh instead"
    )
    p.add_argument(
        "--into", metavar="BRANCH", help="the branch to merge into (default: the one it started from)"
    )
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("resume", help="continue a session marked lost as a new one (resumed_from)")
    p.add_argument("id", metavar="ID", nargs="?", help="the lost session")
    p.add_argument("--all", action="store_true", help="every lost session")
    p.add_argument("--rerun", action="store_true", help="restart a command session's command")
    p.set_defaults(func=cmd_resume)
