"""wait: block on file events until sessions finish; never a sleep loop."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from scope_tui.store import ids, sessions
from scope_tui.store.errors import UnknownSession, UsageError
from scope_tui.store.project import Project
from scope_tui.substrate.reconcile import reconcile
from scope_tui.substrate.spawn import current_session
from scope_tui.substrate.watch import ticks


@dataclass
class WaitResult:
    sessions: list[sessions.Session]
    timed_out: bool

    @property
    def exit_code(self) -> int:
        """0 all done, 1 any failed / killed / escalated / corrupt, 3 timeout."""
        if self.timed_out:
            return 3
        return 0 if all(s.status == "done" for s in self.sessions if s.terminal or s.corrupt) else 1


RECONCILE_S = 2.0  # how often a wait sweeps tmux for sessions whose pane or server is gone


def resolve(project: Project, targets: list[str]) -> Callable[[], list[sessions.Session]]:
    """Turn `3`, `3.1` and subtree patterns `3.*` into a function listing the sessions they name now."""
    if not targets:
        raise UsageError("wait needs at least one session id")
    exact: list[str] = []
    trees: list[str] = []
    for t in targets:
        if t.endswith(".*"):
            trees.append(ids.validate(t[:-2]))
        else:
            exact.append(ids.validate(t))
    for sid in exact + trees:
        if not os.path.lexists(project.session_path(sid)):  # a file there is a corrupt session, not none
            raise UnknownSession(sid)
    for root in trees:  # nothing to wait for: say so now rather than block on what may never come
        prefix = root + "."
        if not any(sid.startswith(prefix) for sid in sessions.list_ids(project)):
            raise UsageError(f"no sessions match {root}.* (session {root} has no children)")

    def current() -> list[sessions.Session]:
        from scope_tui.substrate.resume import follow

        out = [sessions.load_dir(project.session_dir(follow(project, s))) for s in exact]
        for root in trees:
            out += [s for s in sessions.list_all(project) if ids.is_descendant(s.id, root) and s.id != root]
        return out

    return current


def wait(
    project: Project,
    targets: list[str],
    *,
    timeout: float | None = None,
    any_: bool = False,
    on_needs_input: Callable[[sessions.Session], None] | None = None,
) -> WaitResult:
    """Block until every named session (or, with `any_`, one) is terminal, or `timeout` seconds pass."""
    current = resolve(project, targets)
    me = current_session(project)
    if me is not None:
        sessions.set_status(project.session_dir(me), "waiting", reason=f"waiting on {' '.join(targets)}")
    told: set[str] = set()
    deadline = None if timeout is None else time.monotonic() + timeout
    last_reconcile = 0.0
    try:
        # A change wakes this at once and the sessions are read again; between changes a tick only
        # checks the deadline, and every RECONCILE_S a sweep finds what writes no file (a server gone).
        gen = ticks(project.sessions, tick_ms=250)
        changed = True
        now_list: list[sessions.Session] = []
        while True:
            sweep = time.monotonic() - last_reconcile >= RECONCILE_S
            if changed or sweep:
                now_list = current()
                if sweep:
                    last_reconcile = time.monotonic()
                    if reconcile(project, now_list):
                        now_list = current()
                for s in now_list:
                    if s.status == "needs_input" and s.id not in told:
                        told.add(s.id)
                        (on_needs_input or _tell_needs_input)(s)
                finished = [s for s in now_list if s.terminal or s.corrupt]
                if now_list and (len(finished) == len(now_list) or (any_ and finished)):
                    return WaitResult(finished if any_ else now_list, False)
            if deadline is not None and time.monotonic() >= deadline:
                return WaitResult(now_list, True)
            changed = next(gen)
    finally:
        if me is not None:
            sessions.update_state(project.session_dir(me), status="running", reason=None)


def _tell_needs_input(s: sessions.Session) -> None:
    print(
        f"scope: session {s.id} needs input: {s.state.get('reason') or ''} (answer with 'scope redirect {s.id} ...')",
        file=sys.stderr,
    )
