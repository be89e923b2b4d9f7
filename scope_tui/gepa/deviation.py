"""Deviation detection: a session's events plus the action it is about to take, checked against its skill's rules.

Pure functions over what is on disk; `online.before_action` records what they find. Kinds of action:
spawn, peek, grep, partition, exec, tool, llm_call. Kinds of deviation (the `kind` field of a `deviation`
event): sequence, depth, scope, fan_out, grep_broad, empty_dives, budget.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.store import ids, sessions
from scope_tui.store.sessions import first_line

LOOKS = ("peek", "grep")  # actions that look at the context
_EMPTY = re.compile(
    r"^\s*(?:none|nothing( found)?|no (?:matches|results|findings|hits)[^\n]*|\[\]|\{\}|null|n/a)?\s*\.?\s*$",
    re.I,
)
EMPTY_DIVE_MIN = 4  # the empty-dive ratio is judged only after this many dives


@dataclass
class Deviation:
    """One broken rule: what was expected, what happened, and the event seqs behind it."""

    kind: str
    rule: str
    expected: str
    actual: str
    seqs: list[int] = field(default_factory=list)
    limit: Any = None

    @property
    def signature(self) -> str:
        """Stable across sessions: the same deviation of the same skill is proposed as a patch once."""
        return f"{self.kind}:{self.rule}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "signature": self.signature}


# ---------------------------------------------------------------- what an action is


def _bash_kind(command: str) -> str:
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    seg: list[list[str]] = [[]]
    for w in words:
        if w in ("|", "||", "&&", ";"):
            seg.append([])
        else:
            seg[-1].append(w)
    heads = [s[0].rsplit("/", 1)[-1] for s in seg if s]
    for s in seg:
        if s and s[0].rsplit("/", 1)[-1] == "scope" and len(s) > 1 and s[1] == "spawn":
            return "spawn"
        if len(s) > 3 and s[1:3] == ["-m", "scope_tui"] and s[3] == "spawn":
            return "spawn"
    if any(h in ("grep", "rg", "egrep", "fgrep", "ag") for h in heads):
        return "grep"
    if any(h in ("head", "cat", "less", "tail", "wc", "ls", "tree", "file", "sed") for h in heads):
        return "peek"
    return "exec"


def classify(tool: str, input: dict[str, Any] | None = None) -> str:
    """The action kind of a tool call: Read/read_file/head/cat are peeks, Grep/grep/rg greps, a Bash
    `scope spawn` a spawn, other Bash an exec; anything else a tool."""
    t = (tool or "").lower()
    inp = input or {}
    if t in ("read", "read_file", "view", "ls", "glob", "list_files", "peek"):
        return "peek"
    if t in ("grep", "search", "grep_search"):
        return "grep"
    if t in ("spawn", "rlm_query", "task", "agent"):
        return "spawn"
    if t in ("bash", "shell", "exec", "run"):
        return _bash_kind(str(inp.get("command") or inp.get("cmd") or ""))
    return "tool"


def action_kind(action: dict[str, Any]) -> str:
    kind = str(action.get("kind") or "tool")
    if kind in ("tool", "exec") and action.get("tool"):
        return classify(str(action["tool"]), action.get("input"))
    return kind


def _event_kind(ev: dict[str, Any]) -> str | None:
    t = ev.get("type")
    if t in ("peek", "grep", "partition", "exec", "llm_call"):
        return str(t)
    if t == "spawn" and ev.get("child"):
        return "spawn"
    if t == "tool_call":
        if ev.get("blocked"):  # a call the detector refused never happened
            return None
        if ev.get("kind") in ("spawn", "peek", "grep", "partition", "exec", "llm_call"):
            return str(ev["kind"])
        return classify(str(ev.get("tool") or ev.get("name") or ""), ev.get("input") or {})
    return None


# ---------------------------------------------------------------- context the checks need


@dataclass
class Context:
    """What the checks know about the session beyond its events (read from disk by `context_for`)."""

    sid: str
    skill: str | None = None
    root: str | None = None  # the pattern root: the top of the chain of sessions following this skill
    task: str = ""
    context_tokens: int | None = None
    live_children: int = 0
    children: list[sessions.Session] = field(default_factory=list)
    budget: float | None = None
    cost: float = 0.0
    progress: float | None = None


def context_for(session_dir: Path) -> Context:
    s = sessions.load_dir(session_dir)
    project_sessions = session_dir.parent
    skill = s.meta.get("skill")
    # The pattern root: walk up while ancestors follow the same skill (or none of their own).
    root = s.id
    cur = ids.parent_of(s.id)
    while cur:
        pd = project_sessions / cur
        if not pd.is_dir():
            break
        ps = sessions.load_dir(pd)
        if ps.meta.get("skill") not in (None, skill):
            break
        if ps.meta.get("skill") == skill:
            root = cur
        cur = ids.parent_of(cur)
    kids = []
    prefix = s.id + "."
    try:
        names = [
            n.name
            for n in project_sessions.iterdir()
            if n.name.startswith(prefix) and "." not in n.name[len(prefix) :]
        ]
    except OSError:
        names = []
    for n in sorted(names):
        kids.append(sessions.load_dir(project_sessions / n))
    params = s.meta.get("params") or {}
    ctx_tokens = s.meta.get("context_tokens") or params.get("context_tokens")
    budget = s.meta.get("budget")
    return Context(
        sid=s.id,
        skill=skill,
        root=root,
        task=s.task(),
        context_tokens=int(ctx_tokens) if isinstance(ctx_tokens, (int, float)) else None,
        live_children=sum(1 for k in kids if not k.terminal and k.status != "corrupt"),
        children=kids,
        budget=float(budget) if isinstance(budget, (int, float)) and budget > 0 else None,
        cost=float(s.state.get("cost") or 0.0),
        progress=s.state.get("progress") if isinstance(s.state.get("progress"), (int, float)) else None,
    )


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _is_empty(result: str | None) -> bool:
    return result is None or bool(_EMPTY.match(result))


# ---------------------------------------------------------------- the checks


def detect(rules: Any, evs: list[dict[str, Any]], action: dict[str, Any], ctx: Context) -> list[Deviation]:
    """Every rule the proposed `action` would break given the session's events `evs`; [] when none.

    `rules` is a patterns.rules.Rules (or anything with `.get(name, default)`)."""
    kind = action_kind(action)
    inp = action.get("input") or {}
    out: list[Deviation] = []
    looked = [e for e in evs if _event_kind(e) in LOOKS]
    spawns = [e for e in evs if _event_kind(e) == "spawn"]

    if kind == "spawn":
        child_task = str(action.get("task") or inp.get("task") or inp.get("prompt") or "")
        shown = f" {child_task[:60]!r}" if child_task else ""
        if rules.get("peek_before_spawn") and not looked:
            out.append(
                Deviation(
                    "sequence",
                    "peek_before_spawn",
                    "peek at the context (or grep it) before spawning",
                    f"spawned{shown} without looking at the context first",
                    # what it did instead of looking
                    [int(e["seq"]) for e in evs if e.get("seq") and _event_kind(e)][-3:],
                )
            )
        max_depth = rules.get("max_depth")
        if isinstance(max_depth, int):
            depth = action.get("depth")
            if not isinstance(depth, int):
                depth = ids.depth(ctx.sid) - ids.depth(ctx.root or ctx.sid) + 1
            if depth > max_depth:
                out.append(
                    Deviation(
                        "depth",
                        "max_depth",
                        f"depth at most {max_depth}",
                        f"a child at depth {depth}",
                        [],
                        max_depth,
                    )
                )
        if rules.get("child_smaller_than_parent"):
            why = _not_smaller(action, inp, child_task, ctx)
            if why:
                out.append(
                    Deviation(
                        "scope", "child_smaller_than_parent", "a child task smaller than its parent's", why
                    )
                )
        max_par = rules.get("max_parallel")
        if isinstance(max_par, int) and max_par > 0:
            live = action.get("live_children")
            live = live if isinstance(live, int) else ctx.live_children
            if live + 1 > max_par:
                out.append(
                    Deviation(
                        "fan_out",
                        "max_parallel",
                        f"at most {max_par} children at once",
                        f"a child #{live + 1} while {live} still run",
                        [int(e["seq"]) for e in spawns if e.get("seq")][-max_par:],
                        max_par,
                    )
                )

    limit = rules.get("grep_hit_limit")
    if isinstance(limit, int):
        hits = action.get("hits") if kind == "grep" else None
        seqs: list[int] = []
        if not isinstance(hits, int):
            last = next((e for e in reversed(evs) if e.get("type") == "grep"), None)
            if last is not None and isinstance(last.get("hits", last.get("matches")), int):
                hits = last.get("hits", last.get("matches"))
                seqs = [int(last["seq"])] if last.get("seq") else []
        if isinstance(hits, int) and hits > limit:
            out.append(
                Deviation(
                    "grep_broad",
                    "grep_hit_limit",
                    f"a grep with at most {limit} hits",
                    f"a grep with {hits} hits",
                    seqs,
                    limit,
                )
            )

    ratio = rules.get("empty_dive_ratio")
    if isinstance(ratio, (int, float)) and kind in ("spawn", "llm_call", "grep", "peek"):
        dives = [(k.id, _is_empty(k.result()) or k.status == "failed") for k in ctx.children if k.terminal]
        dive_events = [e for e in evs if "empty" in e and e.get("type") in ("llm_call", "dive", "rlm_query")]
        total = len(dives) + len(dive_events)
        empty = sum(1 for _, e in dives if e) + sum(1 for e in dive_events if e.get("empty"))
        if total >= EMPTY_DIVE_MIN and empty / total > ratio:
            out.append(
                Deviation(
                    "empty_dives",
                    "empty_dive_ratio",
                    f"at most {ratio:.0%} of dives empty",
                    f"{empty} of {total} dives came back empty",
                    [int(e["seq"]) for e in dive_events if e.get("empty") and e.get("seq")][-5:],
                    ratio,
                )
            )

    if ctx.budget and ctx.cost >= 0.5 * ctx.budget:
        progress = action.get("progress")
        if not isinstance(progress, (int, float)):
            progress = ctx.progress
        if not isinstance(progress, (int, float)) and ctx.children:
            progress = sum(1 for k in ctx.children if k.status == "done") / len(ctx.children)
        spent = ctx.cost / ctx.budget
        if isinstance(progress, (int, float)) and progress < spent / 2:
            out.append(
                Deviation(
                    "budget",
                    "budget_pace",
                    "spending in step with progress",
                    f"{spent:.0%} of the ${ctx.budget:g} budget spent for {progress:.0%} of the work",
                )
            )
    return out


def _not_smaller(action: dict[str, Any], inp: dict[str, Any], child_task: str, ctx: Context) -> str | None:
    child_tokens = action.get("context_tokens", inp.get("context_tokens"))
    parent_tokens = action.get("parent_tokens", ctx.context_tokens)
    if (
        isinstance(child_tokens, (int, float))
        and isinstance(parent_tokens, (int, float))
        and parent_tokens > 0
    ):
        if child_tokens >= parent_tokens:
            return f"a child with {int(child_tokens)} tokens of context, its parent has {int(parent_tokens)}"
        return None
    child_files = action.get("files", inp.get("files"))
    parent_files = action.get("parent_files")
    if isinstance(child_files, list) and isinstance(parent_files, list) and parent_files:
        if set(map(str, child_files)) >= set(map(str, parent_files)):
            return f"a child over all {len(parent_files)} of its parent's files"
        return None
    if child_task and ctx.task and _norm(child_task) == _norm(ctx.task):
        return f"a child given its parent's own task, unchanged ({first_line(child_task, 60)!r})"
    return None
