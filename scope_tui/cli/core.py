"""The substrate commands: spawn, wait, poll, tree, kill, redirect, attach, clean, log, doctor (and the hidden worker)."""

from __future__ import annotations

import os
import sys
import time

from scope_tui.cli.options import Option
from scope_tui.store.drivers import SPAWNABLE, status_source
from scope_tui.store.errors import UsageError

TYPE_CHECKING = False  # typing and argparse are not imported at run time: every process would pay for them
if TYPE_CHECKING:
    import argparse
    from typing import Any


def _project(create: bool = False):  # noqa: ANN202 - lazy import keeps start-up fast
    from scope_tui.store.project import Project

    return Project.open_or_create() if create else Project.open()


def read_task(args: argparse.Namespace, *, stdin_taken: bool = False) -> str:
    """The task text from TASK, `-` (stdin) or --task-file; raises UsageError when none or two are given."""
    given = [x for x in (args.task, args.task_file) if x is not None]
    if len(given) != 1:
        raise UsageError("give the task as TASK, '-' for stdin, or --task-file FILE (exactly one)")
    if args.task_file is not None:
        try:  # the person's own file: links and pipes are fine here (`--task-file /dev/stdin`)
            with open(args.task_file, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read task file {args.task_file}: {exc.strerror}") from None
        return _utf8(raw, f"task file {args.task_file}")
    if args.task == "-":
        if stdin_taken:
            raise UsageError("stdin cannot be both the task and the context")
        return _utf8(sys.stdin.buffer.read(), "the task on stdin")
    return str(args.task)


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} is not UTF-8 text (byte {exc.start}); nothing was spawned") from None


# --- spawn -----------------------------------------------------------------------------------------
def add_task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", nargs="?", metavar="TASK", help="the task text, or '-' to read it from stdin")
    p.add_argument("--task-file", metavar="FILE", help="read the task from FILE")


SPAWN_OPTIONS = (
    Option("--task-file", metavar="FILE", help="read the task from FILE"),
    Option("--parent", metavar="ID", help="parent session (default: the session this runs in, if any)"),
    Option("--driver", choices=SPAWNABLE, help="what runs in the window"),
    Option(
        "--cmd", metavar="COMMAND", help="a shell command to run as the worker (implies --driver command)"
    ),
    Option("--skill", metavar="NAME", help="the skill (orchestration pattern) to follow"),
    Option(
        "--level", choices=("strategic", "tactical", "operational"), help="OODA level (default operational)"
    ),
    Option("--model", metavar="NAME", help="model name, or 'offline'"),
    Option("--budget", "float", metavar="DOLLARS", help="spending limit for this session and its subtree"),
    Option("--agent", metavar="NAME", help="give the task to this persistent agent"),
    Option("--worktree", "flag", help="run in a git worktree and branch of its own"),
    Option(
        "--sandbox",
        "flag",
        help="run model-written code and commands under bubblewrap: no network, project read-only",
    ),
    Option("--context", "append", metavar="PATH", help="RLM context: a file, a folder, or '-' for stdin"),
    Option("--parallel", "int", metavar="N", help="map-reduce / DAG: at most N workers at once"),
    Option("--chunk-tokens", "int", metavar="N", help="map-reduce: partition into chunks of N tokens"),
    Option("--rubric", metavar="FILE", help="maker-checker: the checker's rubric (TOML)"),
    Option("--max-iter", "int", metavar="N", help="ralph / maker-checker / RLM: iteration limit"),
    Option("--max-depth", "int", metavar="N", help="RLM: hard limit on recursion depth (default 3)"),
    Option("--max-timeout", "float", metavar="SECONDS", help="RLM: wall time for the whole run"),
    Option("--max-tokens", "int", metavar="N", help="RLM: tokens (in + out) for the whole run"),
    Option("--max-errors", "int", metavar="N", help="RLM: stop after N blocks in a row that raised"),
    Option("--max-subcalls", "int", metavar="N", help="RLM: concurrent sub-calls (default 4)"),
    Option("--promise", metavar="TEXT", help="ralph: stop when the agent says <promise>TEXT</promise>"),
    Option("--dag", metavar="FILE", help="dag: the TOML file of tasks"),
    Option(
        "--reduce-cmd", metavar="COMMAND", help="map-reduce: reducer command ({results} = the mappers' JSON)"
    ),
    Option(
        "--env",
        "append",
        metavar="NAME",
        help="pass this variable (a key too) to the worker, through a 0600 file, never an argv",
    ),
    Option(
        "--check", "append", metavar="CMD", help="a command that verifies the run (exit 0 passes; repeatable)"
    ),
    Option("--expect", metavar="TEXT", help="the expected answer (exact, or equal as a number)"),
    Option("--json", "flag", help="print the new session as JSON"),
    Option("--host", metavar="NAME", help="spawn on that host ([hosts.NAME]); prints NAME:ID"),
)


