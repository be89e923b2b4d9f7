"""Plain-text rendering shared by the commands: ages, the poll table, the tree."""

from __future__ import annotations

import time
from typing import Any


def age(since: float | None, now: float | None = None) -> str:
    if not since:
        return "-"
    d = max(0, int((now or time.time()) - since))
    if d < 60:
        return f"{d}s"
    if d < 3600:
        return f"{d // 60}m{d % 60:02d}s"
    if d < 86400:
        return f"{d // 3600}h{(d % 3600) // 60:02d}m"
    return f"{d // 86400}d{(d % 86400) // 3600:02d}h"


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
