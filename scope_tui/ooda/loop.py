"""Visible thinking: a loop writes its phase to state.json and each orientation and decision as an event.

Every level (orchestrator, supervisor) thinks through one `Loop`, so the control room shows the phase of
every node live and `scope log ID --type orientation,decision` prints why each thing was done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scope_tui.store import events, sessions


class Loop:
    """The OODA record of one session. Phases change only when something happens; idle means observe."""

    def __init__(self, session_dir: Path) -> None:
        self.dir = session_dir
        self._phase: str | None = None

    def _enter(self, phase: str, why: str) -> None:
        if phase != self._phase:
            self._phase = phase
            sessions.set_phase(self.dir, phase, why)

    def observe(self, why: str = "watching") -> None:
        self._enter("observe", why)

    def orient(self, summary: str, why: str, **fields: Any) -> dict[str, Any]:
        """Record what the loop made of what it saw; returns the `orientation` event."""
        self._enter("orient", why)
        return events.append(self.dir, "orientation", summary=summary, why=why, **fields)

    def decide(self, what: str, why: str, **fields: Any) -> dict[str, Any]:
        """Record a decision (`what`, the same field the pattern engines use) and its one-line reason."""
        self._enter("decide", why)
        return events.append(self.dir, "decision", what=what, why=why, **fields)

    def act(self, why: str) -> None:
        self._enter("act", why)
