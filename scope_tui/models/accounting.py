"""Every model call of a session counted: an `llm_call` event, tokens and cost in state.json, budgets kept.

Budgets: a meta `budget` (spawn --budget) against the summed cost of its session and all descendants (the
nearest one up the tree counts), config budgets.session against each session's own cost, and config
budgets.subtree against each whole tree from its root. A call whose estimated cost would pass
a budget is not made: the session is escalated (reason `budget`), an `escalation` event says which budget,
its parent gets a message, and BudgetExceeded is raised.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scope_tui.models.base import BudgetExceeded, Model, Reply
from scope_tui.store import config, events, ids, sessions
from scope_tui.store.project import Project

_ACCT_LOCK = ".acct.lock"
_thread_lock = threading.Lock()


def price(cfg: dict[str, Any], model: str, provider: str = "") -> tuple[float, float]:
    """Dollars per million tokens (input, output) for `model`; a dated name matches its undated entry.

    `provider:name` entries come first (the same name served locally and by a vendor can cost apart);
    a model with no entry costs 0, as a local one does.
    """
    prices = cfg.get("prices", {})
    p = prices.get(f"{provider}:{model}") if provider else None
    if p is None:
        p = prices.get(model)
    if p is None:
        longest = max((k for k in prices if model.startswith(k)), key=len, default=None)
        p = prices[longest] if longest is not None else None
    if not p:
        return (0.0, 0.0)
    return (float(p[0]), float(p[1]))


def cost_of(
    cfg: dict[str, Any], model: str, input_tokens: int, output_tokens: int, provider: str = ""
) -> float:
    pin, pout = price(cfg, model, provider)
    return (input_tokens * pin + output_tokens * pout) / 1_000_000


def estimate_tokens(messages: list[dict[str, Any]], system: str, tools: list[dict[str, Any]] | None) -> int:
    """About four characters a token: enough to tell whether a call would pass a budget."""
    chars = len(json.dumps(messages, default=str)) + len(system) + len(json.dumps(tools or [], default=str))
    return chars // 4 + 1


def _cost(d: Path) -> float:
    try:
        return float(json.loads((d / sessions.STATE).read_text()).get("cost") or 0.0)
    except (OSError, ValueError, TypeError):
        return 0.0


def _meta(d: Path) -> dict[str, Any]:
    try:
        m = json.loads((d / sessions.META).read_text())
        return m if isinstance(m, dict) else {}
    except (OSError, ValueError):
        return {}


def subtree_cost(project: Project, root: str) -> float:
    return sum(
        _cost(project.session_dir(s)) for s in sessions.list_ids(project) if ids.is_descendant(s, root)
    )


def check_budget(project: Project, sid: str, extra: float, cfg: dict[str, Any]) -> tuple[str, str] | None:
    """(which budget, details) when spending `extra` more in session `sid` would pass a budget, else None.

    A meta `budget` (spawn --budget) covers its session and all its descendants; the nearest one up the
    tree (the session itself included) is the one that counts. Config budgets.session caps each session's
    own spending; budgets.subtree caps each whole tree from its root.
    """
    d = project.session_dir(sid)
    limit = float(cfg.get("budgets", {}).get("session") or 0.0)
    spent = _cost(d)
    if limit > 0 and spent + extra > limit:
        return "session", f"session {sid}: spent ${spent:.4f} + next call ~${extra:.4f} > budget ${limit:.4f}"
    anc: str | None = sid
    while anc is not None:
        b = _meta(project.session_dir(anc)).get("budget")
        if b:
            total = subtree_cost(project, anc)
            if total + extra > float(b):
                which = "session" if anc == sid else "subtree"
                return which, (
                    f"{'session' if anc == sid else 'subtree of'} {anc}: spent ${total:.4f} + next call "
                    f"~${extra:.4f} > budget ${float(b):.4f}"
                )
            break
        anc = ids.parent_of(anc)
    tree_limit = float(cfg.get("budgets", {}).get("subtree") or 0.0)
    if tree_limit > 0:
        root = sid.split(".")[0]
        total = subtree_cost(project, root)
        if total + extra > tree_limit:
            return "subtree", (
                f"tree of {root}: spent ${total:.4f} + next call ~${extra:.4f} > budget ${tree_limit:.4f}"
            )
    return None


def escalate(project: Project, d: Path, reason: str, details: str) -> None:
    """Escalate the session in `d`: status, an `escalation` event, and a message in its parent's inbox."""
    sid = d.name
    if sessions.load_dir(d).terminal:
        return
    events.append(d, "escalation", reason=reason, details=details)  # before the status: readers see both
    if not sessions.set_status(d, "escalated", reason=reason, details=details):
        return
    parent = ids.parent_of(sid)
    if parent and project.session_dir(parent).is_dir():
        sessions.put_message(
            project.session_dir(parent),
            "escalation",
            f"session {sid} escalated ({reason}): {details}",
            child=sid,
            reason=reason,
        )


