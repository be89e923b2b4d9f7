"""`reports to`: an escalation an agent cannot handle goes to the agent it reports to, before the person.

identity.md's `- reports to: bob` names that agent. When a task of the agent's ends escalated, or asks
the person (`needs_input`), and no session of bob's is above it in the tree (that one hears it anyway),
the escalation goes to bob: into the inbox of bob's live session in this project, or, with none, as
the task of a new session of bob's. An `escalation_routed` event on the escalating session says where.

The person still sees it: the session keeps its status and reason (the room's alerts, `scope wait`),
and what bob says is bob's result for the person to read. Bob advises; it does not decide for the person
(its session is outside the escalating one's subtree, so the guards refuse it a redirect there).
"""

from __future__ import annotations

from typing import Any

from scope_tui.agents import home, identity
from scope_tui.store import events, ids, sessions
from scope_tui.store.project import Project

FIELD = "reports to"


def manager(name: str) -> str | None:
    """The active agent `name` reports to (identity.md), or None."""
    try:
        boss = identity.read(name)[0].get(FIELD, "").strip()
    except OSError:
        return None
    if not boss or boss == name or not home.exists(boss) or identity.status(boss) != "active":
        return None
    return boss


def _live_session_of(project: Project, boss: str, not_in: str) -> sessions.Session | None:
    """The newest live session that is `boss`'s own task in `project`, outside the subtree `not_in`."""
    live = [
        s
        for s in sessions.list_all(project)
        if not s.corrupt
        and not s.terminal
        and s.meta.get("agent") == boss
        and s.id != not_in
        and not ids.is_descendant(s.id, not_in)
    ]
    return max(live, key=lambda s: float(s.meta.get("created_at") or 0)) if live else None


def route(project: Project, s: sessions.Session, reason: str, details: str) -> dict[str, Any] | None:
    """Hand the escalation of `s` (an agent's task) to the agent that agent reports to; the
    `escalation_routed` event's fields, or None when there is no one to route it to (the person only)."""
    name = str(s.meta.get("agent") or "")
    boss = manager(name) if name else None
    if boss is None:
        return None
    up = s.parent
    while up:  # a session of the boss's above this one hears the escalation through the tree
        above = sessions.load_dir(project.session_dir(up))
        if above.meta.get("agent") == boss:
            return None
        up = above.parent
    said = f"{name} (who reports to you) escalated session {s.id} ({reason}): {details or reason}"
    task = sessions.first_line(s.task(), 200)
    live = _live_session_of(project, boss, s.id)
    if live is not None:
        sessions.put_message(
            live.dir, "escalation", f"{said}\nIts task: {task}", reason=reason, source=s.id, routed_from=name
        )
        fields = {"to_agent": boss, "session": live.id, "how": "to its live session"}
    else:
        fields = {
            "to_agent": boss,
            "session": _new_session(project, s, boss, said, task),
            "how": "a new session",
        }
    events.append(s.dir, "escalation_routed", reason=reason, **fields)
    return fields


def _new_session(project: Project, s: sessions.Session, boss: str, said: str, task: str) -> str:
    """A new session of `boss` (a top-level task of its own) asked for advice on the escalation."""
    from scope_tui.agents.lifecycle import prepare_session
    from scope_tui.substrate.spawn import launch, spawn

    text = (
        f"{said}\n\nIts task: {task}\nWhat it has so far is in `scope result {s.id}`, what it did in "
        f"`scope log {s.id}`.\n\nSay what {s.meta.get('agent')} should do next, or what is missing, in "
        "your result: the person reads it with the escalation and decides."
    )
    child = spawn(
        project,
        text,
        parent=None,
        agent=boss,
        model=s.meta.get("model"),
        cwd=s.meta.get("cwd") or None,
        launch_now=False,
        title=f"advise on {s.id}: {sessions.first_line(said, 40)}",
        advises=s.id,
    )
    prepare_session(project, child)
    launch(project, child)
    return child.id
