"""How a session's status looks, in both faces: one glyph a status, and the words for it.

The room's glyphs are the canonical set; `scope poll`, `scope tree` and the control room all read them
from here (plain strings, no Rich: the faces add their own colour).
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
