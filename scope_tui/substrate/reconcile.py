"""Reconciliation: a session that claims to run but whose pane or tmux server is gone is `failed` (`lost`)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from scope_tui.store import events, sessions
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project
from scope_tui.substrate.server import tmux_for
from scope_tui.tmux import Tmux, server_gone, socket_path

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


_told: set[str] = set()


def _tell_once(message: str) -> None:
    if message not in _told:
        _told.add(message)
        print(f"scope: {message}", file=sys.stderr)


def reconcile(
    project: Project,
    listed: list[sessions.Session] | None = None,
    *,
    tell: Callable[[str], None] | None = None,
    tmux: Tmux | None = None,
) -> list[str]:
    """Check every live session against one `list-panes -a` call; returns the ids marked failed.

    `lost` is a monitor's guess, as in OTP: the worker's own final write still wins over it
    (sessions.update_state). A session whose server this process cannot reach (another TMUX_TMPDIR, a
    socket it may not open) is marked nothing, and `tell` (default: stderr, once) hears "server
    unreachable". Costs no tmux call at all when no session claims to be alive. `tmux`: ask through it
    (the control room's control-mode client) instead of starting a tmux process.
    """
    listed = sessions.list_all(project) if listed is None else listed
    live = [s for s in listed if not s.corrupt and not s.terminal]
    if not live:
        return []
    t = tmux or tmux_for(project)
    here = socket_path(t.socket)
    unreachable = [s for s in live if (s.meta.get("tmux") or {}).get("socket_path") not in (None, here)]
    live = [s for s in live if s not in unreachable]
    panes = t.list_panes() if live else None
    if live and panes is None and server_gone(t.socket) is None:
        unreachable += live  # a socket that is there but will not let us in: not gone
        live = []
    if unreachable:
        why = (
            f"tmux server unreachable from here (socket {here}); sessions "
            f"{' '.join(s.id for s in unreachable[:5])}{' ...' if len(unreachable) > 5 else ''} left as they are"
        )
        (tell or _tell_once)(why)
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
        try:
            if not sessions.set_status(s.dir, "failed", reason=reason):
                continue
            s.state = {**s.state, "status": "failed", "reason": reason}
            changed.append(s.id)
            events.append(s.dir, "error", error=why, source="reconcile")
        except ScopeError:  # its events.jsonl is a FIFO, the disk is full: this one session, not the rest
            continue
    return changed
