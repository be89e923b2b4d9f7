"""The project's private tmux server, started with the pane-died hook that marks crashed workers."""

from __future__ import annotations

import os
import sys

import scope_tui
from scope_tui.procs import quote
from scope_tui.store.project import Project
from scope_tui.tmux import Tmux, literal, socket_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _typeshed import StrPath


def tmux_for(project: Project) -> Tmux:
    return Tmux(socket_for(project.home_path))


def reap_shell(project: Project, sid: str, status: str, signal: str, pane: str, *, hook: bool = False) -> str:
    """A shell line that marks session `sid` crashed unless its worker settled it.

    A worker exits 0 exactly when it recorded its session's end (the command's own exit code is in
    state.json), so a test of the exit status, a shell builtin, settles nearly every window without
    starting a process; `scope reap` checks state.json itself for the rest. The arguments are shell
    words: tmux formats in the pane-died hook (`hook`: the paths are escaped for tmux), variables in
    the window.
    """

    def path(p: str) -> str:
        return literal(quote(p)) if hook else quote(p)

    reap = " ".join(
        [
            path(sys.executable),
            "-m",
            "scope_tui",
            "reap",  # hidden CLI command -> api.reap: substrate.reaper, then the session's agent update
            path(project.path),
            sid,
            status,
            signal,
            pane,  # a report for a pane the session has left (a restart) is stale
            "2>>" + path(os.path.join(project.path, "reaper.log")),  # nobody sees these errors otherwise
        ]
    )
    return f"[ {status} = 0 ] || {{ umask 077; {reap}; }}"  # reaper.log is 0600, as all state


def reaper_command(project: Project) -> str:
    """What tmux's pane-died hook runs: the second line of defence, after the window's own shell."""
    return reap_shell(
        project,
        "'#{window_name}'",
        "'#{pane_dead_status}'",
        "'#{pane_dead_signal}'",
        "'#{pane_id}'",
        hook=True,
    )


# The worker's Python starts with -S and finds scope_tui where this process found it (argv[1], after the
# standard library, where site would put it): site's set-up (site-packages, .pth files) cost every window
# ~4 ms, and a command session needs none of it; the other drivers run site.main() once they know they
# need it (api.run_worker). -P keeps the window's folder off sys.path: a session working in a checkout of
# Scope runs the installed Scope, not the checkout's. `python -c`, not `-m scope_tui worker`: runpy's
# imports would cost more.
FIND_SCOPE = "import sys; sys.path.append(sys.argv[1]); "
WORKER_CODE = FIND_SCOPE + "import scope_tui.__main__ as scope; sys.exit(scope.worker(sys.argv[2:]))"
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(scope_tui.__file__)))


def worker_command(project: Project, sid: str, session_dir: StrPath) -> str:
    """The shell line a session's window runs: the worker, then (it was killed, even with kill -9) the
    reaper. tmux's pane-died hook alone is not enough: it sometimes never fires for a killed process."""
    py = quote(sys.executable)
    return (
        f"{py} -P -S -c {quote(WORKER_CODE)} {quote(PACKAGE_ROOT)} {quote(os.fspath(session_dir))}; "
        "rc=$?; sig=; "
        f'[ "$rc" -gt 128 ] && sig=$((rc - 128)); '
        + reap_shell(project, quote(sid), '"$rc"', '"$sig"', '"$TMUX_PANE"')
        + '; exit "$rc"'
    )


def ensure(project: Project) -> Tmux:
    t = tmux_for(project)
    t.ensure_server(
        pane_died_hook=reaper_command(project), banner=f"Scope tmux server for {project.home_path}"
    )
    return t
