"""The faces of the control room: `scope` with no command, `scope demo`, and `scope serve`."""

from __future__ import annotations

import argparse
from typing import Any


def open_room(args: argparse.Namespace | None = None) -> int:
    """Open the control room for the project here; exit 2 when there is none."""
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp

    project = Project.open()
    ScopeApp(project, serve=bool(getattr(args, "serve_mode", False))).run()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import os
    import tempfile
    from pathlib import Path

    from scope_tui.store.project import Project
    from scope_tui.tui.demo import finish, seed

    folder = (
        Path(args.dir).expanduser().resolve() if args.dir else Path(tempfile.mkdtemp(prefix="scope-demo-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    root = folder / ".scope"
    # The demo's own store, never one found by walking up: everything below sees this SCOPE_DIR.
    os.environ["SCOPE_DIR"] = str(root)
    project = Project.create(root)
    os.chdir(folder)
    ids = seed(project)
    print(f"scope demo: project at {folder} (sessions {', '.join(ids)})")
    if args.headless:
        return 0
    from scope_tui.tui.app import ScopeApp

    ScopeApp(project).run()
    print(finish(project))  # asks whether to stop the demo's own tmux server
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from scope_tui.cli.serve import cmd_serve as serve

    return serve(args)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="a demo project in a temp folder, with the control room on it")
    p.add_argument("--dir", metavar="DIR", help="put the demo project in DIR instead of a new temp folder")
    p.add_argument("--headless", action="store_true", help="seed the demo and exit, without the app")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("serve", help="the control room in a browser (textual-serve), behind a token URL")
    from scope_tui.cli.serve import register_args

    register_args(p)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("room", help="open the control room (the same as `scope` with no command)")
    p.add_argument("--serve-mode", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=open_room)
