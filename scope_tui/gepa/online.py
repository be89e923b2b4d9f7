"""Online deviation checks at the point of action (the entry every worker calls before it acts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scope_tui.store.project import Project


def before_action(project: Project, session_dir: Path, action: dict[str, Any]) -> str | None:
    """Check `action` against the session's skill rules before it runs.

    `action` has a `kind` (spawn, peek, grep, partition, exec, tool, llm_call) and details (child task,
    context size, pattern, hits, ...). On a deviation: a `deviation` event, a micro-reflection (in the
    session's inbox for the built-in worker) and a patch proposal are written, and the reflection text is
    returned for the caller to deliver before the action (Claude Code's hook blocks the call with it).
    Returns None when the action follows the rules.
    """
    return None