def add_spawn_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", nargs="?", metavar="TASK", help="the task text, or '-' to read it from stdin")
    for o in SPAWN_OPTIONS:
        o.add_to(p)


PATTERN_PARAMS = (
    "context",
    "parallel",
    "chunk_tokens",
    "rubric",
    "max_iter",
    "promise",
    "dag",
    "reduce_cmd",
    "max_depth",
    "max_timeout",
    "max_tokens",
    "max_errors",
    "max_subcalls",
    *("check", "expect"),  # verifiers (gepa.scores): kept in the session's params, applied when it ends
)


def spawn_params(args: argparse.Namespace) -> dict[str, Any]:
    """Pattern parameters given on the command line, with file paths made absolute."""
    params: dict[str, Any] = {}
    for k in PATTERN_PARAMS:
        v: Any = getattr(args, k, None)
        if v is None:
            continue
        if k in ("rubric", "dag"):
            if not os.path.isfile(v):
                raise UsageError(f"--{k} {v}: no such file")
            v = os.path.realpath(v)
        if k == "context":
            v = [x if x == "-" else os.path.realpath(x) for x in v]
            for x in v:
                if x != "-" and not os.path.exists(x):
                    raise UsageError(f"--context {x}: no such file or folder")
        if k in ("parallel", "chunk_tokens", "max_iter", "max_subcalls") and v < 1:
            raise UsageError(f"--{k.replace('_', '-')} must be at least 1")
        if k in ("max_depth", "max_timeout", "max_tokens", "max_errors") and v < 0:
            raise UsageError(f"--{k.replace('_', '-')} must not be negative")
        if k == "check":
            if not all(str(c).strip() for c in v):
                raise UsageError("--check needs a command")
            params["checks"] = list(v)
            continue
        params[k] = v
    if getattr(args, "sandbox", False):  # only when asked: absent, [sessions] sandbox decides
        params["sandbox"] = True
    return params


def cmd_spawn(args: argparse.Namespace) -> int:
    from scope_tui import api

    if args.host:
        from scope_tui.cli.hosts import spawn_remote

        return spawn_remote(args)
    params = spawn_params(args)
    task = read_task(args, stdin_taken="-" in (params.get("context") or []))
    project = _project(create=True)
    from scope_tui.api import check_spawn

    check_spawn(
        project, driver=args.driver, cmd=args.cmd, parent=args.parent, budget=args.budget, params=params
    )
    if "-" in (params.get("context") or []):
        params["stdin_file"] = api.keep_stdin(project, sys.stdin.buffer.read())
    s = api.spawn(
        project,
        task,
        params=params,
        parent=args.parent if args.parent is not None else True,
        driver=args.driver,
        cmd=args.cmd,
        skill=args.skill,
        level=args.level,
        model=args.model,
        budget=args.budget,
        agent=args.agent,
        worktree=args.worktree,
        env=args.env,
    )
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "id": s.id,
                    "dir": str(s.dir),
                    "level": s.level,
                    "driver": s.meta.get("driver"),
                    "tmux": s.meta.get("tmux"),
                }
            )
        )
    else:
        print(s.id)
    return 0


