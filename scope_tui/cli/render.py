"""Plain-text rendering shared by the commands: ages, the poll table, the tree, and text from state made
safe for a terminal."""

from __future__ import annotations

import time
from typing import Any, TextIO

from scope_tui.store import glyphs
from scope_tui.store.glyphs import printable


class Escaping:
    """A text stream that writes through `printable`: stdout and stderr of the commands that print state."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(printable(text))

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...: the real stream's
        return getattr(self._stream, name)


def age(since: float | None, now: float | None = None, *, live: bool = False) -> str:
    """How long ago `since` was, as the room shows it (store.glyphs.age; to the minute for a live
    session); "-" when unknown."""
    if not since:
        return "-"
    return glyphs.age((now or time.time()) - since, live=live)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(out)


def money(x: Any) -> str:
    try:
        v = float(x or 0)
    except (TypeError, ValueError):
        return "-"
    return f"${v:.4f}" if v else "-"
