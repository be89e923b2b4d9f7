"""How a session's status and age read, in both faces: one glyph a status, the words for it, an age.

The room's glyphs and ages are the canonical ones; `scope poll`, `scope tree` and the control room all
read them from here (plain strings, no Rich: the faces add their own colour).
"""

from __future__ import annotations

GLYPHS = {
    "pending": "○",
    "running": "●",
    "waiting": "◔",
    "needs_input": "◆",
    "done": "✓",
    "failed": "✗",
    "killed": "■",
    "escalated": "▲",
    "corrupt": "⚠",
}


def glyph(status: str) -> str:
    """The glyph of `status`; "?" for a status this table does not know."""
    return GLYPHS.get(status, "?")


def words(status: str) -> str:
    """`status` as a person reads it: "needs input" for needs_input."""
    return status.replace("_", " ")


def age(seconds: float) -> str:
    """An age as both faces show it: 42s, 3m07s, 12m (past ten minutes seconds are noise), 2h05m, 3d04h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 3600:  # past ten minutes, seconds are noise (and a row that changes each second costs a repaint)
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
