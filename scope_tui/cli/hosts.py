"""`scope watch` (every state change and event as JSON lines) and `scope host add|list|setup`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from scope_tui.store.errors import UsageError

ALIVE_S = 10.0  # `scope watch --json` says it is alive this often when nothing else is said


def _since(values: list[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values or []:
        for part in v.split(","):
            sid, eq, off = part.partition("=")
            if not eq or not sid or not off.isdigit():
                raise UsageError(f"--since {part}: expected ID=OFFSET (an offset record of scope watch)")
            out[sid] = int(off)
    return out


def _seconds(text: str | None, default: float) -> float:
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return value if value > 0 else default


def _human(rec: dict[str, Any]) -> str | None:
    if rec["type"] == "session":
        state = rec.get("state") or {}
        return f"{rec['id']} {rec.get('corrupt') and 'corrupt' or state.get('status', '?')}"
    if rec["type"] == "event":
        ev = rec["event"]
        return f"{rec['id']} #{ev.get('seq')} {ev.get('type')}"
    return None


def cmd_watch(args: argparse.Namespace) -> int:
    import asyncio

    from scope_tui import api
    from scope_tui.store.project import Project

    project = Project.open()
    since = _since(args.since)
    out = sys.stdout

    def emit(records: list[dict[str, Any]]) -> None:
        for rec in records:
            if args.json:
                out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
            else:
                line = _human(rec)
                if line:
                    out.write(line + "\n")
        out.flush()

    # JSON lines go to a program (the room, over ssh): a quiet stream says it is alive, so a reader that
    # went is noticed as a broken pipe within that time, and this process ends instead of lingering
    alive = _seconds(os.environ.get("SCOPE_WATCH_ALIVE_S"), ALIVE_S) if args.json else None
    try:
        asyncio.run(api.watch_stream(project, emit, since=since, once=args.once, alive=alive))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went: nothing left to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is quiet
        return 0
    return 0


def _parse_dest(text: str) -> tuple[str, str]:
    dest, colon, path = text.partition(":")
    if not colon or not dest or not path:
        raise UsageError(f"{text}: expected user@box:/path (the ssh destination and the project's folder)")
    return dest, path


def cmd_host(args: argparse.Namespace) -> int:
    from scope_tui import api
    from scope_tui.store import config, trust
    from scope_tui.store.project import Project

    project = Project.open()
    if args.action == "add":
        if not args.name or not args.dest:
            raise UsageError("scope host add NAME user@box:/path")
        if not config.host_name_ok(args.name):
            raise UsageError(f"host name {args.name!r}: letters, digits, _ and - only")
        api.person_only(project)  # a host is where Scope runs programs: a person's decision
        dest, path = _parse_dest(args.dest)
        table: dict[str, str] = {"ssh": dest, "path": path}
        if args.scope:
            table["scope"] = args.scope
        config.update(project.config_path, {"hosts": {args.name: table}})
        print(f"host {args.name}: {dest}:{path}")
        if not trust.is_trusted(project.home_path, config.read_raw(project.config_path)):
            print("  it applies once you run `scope trust` (hosts name machines and programs)")
        return 0
    if args.action == "list":
        raw = config.read_raw(project.config_path).get("hosts") or {}
        shown = api.hosts(project)
        if not raw:
            print("no hosts (scope host add NAME user@box:/path)")
        for name, t in sorted(raw.items()):
            note = "" if name in shown else "  (not trusted: run `scope trust`)"
            print(f"{name}  {t.get('ssh')}:{t.get('path')}  scope={t.get('scope', 'scope')}{note}")
        return 0
    if not args.name:
        raise UsageError("scope host setup NAME")
    found, missing = api.host_check(project, args.name)
    for line in found:
        print(f"  ok       {line}")
    for line in missing:
        print(f"  missing  {line}")
    print(f"host {args.name}: " + ("ready" if not missing else f"{len(missing)} missing"))
    return 0 if not missing else 1


def register(sub: Any) -> None:
    p = sub.add_parser("watch", help="print every state change and event of the project as they happen")
    p.add_argument("--json", action="store_true", help="JSON lines, with the event offsets to resume from")
    p.add_argument("--since", action="append", metavar="ID=OFFSET", help="resume: events past these offsets")
    p.add_argument("--once", action="store_true", help="print what is there now and exit")
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("host", help="other machines: add, list, setup (check what Scope needs there)")
    p.add_argument("action", choices=("add", "list", "setup"))
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("dest", nargs="?", metavar="USER@BOX:/PATH")
    p.add_argument("--scope", metavar="PATH", help="add: the scope program there (default `scope`)")
    p.set_defaults(func=cmd_host)


# --- sessions on another host: `scope spawn --host NAME`, and NAME:ID for the commands that take ids --------
# Paths a spawn names are this machine's: they mean nothing on the host.
_LOCAL_PATHS = ("context", "rubric", "dag")


def spawn_remote(args: Any) -> int:
    """Spawn on `args.host` through ssh: the task goes on the remote's stdin, never on a command line."""
    from scope_tui import api
    from scope_tui.cli.core import SPAWN_OPTIONS, read_task
    from scope_tui.store.project import Project

    for k in _LOCAL_PATHS:
        if getattr(args, k, None):
            raise UsageError(f"--{k} names a file here; with --host give the host's own files there")
    task = read_task(args)
    remote = ["spawn", "-"]
    for o in SPAWN_OPTIONS:
        if o.dest in ("host", "task_file"):
            continue
        v = getattr(args, o.dest, None)
        if o.dest == "parent" and v is not None:
            name, sid = api.split_host_id(v)
            if name not in (None, args.host):
                raise UsageError(f"--parent {v} is on another host than {args.host}")
            v = sid
        if o.kind == "flag":
            remote += [o.flag] if v else []
        elif o.kind == "append":
            for x in v or []:
                remote += [o.flag, str(x)]
        elif v is not None:
            remote += [o.flag, str(v)]
    project = Project.open()
    proc = api.host_run(project, args.host, remote, stdin=task.encode())
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        if proc.returncode == 255:
            err = api.host_ssh_failed(project, args.host, proc)
        sys.stderr.write((err or f"scope: spawn on {args.host} failed") + "\n")
        return proc.returncode if proc.returncode != 255 else 1
    out = proc.stdout.decode(errors="replace").strip()
    if args.json:
        rec = json.loads(out)
        rec["id"], rec["host"] = f"{args.host}:{rec['id']}", args.host
        print(json.dumps(rec))
    else:
        print(f"{args.host}:{out}")
    return 0


