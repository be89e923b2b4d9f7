"""`scope patches`: list, show, approve, reject (with a reason) and edit-then-approve skill patches;
`scope rate`: the person's verdict on a finished run."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
from typing import Any

from scope_tui.store.errors import ScopeError, UsageError


def _project():  # noqa: ANN202 - lazy import keeps start-up fast
    from scope_tui.store.project import Project

    return Project.open()


def _age(t: float | None) -> str:
    import time

    if not t:
        return "-"
    s = max(0, int(time.time() - float(t)))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit}"
    return f"{s}s"


def _summary(p: dict[str, Any]) -> str:
    if p.get("kind") == "consolidation":
        return f"consolidates {len(p.get('folds') or [])} patches"
    dev = p.get("deviation") or {}
    line = p.get("rule_line") or ""
    return (f"{dev.get('kind')}: " if dev.get("kind") else "") + (line or p.get("signature") or "")


def cmd_list(args: argparse.Namespace) -> int:
    from scope_tui import api

    status = None if args.all else (args.status or "pending")
    rows = api.list_patches(_project(), status)
    if args.json:
        for p in rows:
            print(json.dumps({k: v for k, v in p.items() if k != "new_text"}, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no {status} patches" if status else "no patches")
        return 0
    print(f"{'ID':<6} {'STATUS':<10} {'TARGET':<24} {'BASE':<5} {'AGE':>5}  {'TEST':<24} WHAT")
    for p in rows:
        base = f"v{p['base_version']}" if p.get("base_version") is not None else "-"
        test = api.patch_test(p) if str(p.get("target", "")).startswith("skill:") else "-"
        print(
            f"{p['id']:<6} {p.get('status', '?'):<10} {str(p.get('target', '?'))[:24]:<24} {base:<5} "
            f"{_age(p.get('created_at')):>5}  {test:<24} {_summary(p)[:60]}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from scope_tui import api

    p = api.load_patch(_project(), args.id)
    if args.json:
        print(json.dumps(p, indent=2, ensure_ascii=False))
        return 0
    base = f" v{p['base_version']}" if p.get("base_version") is not None else ""
    print(f"patch {p['id']}  {p.get('status')}  {p.get('target')}{base}  ({p.get('kind', 'rule')})")
    if p.get("session"):
        print(f"from session {p['session']}")
    dev = p.get("deviation") or {}
    if dev:
        print(f"deviation: {dev.get('kind')} ({dev.get('rule')})")
        print(f"  expected: {dev.get('expected')}")
        print(f"  actual:   {dev.get('actual')}")
    if p.get("reflection"):
        print("reflection:")
        for ln in str(p["reflection"]).splitlines():
            print(f"  {ln}")
    if str(p.get("target", "")).startswith("skill:"):
        test = p.get("test") or {}
        extra = f"  ({test['note']})" if test.get("note") else ""
        print(f"test: {api.patch_test(p)}{extra}")
        if test.get("status") == "done":
            for item in test.get("items") or []:
                c, q = test["candidate"], test["parent"]
                print(
                    f"  {item}: v{c['version']} {c['scores'].get(item, 0):g} (${c['costs'].get(item, 0):.4f})"
                    f"  v{q['version']} {q['scores'].get(item, 0):g} (${q['costs'].get(item, 0):.4f})"
                )
        if p.get("auto_note"):
            print(p["auto_note"])
    for r in p.get("reviews") or []:  # a staff agent's proposal; the person decides
        print(f"review: {r.get('by')} ({r.get('stage')}) proposes {r.get('verdict')}: {r.get('why') or '-'}")
    if p.get("decided_by"):
        note = f": {p['decision_note']}" if p.get("decision_note") else ""
        made = (
            f" -> v{p['version']}"
            if p.get("version") and str(p.get("target", "")).startswith("skill:")
            else ""
        )
        print(f"decided by {p['decided_by']}{note}{made}")
    print()
    print(p.get("diff") or "(no diff)", end="" if str(p.get("diff", "")).endswith("\n") else "\n")
    return 0


def _done(pid: str, version: int, target: str) -> None:
    if target.startswith("skill:"):
        print(f"approved {pid}: {target.split(':', 1)[1]} v{version}")
    else:
        print(f"approved {pid}: {target}")


def _person(project: Any) -> None:
    from scope_tui.api import person_only

    person_only(project)  # approve, reject and edit are a person's decisions: refused inside a session


def cmd_approve(args: argparse.Namespace) -> int:
    from scope_tui import api

    project = _project()
    _person(project)
    p = api.load_patch(project, args.id)
    _done(p["id"], api.approve_patch(project, p["id"], by="person", note=args.note), str(p.get("target")))
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from scope_tui import api

    project = _project()
    _person(project)
    p = api.reject_patch(project, args.id, args.reason, by="person")
    print(f"rejected {p['id']}: {p['decision_note']}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from scope_tui import api

    project = _project()
    _person(project)
    p = api.load_patch(project, args.id)
    if p.get("status") not in ("pending", "testing"):
        raise UsageError(
            f"patch {p['id']} is already {p.get('status')}: already decided by {p.get('decided_by')}"
        )
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, path = tempfile.mkstemp(prefix=f"scope-{p['id']}-", suffix=".md")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(str(p.get("new_text", "")))
        try:
            rc = subprocess.call([*shlex.split(editor), path])
        except OSError as exc:
            raise UsageError(f"cannot run the editor {editor!r}: {exc.strerror} (set $EDITOR)") from None
        if rc != 0:
            raise ScopeError(f"the editor exited {rc}: patch {p['id']} left pending")
        with open(path) as fh:
            text = fh.read()
    finally:
        os.unlink(path)
    if not text.strip():
        raise ScopeError(f"the edited text is empty: patch {p['id']} left pending")
    _done(
        p["id"],
        api.approve_patch(project, p["id"], by="person", text=text, note=args.note or "edited"),
        str(p.get("target")),
    )
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    from scope_tui import api

    project = _project()
    _person(project)  # a verdict is a person's: refused inside a session
    score = api.rate_run(project, args.id, args.verdict, args.why or "")
    if score is None:
        print(f"rated {args.id} {args.verdict} (no skill: nothing to score)")
    else:
        by = "" if score["verifier"] == "person" else f" (its {score['verifier']} scored it first)"
        print(f"rated {args.id} {args.verdict}: score {score['score']:g}{by}")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from scope_tui import api

    p = api.review_patch(_project(), args.id, args.verdict, args.why)
    print(f"reviewed {p['id']}: {args.verdict} proposed to the person (the patch stays {p['status']})")
    return 0


def register(sub: Any) -> None:
    r = sub.add_parser("rate", help="your verdict on a finished run: good or bad (scores its skill version)")
    r.add_argument("id", metavar="ID")
    r.add_argument("verdict", choices=["good", "bad"])
    r.add_argument("--why", metavar="TEXT", help="why (kept with the verdict)")
    r.set_defaults(func=cmd_rate)

    p = sub.add_parser(
        "patches", help="skill patches learned from deviations: list, show, approve, reject, edit"
    )
    p.set_defaults(func=cmd_list, status=None, all=False, json=False)
    ps = p.add_subparsers(dest="patches_command", metavar="ACTION", parser_class=type(p))

    q = ps.add_parser("list", help="patches (pending unless --status or --all)")
    q.add_argument("--status", choices=["testing", "pending", "approved", "rejected", "superseded"])
    q.add_argument("--all", action="store_true", help="every patch, whatever its status")
    q.add_argument("--json", action="store_true", help="one JSON object a line (without the new text)")
    q.set_defaults(func=cmd_list)

    q = ps.add_parser("show", help="one patch: its deviation, reflection and diff")
    q.add_argument("id", metavar="ID")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)

    q = ps.add_parser("approve", help="approve a patch: writes the skill's next version")
    q.add_argument("id", metavar="ID")
    q.add_argument("--note", metavar="TEXT", help="why (kept with the decision)")
    q.set_defaults(func=cmd_approve)

    q = ps.add_parser("reject", help="reject a patch (kept; its deviation is not proposed again)")
    q.add_argument("id", metavar="ID")
    q.add_argument("--reason", required=True, metavar="TEXT", help="why it is rejected")
    q.set_defaults(func=cmd_reject)

    q = ps.add_parser(
        "review", help="(inside a staff agent's session) propose approve or reject for a junior's patch"
    )
    q.add_argument("id", metavar="ID")
    q.add_argument("verdict", choices=["approve", "reject"])
    q.add_argument("--why", default="", metavar="TEXT", help="the reason, for the person who decides")
    q.set_defaults(func=cmd_review)

    q = ps.add_parser("edit", help="edit the patch's new text in $EDITOR, then approve it")
    q.add_argument("id", metavar="ID")
    q.add_argument("--note", metavar="TEXT")
    q.set_defaults(func=cmd_edit)
