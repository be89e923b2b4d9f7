"""`scope notify`: send the alerts queued in `.scope/outbox/` and exit (a status writer starts it, detached)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_notify(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.store.project import Project

    project = Project(args.root) if args.root else Project.open()
    print(api.deliver_alerts(project))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("notify", help="send the queued alerts ([notify] in config.toml) and exit")
    p.add_argument("--root", help=argparse.SUPPRESS)  # the .scope folder, from the writer that started it
    p.set_defaults(func=cmd_notify)
