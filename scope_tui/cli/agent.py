"""`scope agent`: persistent agents (new, list, show, edit, retire, teach, delegate), and the hidden
`scope reap` that tmux's pane-died hook runs (so a crashed agent session still updates its agent)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scope_tui.store.errors import UsageError


def _project_or_none():  # noqa: ANN202 - lazy import keeps start-up fast
    from scope_tui.store.project import Project, find

    found = find()
    return Project(found) if found else None


def cmd_new(args: argparse.Namespace) -> int:
    from scope_tui import api

    d = api.new_agent(
        args.name,
        preferences=args.prefers or "",
        strengths=args.strengths or "",
        weaknesses=args.weaknesses or "",
        style=args.style or "",
        reports_to=args.reports_to or "",
    )
    print(f"created agent {args.name} (junior) at {d}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from scope_tui import api

    rows = []
    for n in api.agent_names():
        s = api.agent_summary(n, None, pull=False)
        rows.append(s)
        for p in s["problems"]:
            print(f"scope: agent {n}: {p}", file=sys.stderr)
    if args.json:
        for s in rows:
            print(
                json.dumps(
                    {k: s[k] for k in ("name", "status", "stage", "experience", "success_rate")}
                    | {"skills": len(s["skills"]), "heuristics": len(s["heuristics"])}
                )
            )
        return 0
    if not rows:
        print(f"no agents yet in {api.agents_home()} (try 'scope agent new NAME')")
        return 0
    print(f"{'NAME':<16} {'STAGE':<13} {'TASKS':>5} {'OK':>5} {'SKILLS':>6} {'HEUR':>5}  STATUS")
    for s in rows:
        rate = f"{s['success_rate']:.0%}" if s["done"] + s["failed"] else "-"
        print(
            f"{s['name']:<16} {s['stage']:<13} {s['experience']:>5} {rate:>5} {len(s['skills']):>6} "
            f"{len(s['heuristics']):>5}  {s['status']}"
        )
    return 0


def _age(t: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d", time.localtime(float(t)))
    except (TypeError, ValueError):
        return "?"


def cmd_show(args: argparse.Namespace) -> int:
    from scope_tui import api

    s = api.agent_summary(args.name, _project_or_none())
    if args.json:
        print(json.dumps(s, indent=2, default=str))
        return 0
    ident = s["identity"]
    print(f"{s['name']}  ·  {s['stage']}  ·  {s['status']}  ·  created {ident.get('created', '?')}")
    print(
        f"  experience {s['experience']} tasks ({s['done']} done, {s['failed']} failed"
        + (f", {s['success_rate']:.0%} success)" if s["done"] + s["failed"] else ")")
    )
    print(f"  stage {s['stage']}, from its outcomes:")
    for line in s["stage_why"]:
        print(f"    {line}")
    for k in ("preferences", "strengths", "weaknesses", "working style", "reports to"):
        if ident.get(k):
            print(f"  {k}: {ident[k]}")
    print(f"\nskills ({len(s['skills'])}):")
    for sk in s["skills"]:
        rate = f", {sk['success_rate']:.0%} success" if sk["success_rate"] is not None else ""
        print(f"  {sk['name']} v{sk['version']} ({sk['status']}, {sk['uses']} uses{rate}) - {sk['origin']}")
    heur = s["heuristics"]
    print(f"\nheuristics ({len(heur)}, newest last):")
    for h in heur[-args.last :]:
        print(
            f"  - {h.get('text', '')}  [{h.get('source', '?')}{' ' + str(h['ref']) if h.get('ref') else ''}]"
        )
    print(f"\nfailures to avoid ({len(s['failures'])}):")
    for f in s["failures"][-args.last :]:
        print(f"  - {f.get('avoid') or f.get('task', '')}  [{f.get('session', '?')}, {_age(f.get('t'))}]")
    print(f"\nrelationships ({len(s['relationships'])}):")
    for other, entry in sorted(s["relationships"].items()):
        print(f"  {api.describe_relationship(other, entry)}")
        for line in api.relationship_outcomes(entry, args.last):
            print(f"    - {line}")
    for c in s["contexts"]:
        print(
            f"\nthis project: {c['tasks']} tasks, skills used: {', '.join(sorted(c['skills_used'])) or 'none'}"
        )
    if s["problems"]:
        print("\nproblems:")
        for p in s["problems"]:
            print(f"  !! {p}")
            print(f"scope: agent {s['name']}: {p}", file=sys.stderr)
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from scope_tui import api

    path = api.agent_identity_file(args.name)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        code = subprocess.call([*shlex.split(editor), str(path)])
    except OSError as exc:
        raise UsageError(f"cannot start editor {editor!r}: {exc.strerror} (set $EDITOR)") from None
    if code != 0:
        print(f"scope: editor exited {code}; {path} is as the editor left it", file=sys.stderr)
        return 1
    print(f"edited {path}")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    from scope_tui import api

    d = api.retire_agent(args.name, undo=args.undo)
    if args.undo:
        print(f"{args.name} is active again")
    else:
        print(f"retired {args.name} (kept at {d}; 'scope agent retire --undo {args.name}')")
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    from scope_tui import api

    got = api.teach(args.giver, args.to, args.skill, _project_or_none())
    print(f"{args.giver} gave {args.to} the skill {got}")
    return 0


def cmd_delegate(args: argparse.Namespace) -> int:
    from scope_tui import api

    who = api.delegate(args.name, args.task)
    print(who or f"nobody: {args.name} has no relationship that fits this task")
    return 0 if who else 1


def cmd_reap(args: argparse.Namespace) -> int:
    from scope_tui import api

    root = Path(args.root)
    try:
        api.reap(root, args.sid, args.exit_status, args.signal, args.pane)
    except Exception as exc:  # tmux shows nobody this output: keep it where a person can find it
        with open(root / "reaper.log", "a") as fh:
            fh.write(f"{args.sid}: {type(exc).__name__}: {exc}\n")
        return 1
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("agent", help="persistent agents: identity, own skills, memory, relationships, growth")
    a = p.add_subparsers(dest="agent_command", metavar="ACTION", required=True)

    q = a.add_parser("new", help="create an agent (a folder in the agents home)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--prefers", metavar="TEXT", help="preferences, e.g. 'RLM for exploration'")
    q.add_argument("--strengths", metavar="TEXT", help="e.g. 'good at auth systems'")
    q.add_argument("--weaknesses", metavar="TEXT")
    q.add_argument("--style", metavar="TEXT", help="working style, e.g. 'I peek deeply before acting'")
    q.add_argument("--reports-to", metavar="AGENT", help="the agent an escalation goes to before the person")
    q.set_defaults(func=cmd_new)

    q = a.add_parser("list", help="every agent with stage, experience, skills and heuristics")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)

    q = a.add_parser("show", help="one agent: identity, stage, skills, heuristics, failures, relationships")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--last", type=int, default=10, metavar="N", help="newest N heuristics and failures")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)

    q = a.add_parser("edit", help="open the agent's identity.md in $EDITOR")
    q.add_argument("name", metavar="NAME")
    q.set_defaults(func=cmd_edit)

    q = a.add_parser("retire", help="retire an agent: it takes no new tasks; its folder is kept")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--undo", action="store_true", help="make a retired agent active again")
    q.set_defaults(func=cmd_retire)

    q = a.add_parser("teach", help="a senior agent gives another agent one of its own skills")
    q.add_argument("giver", metavar="FROM")
    q.add_argument("to", metavar="TO")
    q.add_argument("skill", metavar="SKILL")
    q.set_defaults(func=cmd_teach)

    q = a.add_parser("delegate", help="whom NAME would hand TASK to, by its relationships")
    q.add_argument("name", metavar="NAME")
    q.add_argument("task", metavar="TASK")
    q.set_defaults(func=cmd_delegate)

    p = sub.add_parser("reap")  # internal: tmux's pane-died hook
    p.add_argument("root")
    p.add_argument("sid")
    p.add_argument("exit_status")
    p.add_argument("signal", nargs="?", default="")
    p.add_argument("pane", nargs="?", default="")
    p.set_defaults(func=cmd_reap)
