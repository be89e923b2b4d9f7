"""Pattern engines: each runs inside a tactical session and drives its child sessions."""

from __future__ import annotations

import importlib
from pathlib import Path

from scope_tui.store import sessions

# skill name -> module with `run(ctx) -> int`
ENGINES = {
    "rlm": "scope_tui.patterns.rlm.engine",
    "map-reduce": "scope_tui.patterns.engines.mapreduce",
    "maker-checker": "scope_tui.patterns.engines.maker_checker",
    "ralph": "scope_tui.patterns.engines.ralph",
    "dag": "scope_tui.patterns.engines.dag",
}


def run(session_dir: Path, ctx: object | None = None) -> int:
    """Run the engine named by the session's skill; returns the process exit code."""
    s = sessions.load_dir(session_dir)
    mod = ENGINES.get(str(s.meta.get("skill")))
    if mod is None:
        sessions.set_status(session_dir, "failed", reason=f"no engine for skill {s.meta.get('skill')!r}")
        return 2
    return int(importlib.import_module(mod).run(ctx if ctx is not None else session_dir))
