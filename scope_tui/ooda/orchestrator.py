"""The strategic level: the orchestrator that profiles a task, picks patterns and handles escalations."""

from __future__ import annotations

from pathlib import Path

from scope_tui.store import sessions


def run_strategic(session_dir: Path) -> int:
    """Run an orchestrator session (driver `orchestrator`); returns the process exit code."""
    sessions.set_status(session_dir, "failed", reason="the orchestrator is not built yet")
    return 1
