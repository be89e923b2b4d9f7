"""The built-in worker's tools: their Messages-API specs and what each does when the model calls it.

A tool returns `Outcome(text, is_error, end)`; `end` is set by finish / escalate (the loop stops).
Every text that leaves here passes through `redact` so a key in the environment never reaches the model,
an event, or the pane.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.store import events, keys, sessions
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project

MAX_OUTPUT = 20_000
MAX_READ = 100_000


def _spec(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "input_schema": {"type": "object", "properties": props, "required": required},
    }


_S = {"type": "string"}
SPECS: list[dict[str, Any]] = [
    _spec(
        "bash",
        "Run a shell command in the working folder; returns its output (stdout and stderr) and exit code.",
        {"command": _S, "timeout": {"type": "number", "description": "seconds (default 120)"}},
        ["command"],
    ),
    _spec(
        "read_file",
        "Read a text file (lines offset.. offset+limit).",
        {"path": _S, "offset": {"type": "integer"}, "limit": {"type": "integer"}},
        ["path"],
    ),
    _spec(
        "write_file",
        "Write a text file (created with its folders, replaced if it exists).",
        {"path": _S, "content": _S},
        ["path", "content"],
    ),
    _spec(
        "spawn",
        "Start a child session (it shows in the tree under this one) and return its id at once. "
        "Give `cmd` to run a plain shell command as the child instead of an agent. Give `agent` to hand "
        "the task to that persistent agent (`scope agent list`): it works with its own identity, memory "
        "and skills, and learns from the task.",
        {"task": _S, "cmd": _S, "driver": _S, "skill": _S, "model": _S, "agent": _S},
        ["task"],
    ),
    _spec(
        "wait",
        "Block until the given child sessions finish; returns each one's status and result.",
        {"ids": {"type": "array", "items": _S}, "timeout": {"type": "number"}},
        ["ids"],
    ),
    _spec(
        "poll",
        "The status of the given sessions, without waiting.",
        {"ids": {"type": "array", "items": _S}},
        ["ids"],
    ),
    _spec(
        "finish", "End the task with its final result (what was done and found).", {"result": _S}, ["result"]
    ),
    _spec(
        "escalate",
        "Stop and hand the problem to the parent: reason is one of task_too_big, missing_context, "
        "wrong_approach, budget, stuck (or free text); details say what is needed.",
        {"reason": _S, "details": _S},
        ["reason"],
    ),
    _spec("ask", "Ask the person a question and wait for the answer.", {"question": _S}, ["question"]),
]
NAMES = {s["name"] for s in SPECS}


@dataclass
class Outcome:
    text: str
    is_error: bool = False
    end: str | None = None  # "done" or "escalated": the loop stops


@dataclass
class Context:
    project: Project
    dir: Path
    meta: dict[str, Any]
    cwd: Path
    bash_timeout: float = 120.0
    secrets: list[str] = field(default_factory=list)

    @property
    def sid(self) -> str:
        return self.dir.name

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, keys.REDACTED)
        return keys.redact(text)

    def path(self, p: str) -> Path:
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else self.cwd / q


def secrets_from_env() -> list[str]:
    return [v for v in keys.present().values() if len(v) >= keys.MIN_VALUE]


def _cut(text: str, limit: int = MAX_OUTPUT) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… [{len(text) - limit} characters cut] …\n{text[-half:]}"


class BadInput(ValueError):
    """The model called a tool with input it cannot take."""


def check_input(name: str, inp: Any) -> dict[str, Any]:
    if name not in NAMES:
        raise BadInput(f"no tool named {name!r} (tools: {', '.join(sorted(NAMES))})")
    if not isinstance(inp, dict):
        raise BadInput(f"{name}: input must be an object, got {type(inp).__name__}")
    spec = next(s for s in SPECS if s["name"] == name)
    missing = [k for k in spec["input_schema"]["required"] if k not in inp]
    if missing:
        raise BadInput(f"{name}: missing {', '.join(missing)}")
    for k, v in inp.items():
        want = spec["input_schema"]["properties"].get(k, {}).get("type")
        if want == "string" and not isinstance(v, str):
            raise BadInput(f"{name}: {k} must be a string")
        if want == "array" and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise BadInput(f"{name}: {k} must be a list of strings")
    return inp


def run(ctx: Context, name: str, inp: dict[str, Any]) -> Outcome:
    """Run one tool; raises BadInput for input it cannot take (other errors propagate)."""
    check_input(name, inp)
    return _TOOLS[name](ctx, inp)


def _bash(ctx: Context, inp: dict[str, Any]) -> Outcome:
    timeout = min(float(inp.get("timeout") or ctx.bash_timeout), 3600.0)
    try:
        p = subprocess.run(
            ["/bin/sh", "-c", inp["command"]],
            cwd=ctx.cwd,
            env=keys.without(os.environ),  # the model's shell calls no model: it gets no key
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.output or b"").decode(errors="replace")
        return Outcome(ctx.redact(_cut(out) + f"\n[timed out after {timeout:g}s]"), True)
    out = p.stdout.decode(errors="replace")
    text = _cut(out) + (f"\n[exit {p.returncode}]" if p.returncode else "")
    return Outcome(ctx.redact(text or "(no output)"), p.returncode not in (0, 1))


def _read(ctx: Context, inp: dict[str, Any]) -> Outcome:
    path = ctx.path(inp["path"])
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return Outcome(f"cannot read {inp['path']}: {exc.strerror or exc}", True)
    off = int(inp.get("offset") or 0)
    lim = inp.get("limit")
    if off or lim:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[off : off + int(lim) if lim else None])
    return Outcome(ctx.redact(_cut(text, MAX_READ)) or "(empty file)")


def _write(ctx: Context, inp: dict[str, Any]) -> Outcome:
    from scope_tui.substrate.guard import may_write

    path = ctx.path(inp["path"])
    if not may_write(ctx.project.path, str(path)):
        return Outcome(f"cannot write {inp['path']}: Scope's records are not for a session to change", True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(inp["content"])
    except OSError as exc:
        return Outcome(f"cannot write {inp['path']}: {exc.strerror or exc}", True)
    return Outcome(f"wrote {len(inp['content'])} characters to {inp['path']}")


# Set by api.run_worker to the agents layer's check (raises UsageError for an agent that cannot take a
# task): this layer sits below the agents and cannot ask them itself.
check_agent: Callable[[str], None] | None = None


def _spawn(ctx: Context, inp: dict[str, Any]) -> Outcome:
    from scope_tui.substrate.spawn import spawn

    model = inp.get("model") or ("offline" if ctx.meta.get("model") == "offline" else None)
    agent = str(inp.get("agent") or "").strip() or None
    try:
        if agent and check_agent is not None:
            check_agent(agent)
        child = spawn(
            ctx.project,
            inp["task"],
            parent=ctx.sid,
            driver=inp.get("driver") or None,
            cmd=inp.get("cmd") or None,
            skill=inp.get("skill") or None,
            model=model,
            cwd=ctx.cwd,
            agent=agent,
        )
    except ScopeError as exc:
        return Outcome(f"spawn failed: {exc}", True)
    by = f" for agent {agent}" if agent else ""
    return Outcome(f"spawned session {child.id} ({child.meta.get('driver')}{by}): {child.title}")


def _describe(ctx: Context, ids: list[str]) -> str:
    lines = []
    for sid in ids:
        s = sessions.load_dir(ctx.project.session_dir(sid))
        res = (s.result() or "").strip()
        reason = f" ({s.state.get('reason')})" if s.state.get("reason") else ""
        lines.append(f"{sid} {s.status}{reason}: {res[:1500] if res else '(no result yet)'}")
    return ctx.redact("\n".join(lines))


def _known(ctx: Context, ids: list[str]) -> list[str]:
    bad = [i for i in ids if not ctx.project.session_dir(i).is_dir()]
    if bad:
        raise BadInput(f"no session {', '.join(bad)}")
    mine = [i for i in ids if ctx.sid == i or ctx.sid.startswith(i + ".")]
    if mine:  # waiting on itself or an ancestor would never end
        raise BadInput(f"cannot wait on {', '.join(mine)}: that is this session or one above it")
    return ids


def _wait(ctx: Context, inp: dict[str, Any]) -> Outcome:
    from scope_tui.substrate.wait import wait

    ids = _known(ctx, inp["ids"])
    timeout = inp.get("timeout")
    res = wait(ctx.project, ids, timeout=float(timeout) if timeout else None)
    head = "timed out; " if res.timed_out else ""
    return Outcome(head + _describe(ctx, ids), res.timed_out)


def _poll(ctx: Context, inp: dict[str, Any]) -> Outcome:
    return Outcome(_describe(ctx, _known(ctx, inp["ids"])))


def _finish(ctx: Context, inp: dict[str, Any]) -> Outcome:
    return Outcome(ctx.redact(inp["result"]), end="done")


def _escalate(ctx: Context, inp: dict[str, Any]) -> Outcome:
    from scope_tui.models.accounting import escalate

    reason = inp["reason"].strip() or "stuck"
    details = ctx.redact(str(inp.get("details") or ""))
    escalate(ctx.project, ctx.dir, reason, details)
    return Outcome(f"escalated ({reason}): {details}", end="escalated")


def _ask(ctx: Context, inp: dict[str, Any]) -> Outcome:
    """needs_input until a message (a redirect) arrives in the inbox; its text is the answer."""
    from scope_tui.substrate.watch import ticks

    question = ctx.redact(inp["question"])
    sessions.set_status(ctx.dir, "needs_input", reason=question[:200])
    events.append(ctx.dir, "ask", question=question)
    print(f"\x1b[1;33m? {question}\x1b[0m  (answer with: scope redirect {ctx.sid} '...')", flush=True)
    answers: list[dict[str, Any]] = []
    for _ in ticks(ctx.dir / sessions.INBOX, tick_ms=500):
        st = sessions.load_dir(ctx.dir)
        if st.terminal:
            raise KeyboardInterrupt(f"session became {st.status} while asking")
        answers = sessions.take_messages(ctx.dir)
        if answers:
            break
    sessions.set_status(ctx.dir, "running")
    text = "\n".join(str(m.get("text", "")) for m in answers)
    return Outcome(ctx.redact(f"answer ({time.strftime('%H:%M:%S')}): {text}"))


_TOOLS = {
    "bash": _bash,
    "read_file": _read,
    "write_file": _write,
    "spawn": _spawn,
    "wait": _wait,
    "poll": _poll,
    "finish": _finish,
    "escalate": _escalate,
    "ask": _ask,
}
