"""`scope trust`: let a project's trust-gated settings apply (store/trust.py); `--list`, `--revoke`."""

from __future__ import annotations

import argparse
import os
from typing import Any


def cmd_trust(args: argparse.Namespace) -> int:
    from scope_tui.api import person_only
    from scope_tui.store import config, trust
    from scope_tui.store.project import Project

    if args.list:
        rows = trust.listed()
        if not rows:
            print("no trusted projects")
        for home, entry in sorted(rows.items()):
            keys = ", ".join(entry.get("keys") or []) or "-"
            print(f"{home}  ({keys})")
        return 0
    if args.revoke is not None:
        person_only()
        home = os.path.realpath(os.path.expanduser(args.revoke)) if args.revoke else Project.open().home_path
        if trust.revoke(home):
            print(f"no longer trusted: {home}")
            return 0
        print(f"not trusted: {home}")
        return 1
    project = Project.open()
    person_only(project)  # trusting a project is a person's decision
    raw = config.read_raw(project.config_path)
    values = trust.gated_values(raw)
    trust.trust(project.home_path, raw)
    print(f"trusted: {project.home_path}")
    for key, value in values.items():
        print(f"  {key} = {value!r}")
    if not values:
        print("  (its config sets no trust-gated key yet; a later one needs `scope trust` again)")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "trust", help="let this project's programs, commands, URLs and hosts in .scope/config.toml apply"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--list", action="store_true", help="the trusted projects")
    g.add_argument(
        "--revoke",
        nargs="?",
        const="",
        metavar="PATH",
        help="forget a project (default: this one); its gated settings are ignored again",
    )
    p.set_defaults(func=cmd_trust)