def forward(argv: list[str], args: Any) -> int | None:
    """Run `argv` on the host its `NAME:ID`s name (None when they name none): output and exit code are the
    host's. A redirect's message goes on stdin; a kill asks here first, since the host has no terminal."""
    import os
    import subprocess

    from scope_tui import api
    from scope_tui.store.project import Project

    refs = list(getattr(args, "ids", None) or [])
    for k in ("id", "root"):
        if getattr(args, k, None):
            refs.append(getattr(args, k))
    split = [api.split_host_id(r) for r in refs]
    names = {n for n, _ in split}
    if names == {None} or not names:
        return None
    if len(names) > 1:
        raise UsageError("these ids are on different hosts (or here): give one host's at a time")
    name = next(iter(names))
    assert name is not None
    bare = dict(zip(refs, (sid for _, sid in split), strict=True))
    remote = [bare.get(a, a) for a in argv]
    stdin: bytes | None = None
    if argv[0] == "redirect":
        stdin = (sys.stdin.read() if args.message == "-" else args.message).encode()
        remote = ["redirect", bare[args.id], "-"]
    if argv[0] in ("wait", "poll", "tree"):
        remote += ["--shown-as", name]  # its ids printed as NAME:ID, what the person can type here
    project = Project.open()
    if argv[0] == "kill" and not args.yes:
        if sys.stdin.isatty():
            ans = input(f"kill {args.id} and its subtree on {name}? [y/N] ")
            if ans.strip().lower() not in ("y", "yes"):
                print("nothing killed")
                return 1
        remote.append("--yes")
    if argv[0] == "attach":
        ssh = api.host_argv(project, name, remote, tty=True)
        os.execvp(ssh[0], ssh)
    ssh = api.host_argv(project, name, remote)
    try:
        sys.stdout.flush()  # the host's scope escaped what it printed: its output goes out as it came
        proc = subprocess.run(ssh, input=stdin if stdin is not None else b"")
    except FileNotFoundError:
        raise UsageError("ssh is not installed (the system's OpenSSH client reaches other hosts)") from None
    return proc.returncode
