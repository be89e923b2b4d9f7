"""The control room: a live OODA tree, the selected agent's pane, alerts, pending patches, and keys.

The app composes the panels (tui/widgets/, one file each), routes their messages (tui/messages.py)
and the Changes of `.scope/` to them, and keeps the bindings; their actions are tui/actions.py. It never
writes a state file itself: every key calls the API the CLI calls (scope_tui.api, substrate.control,
gepa.patches, store.config). What is read from `.scope/` and when is tui/feed.py; what tmux is asked,
tui/live.py; the settings, tui/settings.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, TabbedContent

from scope_tui.store import config, sessions
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project
from scope_tui.tui import labels, settings, themes
from scope_tui.tui.actions import RoomActions
from scope_tui.tui.commands import ScopeCommands, key_table
from scope_tui.tui.feed import RoomFeed
from scope_tui.tui.index import Change, Index
from scope_tui.tui.live import RoomTmux, live_target
from scope_tui.tui.messages import Banner, FilesChanged, JumpToSession, PaneOutput, SessionHighlighted
from scope_tui.tui.widgets.alerts import AlertsPanel
from scope_tui.tui.widgets.details import DetailsTabs
from scope_tui.tui.widgets.keys_footer import KeysFooter
from scope_tui.tui.widgets.patches import PatchPanel
from scope_tui.tui.widgets.phone_bar import PhoneBar
from scope_tui.tui.widgets.session_tree import SessionTree, visible_ids
from scope_tui.tui.widgets.topbar import Banner as BannerBar
from scope_tui.tui.widgets.topbar import TopBar


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
        self.filter_text = ""
        self.hide_finished = False
        self.palette = labels.Palette()
        self.patch_idx = 0
        self.loaded = asyncio.Event()  # the tree is on screen
        self.feed = RoomFeed(self, self.index, self.apply, watch=watch)
        self.settled = self.feed.settled  # and the alerts of finished sessions too
        self.session_tree = SessionTree("sessions", clock=clock, id="tree")
        self.details = DetailsTabs(project, id="right")
        self.tmux = RoomTmux(
            self, project, shown=self._pane_on_show, live=self.index.live, pane=live_pane, sweep=sweep
        )
        # untrusted: said in the banner, a project whose trust-gated settings are ignored
        self.settings, self._config_error, self.untrusted = settings.load(project)
        self.theme_names = themes.register(self, str(self.settings.get("theme") or "scope-dark"))

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
        """Read everything (tui/feed.py), then show it once the tree has its width; `settled` follows."""
        ch = await self.feed.first()
        try:  # rows are made once, at the width the tree has on screen
            await asyncio.wait_for(self.session_tree.sized.wait(), 2.0)
        except TimeoutError:
            pass  # never laid out (hidden?): the rows are relabelled if it ever is
        self.watch_theme(self.theme)
        self.apply(ch, initial=True)
        if self.watch_on and not self._config_error:
            self.feed.hosts()
        if self.index.problem:
            self.set_banner(self.index.problem)
        self.loaded.set()
        self.feed.rest()

    @on(FilesChanged)
    async def files_changed(self, msg: FilesChanged) -> None:
        await self.feed.read(msg)

    def apply(self, ch: Change, initial: bool = False) -> None:
        """Put what changed on screen: tree nodes in place, counts, alerts, patches, the open tabs."""
        if not (self.session_tree.is_attached and self.room.query(TopBar)):
            return  # quitting: the room's widgets are going, and a late file event has nowhere to go
        self.feed.settle(ch, initial=initial)
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
        self.details.show(s, changed=changed, pane_log=not self.live_pane or live_target(s) is None)
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
        return key_table([*self.BINDINGS, *SessionTree.BINDINGS], getattr(self, "_keymap", {}))

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
        self.feed.stop()
        self.tmux.stop()
