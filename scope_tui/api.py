"""The one facade both faces call: starting a session with everything it needs, and running a window's worker.

It composes the layers below (substrate, patterns, workers, ooda, agents) so that a key in the control
room and a command on the shell take exactly the same path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scope_tui.store import sessions
from scope_tui.store.project import Project


def spawn(
    project: Project, task: str, *, params: dict[str, Any] | None = None, **opts: Any
) -> sessions.Session:
    """Start a session; `opts` are substrate.spawn's keywords, `params` the pattern parameters.

    Returns the new session at once; raises UsageError / UnknownSession for bad input.
    """
    from scope_tui.substrate.spawn import launch
    from scope_tui.substrate.spawn import spawn as substrate_spawn

    opts = {k: v for k, v in opts.items() if v is not None}
    worktree = bool(opts.pop("worktree", False))
    s = substrate_spawn(project, task, params=params or None, launch_now=False, **opts)
    if worktree:
        from scope_tui.substrate.worktree import prepare_worktree

        prepare_worktree(project, s)
    return launch(project, s)


def run_worker(session_dir: Path) -> int:
    """What `scope worker DIR` does inside a tmux window: run the session's driver to its end."""
    from scope_tui import workers

    return workers.run(session_dir)
