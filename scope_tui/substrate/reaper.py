"""Called (through `scope reap`) by a worker window's shell or tmux's pane-died hook: a worker whose pane died without writing a terminal status crashed."""

from __future__ import annotations

import time
from pathlib import Path

from scope_tui.store import events, sessions

RECORD_WAIT_S = 5.0


def _pane_of(d: Path) -> str | None:
    """The pane meta.json names. A worker does not wait for its spawner to record it, so a worker that died
    at once may be reported before it is there: give the spawner a moment. (A supervisor's restart clears
    it too: a late report about the old pane then meets the new one, and is stale.)"""
    deadline = time.monotonic() + RECORD_WAIT_S
    while True:
        s = sessions.load_dir(d)
        pane = (s.meta.get("tmux") or {}).get("pane")
        if pane or s.corrupt or time.monotonic() > deadline:
            return pane
        time.sleep(0.02)


def reap(root: Path, sid: str, exit_status: str, signal: str = "", pane: str = "") -> bool:
    """Mark session `sid` failed (reason `crashed`) unless it already reached a terminal status.

    `pane` is the pane that died: when the session has moved to another pane since (a supervisor
    relaunched it under the same id), the report is about the old run and is ignored.
    """
    d = root / "sessions" / sid
    if not d.is_dir():
        return False
    if pane and _pane_of(d) != pane:
        return False
    code = int(exit_status) if exit_status.lstrip("-").isdigit() else None
    sig = int(signal) if signal.isdigit() else None
    why = f"worker died (signal {sig})" if sig else f"worker exited ({code}) without a result"
    if sessions.set_status(d, "failed", reason="crashed", exit_code=code if sig is None else -sig):
        events.append(d, "error", error=why, source="pane-died")
        return True
    return False
