"""Delegation by relationships: which other agent to hand a task to."""

from __future__ import annotations

from scope_tui.agents import home, identity, relationships


def pick(agent: str, task: str) -> str | None:
    """The active agent `agent` hands work like `task` to: the one whose past topics share the most
    words with the task, then the better success with it; None when no relationship fits."""
    d = home.require(agent)
    r = relationships.read(d)
    if r.problem:
        return None
    words = set(home.keywords(task, limit=64))
    best: tuple[float, float, str] | None = None
    for other, entry in r.value.items():
        if other == agent or not isinstance(entry, dict) or not home.exists(other):
            continue
        if identity.status(other) != "active":
            continue
        topics = entry.get("topics") or {}
        overlap = sum(int(n) for t, n in topics.items() if t in words)
        if not overlap:
            continue
        spawned = int(entry.get("spawned", 0)) or 1
        rate = int(entry.get("spawned_ok", 0)) / spawned
        key = (overlap, rate, other)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None
