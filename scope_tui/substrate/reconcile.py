"""Reconciliation: a session that claims to run but whose pane or tmux server is gone is `failed` (`lost`)."""

from __future__ import annotations

import time

from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from scope_tui.substrate.server import tmux_for

# A session younger than this may not have its window yet (spawn writes the folder first).
GRACE_S = 5.0


def reconcile(project: Project, listed: list[sessions.Session] | None = None) -> list[str]:
    """Check every live session against one `list-panes -a` call; returns the ids marked failed.

    Costs no tmux call at all when no session claims to be alive.
    """
    listed = sessions.list_all(project) if listed is None else listed
    live = [s for s in listed if not s.corrupt and not s.terminal]
    if not live:
        return []
    panes = tmux_for(project).list_panes()
    now = time.time()
    changed = []
    for s in live:
        target = s.meta.get("tmux") or {}
        if not target and now - float(s.meta.get("created_at") or 0) < GRACE_S:
            continue
        if panes is None:
            why = "its tmux server is gone"
        elif s.id not in panes or (target.get("pane") and panes[s.id].pane_id != target.get("pane")):
            why = "its tmux window is gone"
        elif panes[s.id].dead:
            why = f"its worker died (exit {panes[s.id].dead_status})"
        else:
            continue
        reason = "crashed" if panes is not None and s.id in panes and panes[s.id].dead else "lost"
        if sessions.set_status(s.dir, "failed", reason=reason):
            events.append(s.dir, "error", error=why, source="reconcile")
            s.state = {**s.state, "status": "failed", "reason": reason}
            changed.append(s.id)
    return changed
