"""The control room: a live OODA tree, the selected agent's pane, alerts, pending patches, and keys.

The app composes the panels (tui/widgets/, one file each), routes their messages (tui/messages.py),
and keeps the bindings and actions. It never writes a state file itself: every key calls the API the
CLI calls (scope_tui.api, substrate.control, gepa.patches, store.config). The tree is driven by one
watcher of `.scope/` (tui/watcher.py); what tmux is asked lives in tui/live.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, TabbedContent

from scope_tui.store import config, sessions
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project
from scope_tui.tui import labels
from scope_tui.tui.actions import RoomActions
from scope_tui.tui.commands import ScopeCommands
from scope_tui.tui.index import Change, Index
from scope_tui.tui.live import RoomTmux, live_target
from scope_tui.tui.messages import Banner, FilesChanged, JumpToSession, PaneOutput, SessionHighlighted
from scope_tui.tui.watcher import StateWatcher
from scope_tui.tui.widgets.alerts import AlertsPanel
from scope_tui.tui.widgets.details import DetailsTabs
from scope_tui.tui.widgets.keys_footer import KeysFooter
from scope_tui.tui.widgets.patches import PatchPanel
from scope_tui.tui.widgets.phone_bar import PhoneBar
from scope_tui.tui.widgets.session_tree import SessionTree, visible_ids
from scope_tui.tui.widgets.topbar import Banner as BannerBar
from scope_tui.tui.widgets.topbar import TopBar

RECHECK_S = (0.1, 0.4, 1.5)
INLINE_PATHS = 24
DEFER_S = 0.3  # the events of finished sessions are read this long after the tree is shown


class ScopeApp(RoomActions):
    CSS_PATH = "app.tcss"
    TITLE = "Scope"
    COMMANDS = App.COMMANDS | {ScopeCommands}
    # Under 70 columns (a phone through `scope serve`) app.tcss stacks the panels: Screen.-narrow.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (70, "-wide")]
    BINDINGS = [
        Binding("n", "spawn", "Spawn", id="spawn"),
        Binding("k", "kill", "Kill", id="kill"),
        Binding("r", "redirect", "Redirect", id="redirect"),
        Binding("i", "answer", "Answer", id="answer"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("h", "hide_finished", "Hide done", id="hide"),
        Binding("a", "approve", "Approve", id="approve"),
        Binding("x", "reject", "Reject", id="reject"),
        Binding("e", "edit_patch", "Edit+approve", id="edit", show=False),
        Binding("p", "next_patch", "Next patch", id="next_patch", show=False),
        Binding("plus", "rate('good')", "Rate good", id="rate_good", show=False),
        Binding("minus", "rate('bad')", "Rate bad", id="rate_bad", show=False),
        Binding("M", "merge", "Merge", id="merge", show=False),
        Binding("R", "resume", "Resume", id="resume", show=False),
        Binding("g", "agents", "Agents", id="agents", show=False),
        Binding("t", "theme", "Theme", id="theme"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("ctrl+p", "command_palette", "Palette", id="palette", show=False),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("escape", "clear_filter", "Clear filter", id="clear_filter", show=False),
    ]

    def __init__(
        self,
        project: Project,
        *,
        clock: Callable[[], float] = time.time,
        live_pane: bool = True,
        sweep: bool = True,
        watch: bool = True,
        serve: bool = False,
        attach_runner: Callable[[list[str]], None] | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.clock = clock
        self.live_pane = live_pane
        self.sweep_on = sweep
        self.watch_on = watch
        self.serve = serve
        self.attach_runner = attach_runner
        self.index = Index(project)
        self.lock = threading.Lock()
        self.filter_text = ""
        self.hide_finished = False
        self.palette = labels.Palette()
        self.patch_idx = 0
        self.loaded = asyncio.Event()  # the tree is on screen
        self.settled = asyncio.Event()  # and the alerts of finished sessions too
        self._pane_key: tuple[str, str] | None = None
        self.session_tree = SessionTree("sessions", clock=clock, id="tree")
        self.details = DetailsTabs(project, id="right")
        self.watcher = StateWatcher(
            project.root, self._files_changed, partial(self.notify, severity="warning")
        )
        self.tmux = RoomTmux(
            self, project, shown=self._pane_on_show, live=self.index.live, pane=live_pane, sweep=sweep
        )
        self.untrusted = ""  # said in the banner: a project whose trust-gated settings are ignored
        try:
            self.settings, ignored = config.load_trusted(project.config_path)
        except ScopeError as exc:
            self.settings = dict(config.DEFAULTS)
            self._config_error: str | None = str(exc)
        else:
            self._config_error = None
            if ignored:
                self.untrusted = (
                    f"untrusted project: ignoring {', '.join(ignored)} in .scope/config.toml "
                    "(run `scope trust` outside any session to let them apply)"
                )
        from scope_tui.tui.themes import load_themes

        # Chosen before the first mount, so the stylesheet is built once, for this theme.
        self.theme_names: list[str] = []
        for th in load_themes():
            self.register_theme(th)
            self.theme_names.append(th.name)
        want = str(self.settings.get("theme") or "scope-dark")
        self.theme = want if want in self.available_themes else "scope-dark"

    @property
    def room(self) -> Any:
        """The main screen. App.query_one looks in the active screen, which may be a dialog on top."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    @property
    def nodes(self) -> dict[str, Any]:
        return self.session_tree.nodes

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        yield BannerBar(id="banner", classes="hidden")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(
                    placeholder="filter: id, task, status, skill, agent", id="filter", classes="hidden"
                )
                yield self.session_tree
            yield self.details
        with Horizontal(id="bottom"):
            yield AlertsPanel(id="alerts")
            yield PatchPanel(id="patch")
        yield PhoneBar(id="phonebar")
        yield KeysFooter()

    def on_mount(self) -> None:
        keymap = self.settings.get("keymap") or {}
        if isinstance(keymap, dict) and keymap:
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        self.session_tree.focus()
        self.session_tree.border_title = self.project.home.name
        if self._config_error:
            self.notify(f"config.toml is broken ({self._config_error}); using defaults", severity="error")
        if self.untrusted:
            self.set_banner("")
        self.load_all()
        self.set_interval(1.0, self.session_tree.tick_ages)
        if isinstance(self.settings.get("notify"), dict):  # an open room sends from the same outbox
            self.set_interval(5.0, self.send_alerts)
        self.tmux.start()

    @work(thread=True, group="notify", exclusive=True)
    def send_alerts(self) -> None:
        from scope_tui import api

        try:
            api.deliver_alerts(self.project, wait=False)
        except (ScopeError, OSError):
            pass  # logged by the sender when it is a channel's; the writers' senders try again

    def watch_theme(self, name: str) -> None:
        self.palette = labels.Palette.from_variables(self.get_css_variables())
        self.session_tree.palette = self.details.palette = self.palette
        self.session_tree.relabel()
        if self.loaded.is_set():
            self.update_counts()
            self.show_alerts()
            self.show_patch()

    # -- loading and watching ----------------------------------------------------------------------
    @work(group="load")
    async def load_all(self) -> None:
        """Arm the watcher first, then read everything: a change in between is seen by one or the other.

        The events of finished sessions (their alerts) are read after the first full frame, in a thread;
        `settled` is set once they are in.
        """

        def scan() -> Change:
            with self.lock:
                return self.index.scan(defer_finished=True)

        ch: Change | None = None
        if self.watch_on:
            armed = self.watcher.arm()
            if armed:
                # Here, not in a thread: on the UI thread this is ~0.2 s for 1,000 sessions, while a thread
                # competing with Textual's start for the GIL took twice that. The kernel keeps the events.
                ch = scan()
            self.run_worker(self.watcher.run(), group="watch", exclusive=True)
            await self.watcher.armed.wait()  # watchfiles first, then the scan
        if ch is None:
            ch = await asyncio.to_thread(scan)
        try:  # rows are made once, at the width the tree has on screen
            await asyncio.wait_for(self.session_tree.sized.wait(), 2.0)
        except TimeoutError:
            pass  # never laid out (hidden?): the rows are relabelled if it ever is
        self.watch_theme(self.theme)
        self.apply(ch, initial=True)
        if self.watch_on:
            self.follow_hosts()
        if self.index.problem:
            self.set_banner(self.index.problem)
        self.loaded.set()
        if self.index.deferred:

            def rest() -> Change:
                with self.lock:
                    return self.index.read_deferred()

            # Once the first frame is out: a thread reading files while Textual paints slows both (the GIL).
            self.set_timer(DEFER_S, partial(self._load_rest, rest))
        else:
            self.settled.set()

    def follow_hosts(self) -> None:
        """One `ssh NAME scope watch --json` stream per configured host, its rows in the same tree."""
        from scope_tui import api
        from scope_tui.tui.remote import RemoteHost

        try:
            names = list(api.hosts(self.project)) if not self._config_error else []
        except ScopeError:
            names = []
        for name in names:
            self.run_worker(
                RemoteHost(self.project, name, self.index, self.apply).run(), group=f"host:{name}"
            )

    @work(group="load")
    async def _load_rest(self, rest: Callable[[], Change]) -> None:
        ch = await asyncio.to_thread(rest)
        if ch:
            self.apply(ch)
        self.settled.set()

    def _files_changed(self, paths: set[str], resync: bool) -> None:
        self.post_message(FilesChanged(paths, resync=resync))

    @on(FilesChanged)
    async def files_changed(self, msg: FilesChanged) -> None:
        if msg.resync:

            def rescan() -> Change:
                with self.lock:
                    return self.index.scan()

            ch = await asyncio.to_thread(rescan)
            if ch:
                self.apply(ch)
            if not msg.paths:
                return
        paths = list(msg.paths)
        if len(paths) <= INLINE_PATHS and self.lock.acquire(blocking=False):
            # A few files of a few sessions: reading them here (well under a millisecond each) saves
            # a thread hop, which is most of the latency on a busy machine.
            try:
                ch = self.index.refresh_paths(paths)
            finally:
                self.lock.release()
        else:

            def refresh() -> Change:
                with self.lock:
                    return self.index.refresh_paths(paths)

            ch = await asyncio.to_thread(refresh)
        if ch:
            self.apply(ch)

    def apply(self, ch: Change, initial: bool = False) -> None:
        """Put what changed on screen: tree nodes in place, counts, alerts, patches, the open tabs."""
        if not self.session_tree.is_attached:
            return  # quitting: the room's widgets are gone, and a late file event has nowhere to go
        if not initial:
            # inotify watches a new folder only once it has seen it: files written in that first
            # instant can be missed, so a new session is read again a few times while it settles.
            for sid in ch.added:
                for delay in RECHECK_S:
                    self.set_timer(delay, partial(self.recheck, sid))
        for sid in ch.creating:
            # A folder left empty (a spawn that died before writing) shows as corrupt once it is old enough.
            self.set_timer(sessions.CREATING_S + 0.5, partial(self.recheck, sid))
        self.session_tree.sessions = self.index.sessions
        self.session_tree.relabel(ch.changed)
        self.sync_tree(initial=initial)
        self.update_counts()
        if ch.alerts or initial:
            self.show_alerts()
        if ch.patches or initial:
            self.show_patch()
        sel = self.selected()
        if sel and (sel in ch.changed or sel in ch.added):
            self.show_details(sel, changed=True)
        if ch.added or ch.changed:
            self.tmux.changed()  # a server may have appeared, a session may have its window now
        for sid in ch.attention:
            s = self.index.sessions.get(sid)
            what = "needs input" if s and s.status == "needs_input" else "escalated"
            self.notify(f"{sid} {what}: {s.title if s else ''}", title="Attention", severity="warning")
            if self.settings.get("bell", True):
                self.bell()
        if ch.config:
            try:
                self.settings = config.load(self.project.config_path)
            except ScopeError:
                pass

    def recheck(self, sid: str) -> None:
        self.post_message(FilesChanged({str(self.project.session_dir(sid) / sessions.STATE)}))

    # -- routing -------------------------------------------------------------------------------------
    def sync_tree(self, initial: bool = False) -> None:
        want = visible_ids(self.index.sessions, self.filter_text, self.hide_finished)
        self.session_tree.show(self.index.sessions, want, initial=initial)

    def selected(self) -> str | None:
        return self.session_tree.selected()

    def select(self, sid: str) -> bool:
        """Move the tree's cursor to `sid` (expanding its ancestors); False when it is not shown."""
        return self.session_tree.select(sid)

    @on(SessionHighlighted)
    def session_highlighted(self, msg: SessionHighlighted) -> None:
        self.show_details(msg.sid)

    @on(JumpToSession)
    def jump(self, msg: JumpToSession) -> None:
        if not self.select(msg.sid):
            self.notify(f"{msg.sid} is hidden by the filter or hide-finished", severity="warning")

    def show_details(self, sid: str, changed: bool = False) -> None:
        s = self.index.sessions.get(sid)
        if s is None:
            return
        self.details.show(s, changed=changed)
        if not self.live_pane or live_target(s) is None:
            key = (s.id, "log:" + s.status)
            if self._pane_key != key:  # a finished session's pane is its log, read once per status
                self._pane_key = key
                self.details.show_pane_log(s)
        else:
            self._pane_key = None
        self.tmux.follow()

    @on(TabbedContent.TabActivated)
    def tab_activated(self) -> None:
        self.tmux.follow()  # the Pane tab open or closed: listen to its pane, or to none

    def _pane_on_show(self) -> sessions.Session | None:
        """The session whose live pane the Pane tab shows, or None when no live pane is on show."""
        if not self.details.is_attached or not self.details.pane_open():
            return None
        sid = self.selected()
        return self.index.sessions.get(sid) if sid else None

    @on(PaneOutput)
    def pane_output(self, msg: PaneOutput) -> None:
        if self.selected() == msg.sid:
            self.details.show_capture(msg.sid, msg.text)

    @on(Banner)
    def banner(self, msg: Banner) -> None:
        self.set_banner(msg.text)

    def set_banner(self, text: str) -> None:
        self.room.query_one(BannerBar).say("\n".join(t for t in (self.untrusted, text) if t))

    @property
    def banner_text(self) -> str:
        return self.room.query_one(BannerBar).text

    def update_counts(self) -> None:
        self.room.query_one(TopBar).show(
            self.project.home.name,
            self.index.counts(),
            self.palette,
            hide_finished=self.hide_finished,
            filter_text=self.filter_text,
        )

    def show_alerts(self) -> None:
        self.room.query_one(AlertsPanel).show(self.index.alerts, self.palette)

    def current_patch(self) -> Any:
        pend = self.index.pending_patches()
        if not pend:
            return None
        self.patch_idx %= len(pend)
        return pend[self.patch_idx]

    def show_patch(self) -> None:
        patch = self.current_patch()
        self.room.query_one(PatchPanel).show(
            patch, self.patch_idx, len(self.index.pending_patches()), self.palette
        )

    # -- keys ----------------------------------------------------------------------------------------
    def key_table(self) -> list[tuple[str, str, str]]:
        """(key, description, action) for every binding of the room, as the keymap has them now."""
        out = []
        keymap = self._keymap if hasattr(self, "_keymap") else {}
        for b in [*self.BINDINGS, *SessionTree.BINDINGS]:
            assert isinstance(b, Binding)
            key = keymap.get(b.id, b.key) if b.id else b.key
            out.append((key, b.description, b.action))
        return out

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.sync_tree()
        self.update_counts()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.session_tree.focus()

    async def action_quit(self) -> None:
        self.stop_watching()
        self.exit()

    def on_app_focus(self) -> None:
        self.tmux.gone_check()  # back from elsewhere: what ended meanwhile, should tmux not have said

    def on_unmount(self) -> None:
        self.stop_watching()

    def stop_watching(self) -> None:
        self.watcher.stop()
        self.tmux.stop()
