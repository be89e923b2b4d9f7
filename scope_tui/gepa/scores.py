"""Per-instance scores of skill versions, recorded when a session ends."""

from __future__ import annotations

from pathlib import Path

from scope_tui.store.project import Project


def record_outcome(project: Project, session_dir: Path) -> None:
    """Record the finished session's outcome (success, deviations, cost) for its skill version."""
    return None
