"""Reconciliation: a session that claims to run but whose pane or tmux server is gone is `failed` (`lost`)."""

from __future__ import annotations

import os
import time

from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from scope_tui.substrate.server import tmux_for

# A session younger than this may not have its window yet (spawn writes the folder first).
GRACE_S = 5.0


def _alive(pid: int | None) -> bool:
    """False when `pid` is gone or a zombie; tmux can take seconds to report a pane whose worker was killed."""
    if not pid:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


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
        elif not _alive(panes[s.id].pid):
            why = "its worker process is gone (tmux has not noticed yet)"
        else:
            continue
        reason = (
            "lost" if panes is None or s.id not in panes or why.startswith("its tmux window") else "crashed"
        )
        if sessions.set_status(s.dir, "failed", reason=reason):
            events.append(s.dir, "error", error=why, source="reconcile")
            s.state = {**s.state, "status": "failed", "reason": reason}
            changed.append(s.id)
    return changed
