"""The project's private tmux server, started with the pane-died hook that marks crashed workers."""

from __future__ import annotations

import shlex
import sys

from scope_tui.store.project import Project
from scope_tui.tmux import Tmux, socket_for


def tmux_for(project: Project) -> Tmux:
    return Tmux(socket_for(project.home))


def reaper_command(project: Project) -> str:
    """The shell command tmux runs when a pane dies; tmux fills in the window name and exit status.

    Every pane death fires it, and nearly all are workers that wrote their own final status: a grep
    settles those without starting Python (a session with an agent always goes to `scope reap`, which
    runs the agent's update once if nobody has yet).
    """
    d = shlex.quote(str(project.root / "sessions")) + "/'#{window_name}'"
    settled = (
        f"grep -qE '\"status\": \"(done|failed|killed|escalated)\"' {d}/state.json 2>/dev/null"
        f" && ! grep -q '\"agent\": \"' {d}/meta.json 2>/dev/null"
    )
    return settled + " || " + " ".join(
        [
            shlex.quote(sys.executable),
            "-m",
            "scope_tui",
            "reap",  # hidden CLI command -> api.reap: substrate.reaper, then the session's agent update
            shlex.quote(str(project.root)),
            "'#{window_name}'",
            "'#{pane_dead_status}'",
            "'#{pane_dead_signal}'",
            "'#{pane_id}'",  # a report for a pane the session has left (a restart) is stale
            "2>>" + shlex.quote(str(project.root / "reaper.log")),  # tmux shows nobody run-shell's errors
        ]
    )


def ensure(project: Project) -> Tmux:
    t = tmux_for(project)
    t.ensure_server(pane_died_hook=reaper_command(project), banner=f"Scope tmux server for {project.home}")
    return t
