"""`scope skills`: list the skills, explain a selection, show a skill's versions and text."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scope_tui.store.errors import UsageError

USAGE = "scope skills [list | versions NAME | show NAME[@vN]] [--explain TASK [--context PATH]...] [--json]"


def _project() -> Any:
    from scope_tui.store.errors import NoProject
    from scope_tui.store.project import Project

    try:
        return Project.open()
    except NoProject:
        return None  # the shipped skills are still there to read


def cmd_skills(args: argparse.Namespace) -> int:
    words = list(args.words or [])
    if args.explain is not None:
        if words:
            raise UsageError(f"--explain takes no other words ({USAGE})")
        return _explain(args)
    action = words[0] if words else "list"
    if action == "list" and len(words) <= 1:
        return _list(args)
    if action == "versions" and len(words) == 2:
        return _versions(args, words[1])
    if action == "show" and len(words) == 2:
        return _show(args, words[1])
    raise UsageError(f"unknown skills command {' '.join(words)!r} ({USAGE})")


def _as_json(s: Any) -> dict[str, Any]:
    """A skill as `--json` prints it (without its prompt body)."""
    return {
        "name": s.name,
        "version": s.version,
        "description": s.description,
        "when": s.when,
        "rules": s.rules,
        "path": str(s.path),
    }


def _list(args: argparse.Namespace) -> int:
    from scope_tui import api

    project = _project()
    loaded, errors = api.list_skills(project, agent=args.agent)
    if args.json:
        for s in loaded.values():
            print(json.dumps(_as_json(s)))
    else:
        width = max([len(n) for n in loaded] + [5])
        for s in loaded.values():
            where = (
                "shipped"
                if s.root == api.shipped_skills()
                else "project"
                if project and s.root == project.skills
                else "agent"
            )
            print(f"{s.name:<{width}}  v{s.version:<3} {where:<8} {s.description}")
    for e in errors:
        print(f"scope: skipped broken skill file {e}", file=sys.stderr)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from scope_tui import api

    task = args.explain
    if task == "-":
        task = sys.stdin.read()
    if not task.strip():
        raise UsageError("--explain needs a task text")
    params: dict[str, Any] = {}
    for k in ("context", "rubric", "promise", "dag"):
        v = getattr(args, k, None)
        if v:
            params[k] = v
    for path in params.get("context") or []:
        if path != "-" and not Path(path).exists():
            raise UsageError(f"--context {path}: no such file or folder")
    prof, sel = api.explain_selection(
        _project(), task, params, model=args.model, agent=args.agent, use_model=not args.offline
    )
    if args.json:
        print(json.dumps(api.selection_event(sel), ensure_ascii=False, default=str))
        return 0
    f = prof.fields()
    print(f"task: {task.strip().splitlines()[0][:100]}")
    print(
        "profile: "
        + ", ".join(
            f"{k}={v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k}={v}"
            for k, v in f.items()
        )
    )
    for n in prof.notes:
        print(f"  note: {n}")
    print(f"judged: {sel.judge}")
    print()
    for c in sel.choices:
        print(f"{c.name} v{c.version}  score {c.score:.2f}  ({c.matched}/{c.total} criteria hold)")
        for r in c.reasons:
            print(f"    {r}")
    print()
    print(
        "decision: "
        + (" -> ".join(sel.composition) if sel.composition else "no skill qualifies (a plain worker)")
    )
    for e in sel.errors:
        print(f"scope: skipped broken skill file {e}", file=sys.stderr)
    return 0


def _versions(args: argparse.Namespace, name: str) -> int:
    from scope_tui import api

    rows = api.skill_versions(_project(), name, agent=args.agent)
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print(
        f"{'ver':<5}{'parent':<8}{'origin':<14}{'patches':<9}{'tasks':<7}{'score':<7}{'dev':<5}{'again':<6}"
        f"{'cost':<9}{'state':<10}{'next':<6}path"
    )
    for r in rows:
        parent = f"v{r['parent']}" if r["parent"] else "-"
        print(
            f"v{r['version']:<4}{parent:<8}{r['origin']:<14}{len(r['patches']):<9}{r['tasks']:<7}"
            f"{format(r['successes'], 'g') + '/' + str(r['tasks']):<7}{r['deviations']:<5}{r['reinforced']:<6}"
            f"{'$' + format(r['cost'], '.4f'):<9}"
            f"{r['state']:<10}{'-' if r['chance'] is None else format(r['chance'], '.0%'):<6}{r['path']}"
        )
    return 0


def _show(args: argparse.Namespace, ref: str) -> int:
    from scope_tui import api

    s = api.load_skill(_project(), ref, agent=args.agent)
    if args.json:
        print(json.dumps({**_as_json(s), "body": s.body}))
        return 0
    print(f"{s.name} v{s.version}  ({s.path})")
    if s.description:
        print(s.description)
    print("when:")
    for w in s.when:
        print(f"  - {w}")
    print("rules:")
    for line in api.skill_rules(s):
        print(f"  {line}")
    print()
    print(s.body.rstrip())
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "skills", help="list skills; --explain TASK scores them; versions NAME; show NAME[@vN]", usage=USAGE
    )
    p.add_argument("words", nargs="*", metavar="list|versions NAME|show NAME[@vN]")
    p.add_argument("--explain", metavar="TASK", help="profile TASK and show each skill's score and reasons")
    p.add_argument("--context", action="append", metavar="PATH", help="with --explain: the task's context")
    p.add_argument("--rubric", metavar="FILE", help="with --explain: a rubric the task has")
    p.add_argument("--promise", metavar="TEXT", help="with --explain: a completion promise the task has")
    p.add_argument("--dag", metavar="FILE", help="with --explain: a task graph the task has")
    p.add_argument("--model", metavar="NAME", help="with --explain: the model that judges prose criteria")
    p.add_argument("--offline", action="store_true", help="with --explain: judge prose by keyword rules only")
    p.add_argument("--agent", metavar="NAME", help="include this agent's own skills")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_skills)
