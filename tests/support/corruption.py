"""Kinds of corruption a careless person, a crash or a full disk leaves in `.scope/`, one function each.

Each kind takes a session folder (or a project root, for the project-wide kinds) and breaks one file the
way it happens in life: truncated, the wrong type, nested deep, huge, NULs, not UTF-8, a link, a FIFO, a
folder for a file or a file for a folder, NaN and Infinity.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

Kind = Callable[[Path], None]

HUGE = 300 << 20  # sparse: costs no disk, but a reader that reads it all would hold 300 MB


def _json(d: Path, name: str, **changes: object) -> None:
    obj = json.loads((d / name).read_text())
    obj.update(changes)
    (d / name).write_text(json.dumps(obj))


def _raw(name: str, data: bytes) -> Kind:
    return lambda d: (d / name).write_bytes(data)


def _fields(name: str, **changes: object) -> Kind:
    return lambda d: _json(d, name, **changes)


def _truncate(name: str) -> Kind:
    def go(d: Path) -> None:
        data = (d / name).read_bytes()
        (d / name).write_bytes(data[: len(data) // 2])

    return go


def _replace(name: str, make: Callable[[Path], None]) -> Kind:
    def go(d: Path) -> None:
        p = d / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        make(p)

    return go


def _fifo(name: str) -> Kind:
    return _replace(name, lambda p: os.mkfifo(p))


def _folder(name: str) -> Kind:
    return _replace(name, lambda p: p.mkdir())


def _link(name: str, target: str) -> Kind:
    return _replace(name, lambda p: p.symlink_to(target))


def _sparse(name: str) -> Kind:
    def make(p: Path) -> None:
        with open(p, "wb") as fh:
            fh.truncate(HUGE)

    return _replace(name, make)


def _deep(n: int = 200_000) -> bytes:
    return b"[" * n + b"]" * n


def _append(name: str, data: bytes) -> Kind:
    def go(d: Path) -> None:
        with open(d / name, "ab") as fh:
            fh.write(data)

    return go


def _outside_link(name: str) -> Kind:
    def go(d: Path) -> None:
        outside = d.parent.parent.parent.parent / f"outside-{d.name}-{name}"
        outside.write_text(json.dumps({"status": "done", "note": "outside the project"}) + "\n")
        _link(name, str(outside))(d)

    return go


# One session each: the name says what a person would find.
SESSION_KINDS: dict[str, Kind] = {
    "state truncated": _truncate("state.json"),
    "state empty": _raw("state.json", b""),
    "state NUL bytes": _raw("state.json", b"\0" * 64),
    "state not UTF-8": _raw("state.json", b'{"status": "\xff\xfe"}'),
    "state nested 200000 deep": _raw("state.json", b'{"status": "done", "x": ' + _deep() + b"}"),
    "state a JSON array": _raw("state.json", b"[1, 2]"),
    "state unknown status": _fields("state.json", status="exploded"),
    "state status a number": _fields("state.json", status=5),
    "state updated_at a string": _fields("state.json", updated_at="yesterday"),
    "state cost a string": _fields("state.json", cost="lots"),
    "state cost Infinity": _raw("state.json", b'{"status": "running", "cost": Infinity, "updated_at": 1}'),
    "state cost NaN": _raw("state.json", b'{"status": "done", "cost": NaN}'),
    "state tokens a string": _fields("state.json", tokens="many"),
    "state tokens wrong inside": _fields("state.json", tokens={"input": "x"}),
    "state exit_code a string": _fields("state.json", exit_code="zero"),
    "state phase a list": _fields("state.json", phase=["act"]),
    "state reason a table": _fields("state.json", reason={"why": 1}),
    "state huge": _sparse("state.json"),
    "state link outside": _outside_link("state.json"),
    "state link to /dev/zero": _link("state.json", "/dev/zero"),
    "state a FIFO": _fifo("state.json"),
    "state a folder": _folder("state.json"),
    "state missing": _replace("state.json", lambda p: None),
    "meta truncated": _truncate("meta.json"),
    "meta created_at a string": _fields("meta.json", created_at="monday"),
    "meta created_at Infinity": _raw("meta.json", b'{"id": "x", "created_at": Infinity}'),
    "meta created_at NaN": _raw("meta.json", b'{"id": "x", "created_at": NaN}'),
    "meta tmux a string": _fields("meta.json", tmux="window 3"),
    "meta tmux a list": _fields("meta.json", tmux=["@1", "%1"]),
    "meta tmux window a number": _fields("meta.json", tmux={"window": 3, "pane": 4}),
    "meta title a number": _fields("meta.json", title=42),
    "meta level a table": _fields("meta.json", level={"x": 1}),
    "meta driver a list": _fields("meta.json", driver=["builtin"]),
    "meta nested 200000 deep": _raw("meta.json", b'{"title": ' + _deep() + b"}"),
    "meta a FIFO": _fifo("meta.json"),
    "meta a folder": _folder("meta.json"),
    "meta link to /dev/zero": _link("meta.json", "/dev/zero"),
    "meta a JSON string": _raw("meta.json", b'"hello"'),
    "meta non-UTF-8": _raw("meta.json", b'{"title": "\xc3\x28"}'),
    "events torn last line": _append("events.jsonl", b'{"seq": 99, "t": 1, "ty'),
    "events t a string": _append("events.jsonl", b'{"seq": 2, "t": "noon", "type": "phase"}\n'),
    "events seq a string": _append("events.jsonl", b'{"seq": "two", "t": 1, "type": "phase"}\n'),
    "events type a number": _append("events.jsonl", b'{"seq": 2, "t": 1, "type": 7}\n'),
    "events line an array": _append("events.jsonl", b"[1, 2, 3]\n"),
    "events NUL bytes": _append("events.jsonl", b"\0" * 100 + b"\n"),
    "events not UTF-8": _append("events.jsonl", b'{"seq": 2, "t": 1, "type": "x\xff"}\n'),
    "events t Infinity": _append("events.jsonl", b'{"seq": 2, "t": Infinity, "type": "phase"}\n'),
    "events line nested deep": _append("events.jsonl", _deep(100_000) + b"\n"),
    "events link to /dev/zero": _link("events.jsonl", "/dev/zero"),
    "events link outside": _outside_link("events.jsonl"),
    "events a FIFO": _fifo("events.jsonl"),
    "events a folder": _folder("events.jsonl"),
    "events huge": _sparse("events.jsonl"),
    "task not UTF-8": _raw("task.md", b"fix \xff\xfe the bug"),
    "task a FIFO": _fifo("task.md"),
    "task a folder": _folder("task.md"),
    "result not UTF-8": _raw("result.md", b"all \xff done"),
    "result a FIFO": _fifo("result.md"),
    "result link to /dev/zero": _link("result.md", "/dev/zero"),
    "pane.log a FIFO": _fifo("pane.log"),
    "inbox a file": _replace("inbox", lambda p: p.write_text("not a folder")),
    "prompt.md a FIFO": _fifo("prompt.md"),
}

# Kinds after which a session must show as corrupt (the others damage a file a session can live with:
# a torn or bad event line, a task or result that is not text, a FIFO where a log goes).
CORRUPT_ROW = {k for k in SESSION_KINDS if k.startswith(("state ", "meta "))}


def seeded_order(seed: int) -> list[str]:
    names = sorted(SESSION_KINDS)
    random.Random(seed).shuffle(names)
    return names


# --- project-wide kinds: each takes the `.scope` folder (agents: the agents home from the environment) ---
def _agent(stats: bytes | None = None, config: bytes | None = None) -> Kind:
    def go(root: Path) -> None:
        home = Path(os.environ["SCOPE_AGENTS_DIR"])
        a = home / "ada"
        a.mkdir(parents=True, exist_ok=True)
        (a / "identity.md").write_text("# ada\n\nname: ada\nstatus: active\n")
        if stats is not None:
            (a / "stats.json").write_bytes(stats)
        if config is not None:
            (home / "config.toml").write_bytes(config)

    return go


def _patch(data: bytes | None, make: Callable[[Path], None] | None = None) -> Kind:
    def go(root: Path) -> None:
        p = root / "patches" / "p1.json"
        if make is not None:
            make(p)
        else:
            p.write_bytes(data or b"")

    return go


def _skill(text: bytes | None, make: Callable[[Path], None] | None = None) -> Kind:
    def go(root: Path) -> None:
        d = root / "skills" / "mine"
        d.mkdir(parents=True, exist_ok=True)
        if make is not None:
            make(d / "v1.md")
        else:
            (d / "v1.md").write_bytes(text or b"")

    return go


def _config(data: bytes | None, make: Callable[[Path], None] | None = None) -> Kind:
    def go(root: Path) -> None:
        if make is not None:
            make(root / "config.toml")
        else:
            (root / "config.toml").write_bytes(data or b"")

    return go


def _sessions_a_file(root: Path) -> None:
    shutil.rmtree(root / "sessions")
    (root / "sessions").write_text("not a folder")


PROJECT_KINDS: dict[str, Kind] = {
    "sessions a file": _sessions_a_file,
    "config wrong type": _config(b'theme = "x"\nauto_approve = "no"\n'),
    "config models a string": _config(b'models = "x"\n'),
    "config budgets a number": _config(b"budgets = 5\n"),
    "config not UTF-8": _config(b'theme = "\xff"\n'),
    "config not TOML": _config(b"theme = = =\n"),
    "config a FIFO": _config(None, lambda p: os.mkfifo(p)),
    "config a folder": _config(None, lambda p: p.mkdir()),
    "config link to /dev/zero": _config(None, lambda p: p.symlink_to("/dev/zero")),
    "config nested deep": _config(b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    "patch truncated": _patch(b'{"id": "p1", "status": "pen'),
    "patch wrong types": _patch(b'{"id": 5, "status": 7, "skill": ["x"], "created_at": "now", "diff": 3}'),
    "patch a FIFO": _patch(None, lambda p: os.mkfifo(p)),
    "patch a folder": _patch(None, lambda p: p.mkdir()),
    "patch nested deep": _patch(_deep()),
    "skill when a number": _skill(b'+++\nname = "mine"\nwhen = 5\n+++\nbody\n'),
    "skill not UTF-8": _skill(b'+++\nname = "\xff"\n+++\n'),
    "skill a FIFO": _skill(None, lambda p: os.mkfifo(p)),
    "skill link to /dev/zero": _skill(None, lambda p: p.symlink_to("/dev/zero")),
    "agent stats wrong types": _agent(stats=b'{"tasks": "many", "done": [], "stage": 3, "history": 5}'),
    "agent stats nested deep": _agent(stats=_deep()),
    "agent stats a FIFO": _agent(),
    "agents config wrong types": _agent(
        config=b'growth = 5\nskills = "x"\n[memory]\nprompt_heuristics = "x"\n'
    ),
}


def _fifo_stats(root: Path) -> None:
    _agent()(root)
    os.mkfifo(Path(os.environ["SCOPE_AGENTS_DIR"]) / "ada" / "stats.json")


PROJECT_KINDS["agent stats a FIFO"] = _fifo_stats
