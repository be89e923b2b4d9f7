"""`scope run TASK`: the orchestrator (strategic OODA loop); `scope escalate REASON`: a worker asks for help."""

from __future__ import annotations

import argparse
import json
from typing import Any

from scope_tui.store.errors import UsageError

REASONS = ("task_too_big", "missing_context", "wrong_approach", "budget", "stuck")


def cmd_run(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.cli.core import _project, read_task, spawn_params

    params = spawn_params(args)
    task = read_task(args, stdin_taken="-" in (params.get("context") or []))
    project = _project(create=True)
    from scope_tui.api import check_spawn

    check_spawn(project, driver=None, cmd=None, parent=args.parent, budget=args.budget, params=params)
    if args.candidates:
        params["candidates"] = [{"skill": s.strip()} for s in args.candidates.split(",") if s.strip()]
        for c in params["candidates"]:
            api.load_skill(project, c["skill"])  # an unknown skill is refused before anything runs
    s = api.spawn(
        project,
        task,
        params=params,
        parent=args.parent if args.parent else True,
        driver="orchestrator",
        level="strategic",
        model=args.model,
        budget=args.budget,
        agent=args.agent,
    )
    if args.json:
        print(json.dumps({"id": s.id, "dir": str(s.dir), "level": s.level, "driver": "orchestrator"}))
    else:
        print(s.id)
    return 0


def cmd_escalate(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.cli.core import _project

    project = _project()
    sid = args.session or api.current_session(project)
    if not sid:
        raise UsageError("escalate runs inside a session (or give --session ID)")
    from scope_tui.api import check_secret
    from scope_tui.store import sessions

    s = sessions.load(project, sid)
    check_secret(s.path)  # a session escalates itself, never another one
    if s.terminal:
        raise UsageError(f"session {sid} is {s.status}; only a live session can escalate")
    e = api.escalate(s, args.reason, " ".join(args.details))
    print(f"escalated {sid}: {e.reason}")
    return 0


def register(sub: Any) -> None:
    from scope_tui.cli.core import add_task_args

    p = sub.add_parser(
        "run", help="profile a task, pick patterns and run them under supervision; prints the id"
    )
    add_task_args(p)
    p.add_argument("--agent", metavar="NAME", help="give the task to this persistent agent")
    p.add_argument("--budget", type=float, metavar="DOLLARS", help="spending limit for the whole run")
    p.add_argument("--model", metavar="NAME", help="the orchestrator's model, or 'offline'")
    p.add_argument(
        "--parent", metavar="ID", help="parent session (default: the session this runs in, if any)"
    )
    p.add_argument(
        "--candidates", metavar="SKILL[,SKILL]", help="the patterns to try, in order (default: selected)"
    )
    p.add_argument(
        "--context", action="append", metavar="PATH", help="a large context: a file, a folder, or '-'"
    )
    p.add_argument("--parallel", type=int, metavar="N", help="map-reduce / DAG: at most N workers at once")
    p.add_argument("--chunk-tokens", type=int, metavar="N", help="map-reduce: chunks of N tokens")
    p.add_argument("--rubric", metavar="FILE", help="maker-checker: the checker's rubric (TOML)")
    p.add_argument("--max-iter", type=int, metavar="N", help="iteration limit")
    p.add_argument(
        "--promise", metavar="TEXT", help="ralph: stop when the agent says <promise>TEXT</promise>"
    )
    p.add_argument("--dag", metavar="FILE", help="dag: the TOML file of tasks")
    p.add_argument("--json", action="store_true", help="print the new session as JSON")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("escalate", help="(inside a session) ask the parent for help, with a reason")
    p.add_argument("reason", choices=REASONS, help="why this session cannot go on")
    p.add_argument("details", nargs="*", help="what is needed, in a few words")
    p.add_argument("--session", metavar="ID", help="the session that escalates (default: this one)")
    p.set_defaults(func=cmd_escalate)
