"""kill, redirect, attach and clean: what a person does to running sessions, from the CLI or the app."""

from __future__ import annotations

import time

from scope_tui.store import events, ids, sessions
from scope_tui.store.errors import CorruptFile, UsageError
from scope_tui.store.files import WriteFailed
from scope_tui.store.project import Project
from scope_tui.substrate.server import tmux_for
from scope_tui.tmux import Tmux

# Drivers that read their terminal but have no supervisor of ours to type for them, so a redirect is
# pasted into the pane as well as dropped in the inbox (the claude driver types its inbox itself).
PASTE_DRIVERS = ("command",)


def kill(
    project: Project, sid: str, *, why: str = "killed by a person", tmux: Tmux | None = None
) -> list[str]:
    """Kill `sid` and its whole subtree, deepest first: each live one's window is closed first, then it
    is marked `killed`, so a full disk never leaves a worker running.

    History stays on disk. Returns the ids that were killed; raises WriteFailed (after killing them all)
    when a `killed` could not be recorded.
    """
    tree = sessions.subtree(project, sid)
    t = tmux or tmux_for(project)  # the control room's client, or the server directly
    killed = []
    failed: Exception | None = None
    for s in sorted(tree, key=lambda x: (-ids.depth(x.id), ids.sort_key(x.id))):
        if s.terminal:
            continue
        window = (s.meta.get("tmux") or {}).get("window")
        if window:  # a corrupt session's window too, when its meta.json says where it is
            t.kill_window(window)
        if s.corrupt:
            continue
        try:
            if sessions.set_status(s.dir, "killed", reason=why):
                killed.append(s.id)
        except (WriteFailed, CorruptFile) as exc:  # its window is closed; say it could not be recorded
            killed.append(s.id)
            failed = failed or exc
    if failed is not None:
        raise WriteFailed.after(failed, f"killed {' '.join(killed)}, but")
    return killed


def redirect(project: Project, sid: str, message: str) -> sessions.Session:
    """Deliver `message` to a live session: an inbox file and a `redirect` event, pasted for terminal drivers."""
    if not message.strip():
        raise UsageError("the redirect message is empty")
    s = sessions.load(project, sid)
    if s.corrupt:
        raise UsageError(f"session {sid} is corrupt ({s.corrupt}); nothing to redirect")
    if s.terminal:
        raise UsageError(f"session {sid} is {s.status}; only a live session can be redirected")
    pane = (s.meta.get("tmux") or {}).get("pane")
    paste = bool(pane) and s.meta.get("driver") in PASTE_DRIVERS
    sessions.put_message(s.dir, "redirect", message, pasted=paste)
    events.append(s.dir, "redirect", message=message, chars=len(message))
    if paste and pane:
        tmux_for(project).paste(str(pane), message)
    return s


def attach_argv(project: Project, sid: str) -> list[str]:
    """The tmux command that shows session `sid`; raises UsageError when it has no window any more."""
    s = sessions.load(project, sid)
    window = (s.meta.get("tmux") or {}).get("window")
    panes = tmux_for(project).list_panes() if window else None
    if not window or panes is None or s.id not in panes or panes[s.id].window_id != window:
        raise UsageError(f"session {sid} has no tmux window any more; read {s.dir / sessions.PANE_LOG}")
    return tmux_for(project).attach_argv(window)


def parse_age(text: str) -> float:
    """'30s', '10m', '2h', '7d' or plain seconds, as seconds; UsageError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    try:
        if t and t[-1] in units:
            return float(t[:-1]) * units[t[-1]]
        return float(t)
    except ValueError:
        raise UsageError(f"bad age {text!r}: use e.g. 30s, 10m, 2h or 7d") from None


def remove_worktree(s: sessions.Session) -> bool:
    """Remove a finished session's git worktree, keeping its branch (leftover work is committed onto it)."""
    from scope_tui.substrate.worktree import remove

    return remove(s)


def clean(project: Project, older_than: float = 0.0) -> list[str]:
    """Close the windows (and worktrees) of finished sessions older than `older_than` seconds; history stays."""
    listed = sessions.list_all(project)
    panes = tmux_for(project).list_panes() or {}
    now = time.time()
    cleaned = []
    for s in listed:
        if s.corrupt or not s.terminal:
            continue
        if now - float(s.state.get("updated_at") or 0) < older_than:
            continue
        did = False
        window = (s.meta.get("tmux") or {}).get("window")
        if window and s.id in panes and panes[s.id].window_id == window:
            tmux_for(project).kill_window(window)
            did = True
        did = remove_worktree(s) or did
        if did:
            events.append(s.dir, "clean", window=window)
            cleaned.append(s.id)
    return cleaned
