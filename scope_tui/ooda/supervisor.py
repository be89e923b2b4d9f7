"""The tactical level: the session that drives a pattern instance is its workers' supervisor."""

from __future__ import annotations

from pathlib import Path


def run_tactical(session_dir: Path) -> int:
    """Run a pattern session (driver `pattern`) under supervision; returns the process exit code."""
    from scope_tui.patterns import engines

    return engines.run(session_dir)