def record(
    d: Path, reply: Reply, cost: float, *, purpose: str | None, level: str | None, **fields: Any
) -> None:
    """An `llm_call` event, and the call's tokens and cost added to state.json (under a lock: calls may race)."""
    inp, out = reply.usage.get("input_tokens", 0), reply.usage.get("output_tokens", 0)
    events.append(
        d,
        "llm_call",
        model=reply.model,
        provider=reply.provider or None,
        input_tokens=inp,
        output_tokens=out,
        cost=round(cost, 6),
        purpose=purpose,
        level=level,
        stop_reason=reply.stop_reason,
        **fields,
    )
    with _thread_lock:
        fd = os.open(d / _ACCT_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                st = json.loads((d / sessions.STATE).read_text())
            except (OSError, ValueError):
                st = {}
            tok = st.get("tokens") or {}
            sessions.update_state(  # force: a session killed mid-call still owes what the call cost
                d,
                force=bool(st.get("status")),
                tokens={"input": int(tok.get("input", 0)) + inp, "output": int(tok.get("output", 0)) + out},
                cost=round(float(st.get("cost") or 0.0) + cost, 6),
                model=reply.model,
            )
        finally:
            os.close(fd)


class Accounted:
    """A Model that counts every call against the session in `session_dir` and keeps its budgets."""

    def __init__(self, inner: Model, project: Project, session_dir: Path, cfg: dict[str, Any] | None = None):
        self.inner = inner
        self.project = project
        self.dir = session_dir
        self.cfg = cfg if cfg is not None else config.load(project.config_path)
        self.name = inner.name
        self.provider = str(getattr(inner, "provider", "") or "")
        # told the details just before a budget escalation (the worker writes its partial result first)
        self.before_escalate: Callable[[str], None] | None = None

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        system: str = "",
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 4096,
        level: str | None = None,
        purpose: str | None = None,
    ) -> Reply:
        est_in = estimate_tokens(messages, system, tools)
        provider = str(getattr(self.inner, "provider", "") or "")
        extra = cost_of(self.cfg, self.inner.name, est_in, 0, provider)
        over = check_budget(self.project, self.dir.name, extra, self.cfg)
        if over is not None:
            which, details = over
            if self.before_escalate is not None:
                self.before_escalate(details)
            escalate(self.project, self.dir, "budget", f"{which} budget: {details}")
            raise BudgetExceeded(f"budget reached, call not made ({details})")
        reply = self.inner.complete(
            messages, system=system, tools=tools, max_tokens=max_tokens, level=level, purpose=purpose
        )
        reply.provider = reply.provider or provider
        reply.cost = cost_of(
            self.cfg,
            reply.model or self.inner.name,
            reply.usage.get("input_tokens", 0),
            reply.usage.get("output_tokens", 0),
            reply.provider,
        )
        record(self.dir, reply, reply.cost, purpose=purpose, level=level)
        return reply