# --- wait / poll / tree ----------------------------------------------------------------------------
def cmd_wait(args: argparse.Namespace) -> int:
    import json

    from scope_tui import api

    if args.timeout is not None and args.timeout < 0:
        raise UsageError("--timeout must be positive")
    project = _project()
    res = api.wait(project, args.ids, timeout=args.timeout, any_=args.any)
    shown = _shown(args)
    for s in res.sessions:
        if args.json:
            print(
                json.dumps(
                    {
                        "id": shown(s.id),
                        "status": s.status,
                        "reason": s.corrupt or s.state.get("reason"),
                        "result": s.result(),
                    }
                )
            )
            continue
        if not s.terminal and not s.corrupt:
            continue
        why = s.corrupt or s.state.get("reason")
        head = f"== {shown(s.id)} {s.status}" + (f" ({why})" if why else "") + " =="
        print(head)
        r = s.result()
        if r:
            print(r.rstrip("\n"))
    if res.timed_out:
        live = [shown(s.id) for s in res.sessions if not s.terminal]
        print(
            f"scope: timed out after {args.timeout:g}s; still running: {' '.join(live) or '-'}",
            file=sys.stderr,
        )
    return res.exit_code


def _shown(args: argparse.Namespace) -> Any:
    """How an id is printed: as `NAME:ID` when another host's scope forwarded this command here
    (cli/hosts.forward passes `--shown-as NAME`), so what the person reads is what they can type."""
    name = getattr(args, "shown_as", None)
    return (lambda sid: f"{name}:{sid}") if name else str


def _session_row(s: Any, now: float) -> dict[str, Any]:
    st = s.state
    return {
        "id": s.id,
        "status": s.status,
        "reason": st.get("reason") if not s.corrupt else s.corrupt,
        "level": s.meta.get("level"),
        "phase": st.get("phase"),
        "driver": s.meta.get("driver"),
        # where the status comes from: the driver's own (hooks, worker, ...), or what it fell back to
        "status_source": st.get("status_source") or status_source(s.meta.get("driver")),
        "skill": s.meta.get("skill"),
        "model": st.get("model") or s.meta.get("model"),
        "agent": s.meta.get("agent"),
        "title": s.meta.get("title"),
        "cost": st.get("cost"),
        "tokens": st.get("tokens"),
        "created_at": s.meta.get("created_at"),
        "updated_at": st.get("updated_at"),
        "exit_code": st.get("exit_code"),
    }


def cmd_poll(args: argparse.Namespace) -> int:
    import json

    from scope_tui import api
    from scope_tui.cli.render import age, money, table
    from scope_tui.store.glyphs import glyph

    listed = api.list_sessions(_project(), args.ids if not args.all else None)
    now = time.time()
    shown = _shown(args)
    if args.json:
        for s in listed:
            print(json.dumps({**_session_row(s, now), "id": shown(s.id)}, ensure_ascii=False))
        return 0
    if not listed:
        print("no sessions yet (start one: scope spawn TASK)")
        return 0
    rows = []
    for s in listed:
        r = _session_row(s, now)
        rows.append(
            [
                shown(r["id"]),
                f"{glyph(s.status)} {s.status}",
                r["level"] or "-",
                r["phase"] or "-",
                r["driver"] or "-",
                r["skill"] or "-",
                r["model"] or "-",
                money(r["cost"]),
                age(r["created_at"], now, live=not s.terminal),
                (r["reason"] or "") if s.status != "done" else "",
                (r["title"] or "")[:50],
            ]
        )
    print(
        table(
            rows,
            ["ID", "STATUS", "LEVEL", "PHASE", "DRIVER", "SKILL", "MODEL", "COST", "AGE", "REASON", "TASK"],
        )
    )
    return 0


