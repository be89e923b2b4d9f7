"""What a supervising session does to a child or for the person: stop a child, tell the person, guard a loop.

Shared by the tactical level (`supervisor`, `supervised`) and the strategic one (`orchestrator`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scope_tui.ooda.loop import Loop
from scope_tui.ooda.monitor import Observation
from scope_tui.store import events, sessions
from scope_tui.store.project import Project

# A child waiting this long for a person's answer gets an alert (an `escalation` event to the person).
ANSWER_AFTER = 120.0


def guarded(session_dir: Path, body: Callable[[], int]) -> int:
    """Run a loop; an unexpected error ends the session failed with the error, never silently."""
    try:
        return body()
    except KeyboardInterrupt:
        sessions.set_status(session_dir, "killed", reason="interrupted")
        return 130
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}"
        events.append(session_dir, "error", error=msg, source="ooda")
        sessions.set_status(session_dir, "failed", reason=f"supervision error: {msg}")
        print(f"scope: supervision error: {msg}", flush=True)
        return 1


def stop(project: Project, sid: str, why: str, status: str = "killed") -> bool:
    """Stop a live child: mark it `status` first (so a late write from its worker is dropped), then close
    its window. True when it was live."""
    d = project.session_dir(sid)
    s = sessions.load_dir(d)
    if s.terminal or not sessions.set_status(d, status, reason=why):
        return False
    window = (s.meta.get("tmux") or {}).get("window")
    if window:
        from scope_tui.substrate.server import tmux_for

        tmux_for(project).kill_window(window)
    return True


def tell_person(loop: Loop, session_dir: Path, o: Observation) -> None:
    """A child's question has waited too long: an alert for the person; the child is left as it is."""
    loop.orient(f"{o.child} waits for an answer", o.details, child=o.child)
    loop.decide("tell_person", f"nobody answered {o.child}: answer with 'scope redirect {o.child} ...'")
    events.append(
        session_dir,
        "escalation",
        reason="missing_context",
        details=f"{o.child} asks: {o.details}",
        evidence=[{"session": o.child}],
        to="person",
    )
