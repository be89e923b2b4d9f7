"""What the room asks tmux: the selected session's pane, and whether live sessions still have windows.

The polling path: a capture of the pane on show a few times a second and a reconcile sweep every few
seconds, each a tmux process. Results come back to the app as `PaneOutput` and `Banner` messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scope_tui.store import sessions
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project
from scope_tui.tui.messages import Banner, PaneOutput

if TYPE_CHECKING:
    from textual.app import App

PANE_HZ = 4
SWEEP_S = 2.0
GONE = "tmux server for this project is not running: live sessions are marked lost; n spawns a new one"


def live_target(s: sessions.Session | None) -> str | None:
    """The tmux pane of `s` when it has a live one to show, else None (show its pane log)."""
    if s is None or s.terminal or s.corrupt:
        return None
    target = (s.meta.get("tmux") or {}).get("pane")
    return str(target) if target else None


class Polling:
    """Today's path: a `capture-pane` process at PANE_HZ for the pane on show, a sweep every SWEEP_S."""

    def __init__(
        self,
        app: App[Any],
        project: Project,
        *,
        shown: Callable[[], sessions.Session | None],
        live: Callable[[], list[sessions.Session]],
    ) -> None:
        self.app = app
        self.project = project
        self.shown = shown
        self.live = live
        self._busy = threading.Lock()
        self._last: tuple[str, str] = ("", "")

    def start(self, *, pane: bool, sweep: bool) -> None:
        if pane:
            self.app.set_interval(1 / PANE_HZ, self.tick_pane)
        if sweep:
            self.app.set_interval(SWEEP_S, self.tick_sweep)

    def tick_pane(self) -> None:
        s = self.shown()
        target = live_target(s)
        if s is not None and target:
            self.app.run_worker(lambda: self.capture(s.id, target), thread=True, group="pane", exclusive=True)

    def capture(self, sid: str, target: str) -> None:
        from scope_tui import api

        try:
            text = api.capture_pane(self.project, target)
        except ScopeError:
            return
        if (sid, text) != self._last:
            self._last = (sid, text)
            self.app.post_message(PaneOutput(sid, text))

    def pane_forget(self) -> None:
        self._last = ("", "")

    def tick_sweep(self) -> None:
        live = self.live()
        if live:
            self.app.run_worker(lambda: self.sweep(live), thread=True, group="sweep", exclusive=True)
        else:
            self.app.post_message(Banner(""))

    def sweep(self, live: list[sessions.Session]) -> None:
        """One tmux call for every live session (reconcile's list-panes); the banner needs none: a stat of
        the server's socket says whether it is there."""
        from scope_tui import api

        banner = GONE if not api.tmux_running(self.project) else ""
        try:
            api.reconcile(self.project, live)
        except ScopeError as exc:
            banner = str(exc)
        self.app.post_message(Banner(banner))

    def stop(self) -> None:
        pass
