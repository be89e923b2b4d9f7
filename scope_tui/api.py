"""The one facade both faces call: starting a session with everything it needs, and running a window's worker.

It composes the layers below (substrate, patterns, gepa, workers, ooda, agents) so that a key in the
control room and a command on the shell take exactly the same path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scope_tui.store import sessions
from scope_tui.store.project import Project

# Skills that run as a pattern instance: a tactical session whose worker is the pattern's engine.
PATTERN_SKILLS = ("rlm", "map-reduce", "maker-checker", "ralph", "dag")


def spawn(project: Project, task: str, *, params: dict[str, Any] | None = None, **opts: Any) -> sessions.Session:
    """Start a session; `opts` are substrate.spawn's keywords, `params` the pattern parameters.

    Returns the new session at once (its worker runs in a tmux window); raises UsageError /
    UnknownSession for bad input.
    """
    from scope_tui.agents.lifecycle import prepare_session
    from scope_tui.substrate.spawn import launch
    from scope_tui.substrate.spawn import spawn as substrate_spawn

    opts = {k: v for k, v in opts.items() if v is not None}
    worktree = bool(opts.pop("worktree", False))
    if opts.get("skill") in PATTERN_SKILLS and opts.get("driver") in (None, "pattern"):
        from scope_tui.patterns.engines import prepare_params

        params = prepare_params(str(opts["skill"]), params, opts)  # --cmd as worker template; DAG check
    if opts.get("skill") in PATTERN_SKILLS and not opts.get("cmd") and opts.get("driver") in (None, "pattern"):
        opts["driver"] = "pattern"
        opts.setdefault("level", "tactical")
    s = substrate_spawn(project, task, params=params or None, launch_now=False, **opts)
    if worktree:
        from scope_tui.substrate.worktree import prepare_worktree

        prepare_worktree(project, s)
    prepare_session(project, s)
    return launch(project, s)


def run_worker(session_dir: Path) -> int:
    """What `scope worker DIR` does inside a tmux window: run the session's driver to its end, then let
    the layers that learn from outcomes (skill scores, the agent's memory) see how it ended."""
    from scope_tui.agents.lifecycle import after_terminal
    from scope_tui.gepa.scores import record_outcome
    from scope_tui.store.project import Project

    from scope_tui.workers import wait_for_launch

    s = wait_for_launch(session_dir)
    driver = s.meta.get("driver")
    if driver == "pattern":
        from scope_tui.ooda.supervisor import run_tactical

        code = run_tactical(session_dir)
    elif driver == "orchestrator":
        from scope_tui.ooda.orchestrator import run_strategic

        code = run_strategic(session_dir)
    else:
        from scope_tui import workers

        code = workers.run(session_dir)
    project = Project(session_dir.parent.parent)
    if sessions.load_dir(session_dir).terminal:
        record_outcome(project, session_dir)
        after_terminal(project, session_dir)
    return code
