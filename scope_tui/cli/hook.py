"""`scope hook <event>`: what Claude Code's hooks run (see workers/claude_settings.py). Exits 0, except
2 when the caller does not hold the session's secret (nothing is recorded then)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from scope_tui.cli.options import Option

TYPE_CHECKING = False  # typing and argparse are not imported at run time: Claude Code runs this a lot
if TYPE_CHECKING:
    import argparse
    from typing import Any


def _session_dir(args: argparse.Namespace) -> Path | None:
    if args.session_dir:
        return Path(args.session_dir)
    root, sid = os.environ.get("SCOPE_DIR"), os.environ.get("SCOPE_SESSION_ID")
    if not root or not sid:
        return None
    return Path(root) / "sessions" / sid


def cmd_hook(args: argparse.Namespace) -> int:
    d = _session_dir(args)
    raw = sys.stdin.read()
    if d is None or not d.is_dir():
        # not a Scope session (or it was removed): nothing to record, and never a reason to stop claude
        print(
            "scope hook: no session (set SCOPE_DIR and SCOPE_SESSION_ID, or --session-dir)", file=sys.stderr
        )
        return 0
    from scope_tui import api
    from scope_tui.api import check_secret
    from scope_tui.store.errors import UsageError

    try:  # a hook acts only on the session whose secret it presents (never on another running session)
        check_secret(str(d))
    except UsageError as exc:
        print(f"scope hook: {exc}", file=sys.stderr)
        return 2
    out = api.hook(args.event, raw, d)
    if out is not None:
        sys.stdout.write(json.dumps(out) + "\n")
    return 0


HOOK_OPTIONS = (
    Option(
        "--session-dir", metavar="DIR", help="the session folder (default: from SCOPE_DIR/SCOPE_SESSION_ID)"
    ),
)


def register(sub: Any) -> None:
    p = sub.add_parser("hook", help="record a Claude Code hook (run by Claude Code itself; JSON on stdin)")
    p.add_argument(
        "event",
        metavar="EVENT",
        help="SessionStart, UserPromptSubmit, PreToolUse, PostToolUse, Stop or Notification",
    )
    for o in HOOK_OPTIONS:
        o.add_to(p)
    p.set_defaults(func=cmd_hook)


# Claude Code runs `scope hook EVENT` on every tool call: its plain lines are read without argparse
PLAIN = {"hook": (HOOK_OPTIONS, "event", True, cmd_hook)}
