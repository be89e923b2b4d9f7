"""The one facade both faces call: starting a session with everything it needs, and running a window's worker.

It composes the layers below (substrate, patterns, gepa, workers, ooda, agents) so that a key in the
control room and a command on the shell take exactly the same path.
"""

from __future__ import annotations

import os
import sys

from scope_tui.store import sessions
from scope_tui.store.project import Project

TYPE_CHECKING = False  # typing and pathlib are not imported at run time: every process would pay for them
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from _typeshed import StrPath

# Skills that run as a pattern instance: a tactical session whose worker is the pattern's engine.
PATTERN_SKILLS = ("rlm", "map-reduce", "maker-checker", "ralph", "dag")


def spawn(
    project: Project, task: str, *, params: dict[str, Any] | None = None, **opts: Any
) -> sessions.Session:
    """Start a session; `opts` are substrate.spawn's keywords, `params` the pattern parameters.

    Returns the new session at once (its worker runs in a tmux window); raises UsageError /
    UnknownSession for bad input.
    """
    from scope_tui.substrate.spawn import launch
    from scope_tui.substrate.spawn import spawn as substrate_spawn

    opts = {k: v for k, v in opts.items() if v is not None}
    if opts.get("agent"):
        from scope_tui.agents.lifecycle import check

        check(opts["agent"])  # an unknown or retired agent is refused before a session folder exists
    worktree = bool(opts.pop("worktree", False))
    if opts.get("skill") and not opts.get("agent"):
        from scope_tui.patterns.skill_files import load

        load(project, str(opts["skill"]))  # an unknown skill is refused (exit 2) with the known ones named
    if opts.get("skill") in PATTERN_SKILLS and opts.get("driver") in (None, "pattern"):
        from scope_tui.patterns.engines import prepare_params

        params = prepare_params(str(opts["skill"]), params, opts)  # --cmd as worker template; DAG check
    if (
        opts.get("skill") in PATTERN_SKILLS
        and not opts.get("cmd")
        and opts.get("driver") in (None, "pattern")
    ):
        opts["driver"] = "pattern"
        opts.setdefault("level", "tactical")
    if opts.get("skill"):
        _choose_skill_version(project, task, params, opts)
    s = substrate_spawn(project, task, params=params or None, launch_now=False, **opts)
    if worktree:
        from scope_tui.substrate.worktree import prepare_worktree

        prepare_worktree(project, s)
    if s.meta.get("agent"):  # the agent layer is imported only for a task given to an agent
        from scope_tui.agents.lifecycle import prepare_session

        prepare_session(project, s)
    return launch(project, s)


def _choose_skill_version(
    project: Project, task: str, params: dict[str, Any] | None, opts: dict[str, Any]
) -> None:
    """Which version of the skill this task runs (GEPA's Pareto draw) and its task key, kept in meta.json
    as `skill_version` and `task_key` (DAG nodes and bench items pass their own key in params)."""
    from scope_tui.gepa.pareto import choose_version
    from scope_tui.gepa.scores import task_key

    key = str((params or {}).get("task_key") or opts.get("task_key") or task_key(task))
    opts["task_key"] = key
    if opts.get("skill_version") is None and "@" not in str(opts["skill"]):
        version = choose_version(project, str(opts["skill"]), key)
        if version is not None:
            opts["skill_version"] = version


def run_worker(session_dir: StrPath) -> int:
    """What `scope worker DIR` does inside a tmux window: run the session's driver to its end, then let
    the layers that learn from outcomes (skill scores, the agent's memory) see how it ended.

    Returns 0 exactly when the session's end is recorded (the driver's own exit code is in state.json);
    anything else sends the window's shell to the reaper (substrate.server.worker_command).
    """
    s = sessions.load_dir(session_dir)  # its pane log is attached already (tmux.Tmux.new_window)
    _hold_secret(s.path)
    driver = s.meta.get("driver")
    # a window's Python starts without site-packages (substrate.server.WORKER_CODE): a plain command
    # session needs only the standard library; models, skills and agents need what is installed
    if sys.flags.no_site and (driver != "command" or s.meta.get("skill") or s.meta.get("agent")):
        import site

        site.main()
    if driver == "pattern":
        from scope_tui.ooda.supervisor import run_tactical

        code = run_tactical(s.dir)
    elif driver == "orchestrator":
        from scope_tui.ooda.orchestrator import run_strategic

        code = run_strategic(s.dir)
    else:
        from scope_tui import workers

        code = workers.run(s)
    end = sessions.load_dir(s.path)
    if end.terminal:
        # only sessions that used a skill or an agent have anything to learn from (keeps plain workers lean)
        project = Project(os.path.dirname(os.path.dirname(end.path)))
        if end.meta.get("skill"):
            from scope_tui.gepa.scores import record_outcome

            record_outcome(project, end.dir)
        if end.meta.get("agent"):
            from scope_tui.agents.lifecycle import after_terminal

            after_terminal(project, end.dir)
        return 0
    return code or 1


def _hold_secret(session_dir: str) -> None:
    """The worker takes its session's secret from the 0600 file (never from an argv or tmux's
    environment): what it runs (Claude Code and its hooks, a command) presents it as SCOPE_SESSION_TOKEN."""
    try:
        with open(os.path.join(session_dir, sessions.TOKEN), encoding="utf-8") as fh:
            os.environ["SCOPE_SESSION_TOKEN"] = fh.read().strip()
    except OSError:
        os.environ.pop("SCOPE_SESSION_TOKEN", None)  # never a parent's secret


def kill(project: Project, sid: str, *, why: str = "killed by a person") -> list[str]:
    """Kill `sid` and its subtree (substrate.control.kill), then let each killed session's agent learn
    that it ended (the worker never reaches run_worker's end). Returns the killed ids."""
    from scope_tui.agents.lifecycle import after_terminal
    from scope_tui.substrate.control import kill as substrate_kill

    killed = substrate_kill(project, sid, why=why)
    for k in killed:
        after_terminal(project, project.session_dir(k))
    return killed


def reap(root: Path, sid: str, exit_status: str, signal: str = "", pane: str = "") -> bool:
    """What tmux's pane-died hook runs: mark a worker that died without a terminal status failed
    (crashed), then run its agent's update. True when this call marked it."""
    from scope_tui.substrate.reaper import reap as substrate_reap

    reaped = substrate_reap(root, sid, exit_status, signal, pane)
    d = root / "sessions" / sid
    # also when a reconcile sweep marked it first: the agent update runs once either way;
    # sessions without an agent never import the agent layer (the hook runs on every pane death)
    if d.is_dir() and sessions.load_dir(d).meta.get("agent"):
        from scope_tui.agents.lifecycle import after_terminal

        after_terminal(Project(root), d)
    return reaped


def approve_patch(project: Project, pid: str, *, by: str = "person", text: str | None = None) -> int:
    """Approve a pending patch (`text` replaces its proposed text); the version it produced
    (gepa.patches.approve)."""
    from scope_tui.gepa import patches

    return patches.approve(project, pid, by=by, text=text)


def reject_patch(project: Project, pid: str, reason: str, *, by: str = "person") -> dict[str, Any]:
    """Reject a pending patch with a reason; the patch (gepa.patches.reject)."""
    from scope_tui.gepa import patches

    return patches.reject(project, pid, reason, by=by)
