"""The lifecycle of a task given to a persistent agent: prepared at spawn, learned from at the end."""

from __future__ import annotations

from pathlib import Path

from scope_tui.store.project import Project
from scope_tui.store.sessions import Session


def prepare_session(project: Project, session: Session) -> None:
    """Before launch: for a session with an agent, write prompt.md and pick the agent's own skill."""
    return None


def after_terminal(project: Project, session_dir: Path) -> None:
    """Once the session is terminal: the agent's update (experience, memory, skills, relationships)."""
    return None
