"""How a session's status and age read, in both faces: one glyph a status, the words for it, an age.

The room's glyphs and ages are the canonical ones; `scope poll`, `scope tree` and the control room all
read them from here (plain strings, no Rich: the faces add their own colour), and text from state is
made safe for a terminal here too (`printable`).
"""

from __future__ import annotations

# Control characters (C0 but newline and tab, DEL, C1) as escapes: a task, a reason or a result written
# by a model must not drive the person's terminal (`\e]0;OWNED\a` would retitle it, others worse)
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)] if c not in (0x09, 0x0A)}


def printable(text: str) -> str:
    """`text` with every control character but newline and tab written as `\\xNN` (both faces)."""
    return text.translate(_ESCAPES)


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


def age(seconds: float, *, live: bool = False) -> str:
    """An age as both faces show it: 42s, 3m07s, 12m (past ten minutes seconds are noise), 2h05m, 3d04h.

    A live session's age keeps moving, so it reads to the minute (<1m, 3m, 2h05m): a row on screen whose
    text changed every second cost the room a repaint a second. A finished one's run time stays exact.
    """
    s = max(0, int(seconds))
    if live and s < 3600:
        return f"{s // 60}m" if s >= 60 else "<1m"
    if s < 60:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
