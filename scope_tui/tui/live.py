"""What the room asks tmux: the selected session's pane, and whether live sessions still have windows.

`RoomTmux` holds one tmux control-mode client on the project's server (substrate.control_mode): the pane
on show is captured through it only after tmux said that pane printed (at most PANE_HZ a second), and
windows that close or panes that die arrive as notifications, each followed by one reconcile through
the same client. A death tmux never tells of is caught by the net: one reconcile through the client every
NET_S, on a reconnect and when the terminal regains focus. Idle, it costs no process, and one `list-panes`
down the client's pipe every NET_S. Where control mode cannot be had (an old
tmux), `Polling` is the path, said once in the banner: a `capture-pane` process a few times a second and
a reconcile sweep every few seconds. Results come back to the app as `PaneOutput` and `Banner`.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
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
NET_S = 30.0  # the slow reconcile through the control client, for a death tmux did not notify
GONE = (
    "tmux server for this project is not running: live sessions are marked lost; "
    "R resumes the selected one (scope resume --all: every one), n spawns a new one"
)


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
        self._last: tuple[str, str] = ("", "")
        self.note = ""  # why the room polls (said in the banner while nothing worse is)
        self._timers: list[Any] = []

    def start(self, *, pane: bool, sweep: bool) -> None:
        if pane:
            self._timers.append(self.app.set_interval(1 / PANE_HZ, self.tick_pane))
        if sweep:
            self._timers.append(self.app.set_interval(SWEEP_S, self.tick_sweep))

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
        # with nothing live the banner stays as it is: "the server is gone" stays true until one is back

    def sweep(self, live: list[sessions.Session]) -> None:
        """One tmux call for every live session (reconcile's list-panes); the banner needs none: a stat of
        the server's socket says whether it is there."""
        from scope_tui import api

        banner = GONE if not api.tmux_running(self.project) else self.note
        try:
            api.reconcile(self.project, live)
        except ScopeError as exc:
            banner = str(exc)
        self.app.post_message(Banner(banner))

    def stop(self) -> None:
        for t in self._timers:
            t.stop()
        self._timers.clear()


class RoomTmux:
    """The room's link to tmux: a control client while the project's server is there, else polling.

    `changed()` after the sessions changed (a server may have appeared); `follow()` when the pane on
    show may have changed; `gone_check()` reconciles once through the client.
    """

    def __init__(
        self,
        app: App[Any],
        project: Project,
        *,
        shown: Callable[[], sessions.Session | None],
        live: Callable[[], list[sessions.Session]],
        pane: bool,
        sweep: bool,
    ) -> None:
        self.app = app
        self.project = project
        self.shown = shown
        self.live = live
        self.pane_on, self.sweep_on = pane, sweep
        self.polling = Polling(app, project, shown=shown, live=live)
        self.client: Any = None  # api.tmux_control's client while control mode is on
        self.mode = "idle"  # idle (no server to ask), starting, control, polling
        self.broken = ""  # why control mode cannot be had on this machine: poll for good
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ctx: contextvars.Context | None = None
        self._following: tuple[str, str] | None = None  # (sid, pane) whose output is listened to
        self._last_capture = 0.0
        self._in_flight = False
        self._dirty = False
        self._timer: asyncio.TimerHandle | None = None
        self._check: asyncio.TimerHandle | None = None
        self._net: asyncio.TimerHandle | None = None
        self._last: tuple[str, str] = ("", "")

    @property
    def commands(self) -> Any:
        """A Tmux for the room's own commands (kill, reconcile): through the client while it is there."""
        c = self.client
        return c.commands if c is not None and c.alive else None

    def up(self) -> bool:
        from scope_tui import api

        return api.tmux_running(self.project)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ctx = contextvars.copy_context()  # the app's (active_app): timers set from callbacks need it
        if not (self.pane_on or self.sweep_on):
            return
        self.changed()
        if self.mode == "idle" and self.live():
            self._poll("")  # live sessions and no server: the sweep says so and marks them lost

    def changed(self) -> None:
        """Start the control client when the server is there and something is live (once at a time)."""
        if self.mode in ("starting", "control") or not (self.pane_on or self.sweep_on):
            return
        if self.broken:
            if self.mode != "polling":
                self._poll(self.broken)
            return
        if not any((s.meta.get("tmux") or {}).get("pane") for s in self.live()):
            return
        if not self.up():
            if self.mode != "polling":
                self._poll("")
            return
        self.mode = "starting"
        self.app.run_worker(self._start_client, thread=True, group="tmux-control", exclusive=True)

    def _start_client(self) -> None:
        from scope_tui import api

        try:
            client = api.tmux_control(self.project, self)
        except (OSError, ScopeError) as exc:
            gone = not self.up()
            self._call(self._fallback, "" if gone else f"tmux control mode unavailable ({exc}); polling tmux")
            return
        self.client = client
        self._call(self._started)

    def _started(self) -> None:
        self.mode = "control"
        self.polling.stop()
        self.polling.note = ""
        self.app.post_message(Banner(""))
        self._following = None
        self.follow()
        self.gone_check()  # what ended while nobody listened

    def _fallback(self, why: str) -> None:
        """Control mode broke: poll, and say why once (unless the server is simply gone)."""
        self.client = None
        if why:
            self.broken = why
        self._poll(why)

    def _poll(self, why: str) -> None:
        if self.mode == "polling":
            return
        self.mode = "polling"
        self.polling.note = why
        self.polling.start(pane=self.pane_on, sweep=self.sweep_on)
        if why:
            self.app.post_message(Banner(why))

    # -- the pane on show --------------------------------------------------------------------------
    def follow(self) -> None:
        """Listen to the pane on show (and capture it now), or to none."""
        if self.mode != "control" or self.client is None:
            if self.mode == "polling":
                self.polling.pane_forget()
            return
        s = self.shown() if self.pane_on else None
        target = live_target(s)
        want = (s.id, target) if s is not None and target else None
        if want == self._following:
            return
        self._following = want
        self.client.listen(want[1] if want else None)
        if want:
            self._last = ("", "")
            self._capture()

    def output(self, pane: str) -> None:  # reader thread
        self._call(self._output_seen, pane)

    def _output_seen(self, pane: str) -> None:
        if self._following is None or self._following[1] != pane:
            return
        if self._in_flight:
            self._dirty = True
            return
        wait = self._last_capture + 1 / PANE_HZ - time.monotonic()
        if wait <= 0:
            self._capture()
        elif self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(wait, self._capture)

    def _capture(self) -> None:
        self._timer = None
        if self._following is None or self.client is None:
            return
        sid, pane = self._following
        self._in_flight, self._dirty = True, False
        self._last_capture = time.monotonic()

        def then(ran: Any) -> None:  # reader thread
            if ran.returncode == 0:
                text = ran.stdout.decode(errors="replace")
                if (sid, text) != self._last:
                    self._last = (sid, text)
                    self.app.post_message(PaneOutput(sid, text))
            self._call(self._captured)

        self.client.send(["capture-pane", "-p", "-e", "-t", pane], then)

    def _captured(self) -> None:
        self._in_flight = False
        if self._dirty:
            self._output_seen(self._following[1] if self._following else "")

    # -- ends ----------------------------------------------------------------------------------------
    def window_closed(self, window: str) -> None:  # reader thread
        self._call(self._soon_check)

    def pane_died(self, pane: str) -> None:  # reader thread
        self._call(self._soon_check)

    def _soon_check(self) -> None:
        if self._check is None and self._loop is not None:
            self._check = self._loop.call_later(0.05, self.gone_check)  # a kill closes a few at once

    def gone_check(self) -> None:
        """One reconcile of the live sessions, through the control client; the net's next one NET_S on."""
        self._check = None
        if self._net is not None:
            self._net.cancel()
        self._net = None
        if self.mode == "control" and self._loop is not None:
            self._net = self._loop.call_later(NET_S, self.gone_check)
        live, tmux = self.live(), self.commands
        if not live or tmux is None or not self.sweep_on:
            return

        def check() -> None:
            from scope_tui import api

            try:
                api.reconcile(self.project, live, tmux=tmux)  # what it marks arrives as file events
            except ScopeError as exc:
                self.app.post_message(Banner(str(exc)))
                return
            if not self.up():  # the windows closed because the server is going
                self.app.post_message(Banner(GONE))

        self.app.run_worker(check, thread=True, group="sweep", exclusive=True)

    def exited(self, reason: str) -> None:  # reader thread
        self._call(self._client_exited, reason)

    def _client_exited(self, reason: str) -> None:
        self.client = None
        self._following = None
        if self._net is not None:
            self._net.cancel()
            self._net = None
        if self.mode != "control":
            return
        self.mode = "idle"

        # the server gone: poll until it is back, the sweep saying so and marking the sessions lost; else
        # tmux refused us: poll for good, and say why
        gone = not self.up()
        self._fallback("" if gone else f"tmux control mode ended ({reason}); polling tmux")

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args, context=self._ctx)
            except RuntimeError:
                pass  # the loop closed meanwhile: the room is gone

    def stop(self) -> None:
        self.polling.stop()
        if self._timer is not None:
            self._timer.cancel()
        for t in (self._check, self._net):
            if t is not None:
                t.cancel()
        c, self.client = self.client, None
        if c is not None:
            c.close()  # nothing more is delivered to a room that is gone