def cmd_tree(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.cli.render import age
    from scope_tui.store import succession
    from scope_tui.store.glyphs import glyph

    listed = api.list_sessions(_project(), root=args.root)
    if not listed:
        print("no sessions yet (start one: scope spawn TASK)")
        return 0
    by_id = {s.id: s for s in listed}
    now = time.time()
    shown = _shown(args)
    for sid, depth in succession.order(by_id):  # a resumed session shows where the lost one was
        s = by_id[sid]
        pad = "  " * depth
        bits = [s.status, s.level]
        if s.state.get("phase") and not s.terminal:
            bits.append(str(s.state["phase"]))
        for k in ("skill", "agent", "pattern", "role"):  # pattern/role: a pattern's child sessions
            if s.meta.get(k):
                bits.append(f"{k}={s.meta[k]}")
        model = s.state.get("model") or s.meta.get("model")
        if model:
            bits.append(f"model={model}")
        bits.append(age(s.meta.get("created_at"), now, live=not s.terminal))
        title = s.corrupt or s.title
        print(f"{pad}{glyph(s.status)} {shown(s.id)}  {title[:60]}  [{', '.join(bits)}]")
    return 0


# --- kill / redirect / attach / clean --------------------------------------------------------------
def cmd_kill(args: argparse.Namespace) -> int:
    from scope_tui import api  # the substrate's kill, then each killed session's agent update
    from scope_tui.api import check_subtree
    from scope_tui.store import sessions

    project = _project()
    check_subtree(project, args.id)  # from inside a session: only its own subtree
    tree = sessions.subtree(project, args.id)
    live = [s.id for s in tree if not s.terminal and not s.corrupt]
    if not args.yes and sys.stdin.isatty():
        ans = input(f"kill {args.id} and its subtree ({len(live)} live session(s))? [y/N] ")
        if ans.strip().lower() not in ("y", "yes"):
            print("nothing killed")
            return 1
    killed = api.kill(project, args.id)
    print(f"killed {len(killed)}: {' '.join(killed)}" if killed else f"nothing live under {args.id}")
    return 0


def cmd_redirect(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.api import check_subtree

    message = sys.stdin.read() if args.message == "-" else args.message
    project = _project()
    check_subtree(project, args.id)  # from inside a session: only its own subtree
    s = api.redirect(project, args.id, message)
    print(f"redirected {s.id}")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from scope_tui import api

    argv = api.attach_argv(_project(), args.id)
    env = dict(os.environ)
    if argv[3] == "attach-session":
        env.pop("TMUX", None)  # nested attach from inside another tmux server
    os.execvpe(argv[0], argv, env)
    return 0  # not reached


def cmd_clean(args: argparse.Namespace) -> int:
    from scope_tui import api

    done = api.clean(_project(), args.older_than)
    print(f"cleaned {len(done)}: {' '.join(done)}" if done else "nothing to clean")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    import json

    from scope_tui import api
    from scope_tui.store import sessions

    s = sessions.load(_project(), args.id)
    if args.rlm:  # the RLM trajectory: readable, or with --json the JSONL its visualiser opens
        entries = api.trajectory(s)
        if args.json:
            for e in entries:
                print(json.dumps(e, ensure_ascii=False))
        else:
            sys.stdout.write(api.render_trajectory(entries))
        return 0 if entries else 1
    types = set(args.type.split(",")) if args.type else None

    def show(evs: list[dict[str, Any]]) -> None:
        for e in evs:
            if types and e.get("type") not in types:
                continue
            if args.json:
                print(json.dumps(e, ensure_ascii=False))
                continue
            t = time.strftime("%H:%M:%S", time.localtime(e.get("t") or 0))
            rest = {k: v for k, v in e.items() if k not in ("seq", "t", "type")}
            why = rest.pop("why", None)
            body = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)[:120]}" for k, v in rest.items())
            print(
                f"{t} #{e.get('seq')} {e.get('type'):<14} {body}" + (f"  — {why}" if why else ""), flush=True
            )

    spend: dict[str, list[float]] = {}  # provider -> [calls, tokens, cost]

    def count(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for e in evs:
            if e.get("type") == "llm_call":
                row = spend.setdefault(str(e.get("provider") or e.get("model") or "?"), [0, 0, 0.0])
                row[0] += 1
                row[1] += int(e.get("input_tokens") or 0) + int(e.get("output_tokens") or 0)
                row[2] += float(e.get("cost") or 0.0)
        return evs

    def totals() -> None:
        if spend and not args.json and not types:
            print(
                "cost by provider: "
                + " · ".join(
                    f"{p}: {n} calls, {t} tokens, ${c:.4f}" for p, (n, t, c) in sorted(spend.items())
                )
            )

    for batch in api.follow_events(s, follow=args.follow):
        show(count(batch))
    totals()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from scope_tui import api

    bad = 0
    for ok, what, fix in api.doctor():
        mark = "ok " if ok else ("-- " if ok is None else "!! ")
        print(f"{mark} {what}" + (f"\n    fix: {fix}" if fix and not ok else ""))
        bad += ok is False
    return 1 if bad else 0


def cmd_worker(args: argparse.Namespace) -> int:
    from scope_tui import api

    return api.run_worker(args.session_dir)


def register(sub: Any) -> None:
    from argparse import SUPPRESS

    p = sub.add_parser("spawn", help="start a session in a new tmux window; prints its id at once")
    add_spawn_args(p)
    p.set_defaults(func=cmd_spawn)

    p = sub.add_parser("wait", help="block until sessions finish (exit 0 done, 1 failed, 3 timeout)")
    p.add_argument("ids", nargs="+", metavar="ID", help="session ids, or ID.* for a subtree")
    p.add_argument("--timeout", type=float, metavar="S")
    p.add_argument("--any", action="store_true", help="return when the first one finishes")
    p.add_argument("--json", action="store_true")
    p.add_argument("--shown-as", metavar="NAME", help=SUPPRESS)  # cli/hosts.forward
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("poll", help="status at once, as a table or JSON lines")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--all", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--shown-as", metavar="NAME", help=SUPPRESS)  # cli/hosts.forward
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("tree", help="the session hierarchy with status, level, skill and age")
    p.add_argument("root", nargs="?", metavar="ID")
    p.add_argument("--shown-as", metavar="NAME", help=SUPPRESS)  # cli/hosts.forward
    p.set_defaults(func=cmd_tree)

    p = sub.add_parser("kill", help="kill a session and its whole subtree (history is kept)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_kill)

    p = sub.add_parser("redirect", help="send a message into a running agent")
    p.add_argument("id", metavar="ID")
    p.add_argument("message", metavar="MESSAGE", help="the message, or '-' for stdin")
    p.set_defaults(func=cmd_redirect)

    p = sub.add_parser("attach", help="attach to a session's tmux window (detach to come back)")
    p.add_argument("id", metavar="ID")
    p.set_defaults(func=cmd_attach)

    p = sub.add_parser("clean", help="close the windows and worktrees of finished sessions; history stays")
    p.add_argument(
        "--older-than", metavar="AGE", help="only sessions finished longer ago than AGE (30s, 10m, 2h, 7d)"
    )
    p.set_defaults(func=cmd_clean)

    p = sub.add_parser("log", help="a session's events (the decision log), optionally followed live")
    p.add_argument("id", metavar="ID")
    p.add_argument("--type", metavar="T[,T]", help="only these event types, e.g. decision,orientation")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the session ends")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--rlm",
        action="store_true",
        help="an RLM session's trajectory (with --json: its JSONL, as the reference logs it)",
    )
    p.set_defaults(func=cmd_log)

    p = sub.add_parser("doctor", help="check tmux, the .scope folder, API key and Claude Code")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("worker")  # internal: what a tmux window runs
    p.add_argument("session_dir")
    p.set_defaults(func=cmd_worker)


# `scope spawn`'s plain command lines are read without argparse (cli/__init__.py, cli/options.py)
PLAIN = {"spawn": (SPAWN_OPTIONS, "task", False, cmd_spawn)}
