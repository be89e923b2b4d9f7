"""The control room: a live OODA tree, the selected agent's pane, alerts, pending patches, and keys.

The app never writes a state file itself: every key calls the API the CLI calls (scope_tui.api,
substrate.control, gepa.patches, store.config). The tree is driven by one watchfiles worker on
`.scope/`; tmux is asked only for the one pane on show and a reconcile sweep every few seconds.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, RichLog, Static, TabbedContent, TabPane, Tree
from textual.widgets.option_list import Option
from textual.widgets.tree import TreeNode

from scope_tui.store import config, events, ids, sessions
from scope_tui.store.atomic import is_temp
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project
from scope_tui.tui import labels
from scope_tui.tui.index import Change, Index

if TYPE_CHECKING:
    from scope_tui.substrate.watch import Inotify

PANE_HZ = 4
SWEEP_S = 2.0
LOG_TAIL_BYTES = 64_000
RECHECK_S = (0.1, 0.4, 1.5)
INLINE_PATHS = 24
DEBOUNCE_S = 0.004
DEFER_S = 0.3  # the events of finished sessions are read this long after the tree is shown


class OodaTree(Tree[str]):
    """The session tree; enter attaches (the app's action) instead of toggling."""

    BINDINGS = [
        Binding("enter", "app.attach", "Attach", id="attach"),
        Binding("space", "toggle_node", "Fold", id="fold", show=False),
    ]
    ICON_NODE = "▸ "

    def get_label_width(self, node: TreeNode[str]) -> int:
        """What Tree's own would say, without rendering the label: a rebuild measures every line."""
        label = node.label
        width = label.cell_len if isinstance(label, Text) else cell_len(label)
        if not node.allow_expand:
            return width
        return cell_len(self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE) + width

    def on_resize(self) -> None:
        app = self.app
        if isinstance(app, ScopeApp):
            app.tree_resized(self.size.width)

    ICON_NODE_EXPANDED = "▾ "


class KeysFooter(Footer):
    """Textual's footer, rebuilt only when the keys it shows change. Textual's rebuilds itself (a dozen
    widgets, each styled anew) on every focus change, several times while the room starts: about a
    fifth of a second before the first frame."""

    _shown: tuple[tuple[str, str, str, bool, str], ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            shown = tuple(
                (b.key, b.description, b.action, enabled, tooltip)
                for _node, b, enabled, tooltip in screen.active_bindings.values()
                if b.show
            )
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)


class ScopeCommands(Provider):
    """Every binding of the room as a command in the palette."""

    def _commands(self) -> list[tuple[str, str, str]]:
        app = self.app
        assert isinstance(app, ScopeApp)
        return [(desc, action, key) for key, desc, action in app.key_table()]

    async def discover(self) -> Hits:
        for desc, action, key in self._commands():
            yield DiscoveryHit(desc, partial(self.app.run_action, action), help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for desc, action, key in self._commands():
            score = matcher.match(desc)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(desc), partial(self.app.run_action, action), help=f"key: {key}"
                )


class FilesChanged(Message):
    """The watcher saw changes under `.scope/`; coalesced so a burst becomes one refresh."""

    def __init__(self, paths: set[str], resync: bool = False) -> None:
        super().__init__()
        self.paths = paths
        self.resync = resync  # events were lost: read everything again

    def can_replace(self, message: Message) -> bool:
        if isinstance(message, FilesChanged):
            self.paths |= message.paths
            self.resync = self.resync or message.resync
            return True
        return False


def keep_path(path: str) -> bool:
    """The watcher's filter: a writer's temp file or a lock is not a change anyone should see."""
    return not is_temp(path) and not path.endswith(".lock")


def default_attach(app: App[Any], argv: list[str]) -> None:
    with app.suspend():
        subprocess.run(argv)


class ScopeApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Scope"
    COMMANDS = App.COMMANDS | {ScopeCommands}
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
        self.nodes: dict[str, TreeNode[str]] = {}
        self.filter_text = ""
        self.hide_finished = False
        self.palette = labels.Palette()
        self.patch_idx = 0
        self.tree_width = 80
        self._ages: dict[str, str] = {}
        self.banner_text = ""
        self.loaded = asyncio.Event()  # the tree is on screen
        self.settled = asyncio.Event()  # and the alerts of finished sessions too
        self._sized = asyncio.Event()  # the tree has had its first size
        self.armed = asyncio.Event()
        self._pane_key: tuple[str, str] | None = None
        self._tree: OodaTree | None = None
        self._tabs: TabbedContent | None = None
        self._pane_last = ""
        try:
            self.settings = config.load(project.config_path)
        except ScopeError as exc:
            self.settings = dict(config.DEFAULTS)
            self._config_error: str | None = str(exc)
        else:
            self._config_error = None
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

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield Static(id="banner", classes="hidden")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(
                    placeholder="filter: id, task, status, skill, agent", id="filter", classes="hidden"
                )
                yield OodaTree("sessions", id="tree")
            with TabbedContent(id="right"):
                with TabPane("Pane", id="tab-pane"):
                    yield RichLog(id="pane", max_lines=2000, min_width=20)
                with TabPane("Task", id="tab-task"):
                    yield RichLog(id="task", wrap=True)
                with TabPane("Events", id="tab-events"):
                    yield RichLog(id="events", max_lines=2000)
                with TabPane("Result", id="tab-result"):
                    yield RichLog(id="result", wrap=True)
                with TabPane("Memory", id="tab-memory"):
                    yield RichLog(id="memory", wrap=True)
                with TabPane("Diff", id="tab-diff"):
                    yield RichLog(id="diff", wrap=False, min_width=20)
        with Horizontal(id="bottom"):
            yield OptionList(id="alerts")
            yield RichLog(id="patch", wrap=True, auto_scroll=False, min_width=20)
        yield KeysFooter()

    def on_mount(self) -> None:
        keymap = self.settings.get("keymap") or {}
        if isinstance(keymap, dict) and keymap:
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        tree = self.room.query_one(OodaTree)
        # Kept: the timers below would otherwise query the DOM a few times a second.
        self._tree = tree
        self._tabs = self.room.query_one(TabbedContent)
        tree.show_root = False
        tree.guide_depth = 3
        tree.root.expand()
        tree.focus()
        self.room.query_one("#alerts").border_title = "Alerts"
        self.room.query_one("#patch").border_title = "Patches"
        self.room.query_one("#tree").border_title = self.project.home.name
        if self._config_error:
            self.notify(f"config.toml is broken ({self._config_error}); using defaults", severity="error")
        self.load_all()
        self.set_interval(1.0, self.tick_ages)
        if self.live_pane:
            self.set_interval(1 / PANE_HZ, self.refresh_pane)
        if self.sweep_on:
            self.set_interval(SWEEP_S, self.sweep)

    def watch_theme(self, name: str) -> None:
        self.palette = labels.Palette.from_variables(self.get_css_variables())
        now = self.clock()
        for sid, node in self.nodes.items():
            s = self.index.sessions.get(sid)
            if s is not None:
                node.set_label(self.row(s, now))
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
        from scope_tui.substrate.watch import Inotify

        def scan() -> Change:
            with self.lock:
                return self.index.scan(defer_finished=True)

        def arm_and_scan() -> tuple[Inotify | None, Change | None]:
            try:
                ino = Inotify(self.project.root)
            except OSError:
                return None, None  # watchfiles must be armed first, on the loop
            return ino, scan()

        ch: Change | None = None
        if self.watch_on:
            # Here, not in a thread: on the UI thread this is ~0.2 s for 1,000 sessions, while a thread
            # competing with Textual's start for the GIL took twice that. Nothing is on screen yet anyway.
            ino, ch = arm_and_scan()
            self.watch_files(ino)
            if ino is None:
                await self.armed.wait()  # watchfiles first, then the scan
            # else the kernel keeps the events until the watcher reads them: no need to wait for it
        if ch is None:
            ch = await asyncio.to_thread(scan)
        try:  # rows are made once, at the width the tree has on screen
            await asyncio.wait_for(self._sized.wait(), 2.0)
        except TimeoutError:
            pass  # never laid out (hidden?): the rows are relabelled if it ever is
        self.palette = labels.Palette.from_variables(self.get_css_variables())
        self.apply(ch, initial=True)
        self.loaded.set()
        if self.index.deferred:

            def rest() -> Change:
                with self.lock:
                    return self.index.read_deferred()

            # Once the first frame is out: a thread reading files while Textual paints slows both (the GIL).
            self.set_timer(DEFER_S, partial(self._load_rest, rest))
        else:
            self.settled.set()

    @work(group="load")
    async def _load_rest(self, rest: Callable[[], Change]) -> None:
        ch = await asyncio.to_thread(rest)
        if ch:
            self.apply(ch)
        self.settled.set()

    @work(group="watch", exclusive=True)
    async def watch_files(self, ino: Inotify | None) -> None:
        """Post FilesChanged for what changes under `.scope/`: inotify on the event loop where it can (no
        cost while idle), else watchfiles (which polls when inotify is exhausted)."""
        stop = asyncio.Event()
        self._astop = stop
        if ino is None:
            await self.watch_files_polling(stop)
            return
        loop = asyncio.get_running_loop()
        pending: set[str] = set()
        flush: asyncio.TimerHandle | None = None

        def post() -> None:
            nonlocal flush
            flush = None
            resync = ino.overflowed or ino.error is not None
            ino.overflowed = False
            paths = {p for p in pending if keep_path(p)}
            pending.clear()
            if paths or resync:
                self.post_message(FilesChanged(paths, resync=resync))
            if ino.error is not None:
                stop.set()  # a folder could not be watched: watchfiles takes over below

        def readable() -> None:
            nonlocal flush
            pending.update(ino.read())
            if flush is None and (pending or ino.overflowed or ino.error):
                # The files of one write (temp file, rename) arrive within a millisecond or two: one message.
                flush = loop.call_later(DEBOUNCE_S, post)

        loop.add_reader(ino.fileno(), readable)
        self.armed.set()
        try:
            await stop.wait()
        finally:
            loop.remove_reader(ino.fileno())
            if flush is not None:
                flush.cancel()
            failed = ino.error
            ino.close()
        if failed is not None:
            self.notify(
                f"file events incomplete ({failed.strerror}); polling .scope/ instead", severity="warning"
            )
            stop.clear()
            await self.watch_files_polling(stop, force=True)

    async def watch_files_polling(self, stop: asyncio.Event, force: bool = False) -> None:
        """watchfiles: where inotify is not available to us directly (force: poll the folder)."""
        import watchfiles

        while not stop.is_set():
            try:
                gen = watchfiles.awatch(
                    self.project.root,
                    watch_filter=lambda _c, p: keep_path(p),
                    step=8,
                    debounce=40,
                    stop_event=stop,
                    force_polling=force,
                    poll_delay_ms=200,
                    ignore_permission_denied=True,
                ).__aiter__()
                nxt = asyncio.ensure_future(gen.__anext__())
                # awatch sets its inotify watches synchronously on its first step: let that step run.
                for _ in range(3):
                    await asyncio.sleep(0)
                self.armed.set()
                while True:
                    try:
                        changes = await nxt
                    except StopAsyncIteration:
                        return
                    self.post_message(FilesChanged({p for _, p in changes}))
                    nxt = asyncio.ensure_future(gen.__anext__())
            except OSError:
                if force:
                    raise
                force = True
                self.notify("file events unavailable; polling .scope/ instead", severity="warning")

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
        if not self.room.query(OodaTree):
            return  # quitting: the room's widgets are gone, and a late file event has nowhere to go
        now = self.clock()
        if not initial:
            # inotify watches a new folder only once it has seen it: files written in that first
            # instant can be missed, so a new session is read again a few times while it settles.
            for sid in ch.added:
                for delay in RECHECK_S:
                    self.set_timer(delay, partial(self.recheck, sid))
        for sid in ch.creating:
            # A folder left empty (a spawn that died before writing) shows as corrupt once it is old enough.
            self.set_timer(sessions.CREATING_S + 0.5, partial(self.recheck, sid))
        for sid in ch.changed:
            node = self.nodes.get(sid)
            s = self.index.sessions.get(sid)
            if node is not None and s is not None:
                node.set_label(self.row(s, now))
        self.sync_tree(initial=initial)
        self.update_counts()
        if ch.alerts or initial:
            self.show_alerts()
        if ch.patches or initial:
            self.show_patch()
        sel = self.selected()
        if sel and (sel in ch.changed or sel in ch.added):
            self.show_details(sel, changed=True)
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

    # -- the tree ------------------------------------------------------------------------------------
    def visible_ids(self) -> set[str]:
        """Sessions to show: those matching filter and hide-finished, plus every ancestor of one."""
        sess = self.index.sessions
        if not self.filter_text and not self.hide_finished:
            return set(sess)
        f = self.filter_text.lower()
        keep: set[str] = set()
        for sid, s in sess.items():
            if self.hide_finished and s.terminal:
                continue
            if f:
                hay = " ".join(
                    str(x)
                    for x in (sid, s.title, s.status, s.meta.get("skill"), s.meta.get("agent"), s.level)
                    if x
                ).lower()
                if f not in hay:
                    continue
            keep.add(sid)
            p = ids.parent_of(sid)
            while p and p not in keep:
                keep.add(p)
                p = ids.parent_of(p)
        return keep & set(sess)

    def sync_tree(self, initial: bool = False) -> None:
        tree = self.room.query_one(OodaTree)
        want = self.visible_ids()
        have = set(self.nodes)
        for sid in sorted(have - want, key=lambda x: (-ids.depth(x), ids.sort_key(x))):
            node = self.nodes.pop(sid, None)
            if node is not None:
                for d in [k for k in self.nodes if ids.is_descendant(k, sid)]:
                    self.nodes.pop(d)
                node.remove()
        now = self.clock()
        added = sorted(want - set(self.nodes), key=ids.sort_key)
        # Finished subtrees start folded: only the ancestors of something live are opened at first.
        live_under: set[str] = set()
        if initial:
            for s in self.index.live():
                p: str | None = s.id
                while p and p not in live_under:
                    live_under.add(p)
                    p = ids.parent_of(p)
        for sid in added:
            s = self.index.sessions[sid]
            parent_id = ids.parent_of(sid)
            parent = self.nodes.get(parent_id) if parent_id else None
            pnode = parent if parent is not None else tree.root
            before = None
            key = ids.sort_key(sid)
            if pnode.children and ids.sort_key(pnode.children[-1].data or "0") > key:
                before = next((c for c in pnode.children if ids.sort_key(c.data or "0") > key), None)
            node = pnode.add(
                self.row(s, now),
                data=sid,
                before=before,
                allow_expand=False,
            )
            self.nodes[sid] = node
            if parent is not None and not parent.allow_expand:  # its first child
                parent.allow_expand = True
                if not initial or parent_id in live_under:
                    parent.expand()
        if initial and tree.cursor_line < 0 and self.nodes:
            tree.cursor_line = 0

    def row(self, s: sessions.Session, now: float) -> Text:
        """The tree label of `s`, remembering the age it shows so the ticker relabels only when that moves."""
        if not s.terminal:
            self._ages[s.id] = labels.age(labels.elapsed(s, now))
        return labels.row(s, self.palette, now, self.row_width(s.id))

    def tick_ages(self) -> None:
        """Once a second: relabel the live sessions whose shown age moved; finished ones are still."""
        now = self.clock()
        shown = self._ages
        for s in self.index.live():
            node = self.nodes.get(s.id)
            if node is not None and shown.get(s.id) != labels.age(labels.elapsed(s, now)):
                node.set_label(self.row(s, now))

    def selected(self) -> str | None:
        tree = self._tree  # absent while the app starts or shuts down; timers may still fire
        node = tree.cursor_node if tree is not None and tree.is_attached else None
        return node.data if node is not None else None

    def select(self, sid: str) -> bool:
        """Move the tree's cursor to `sid` (expanding its ancestors); False when it is not shown."""
        node = self.nodes.get(sid)
        if node is None:
            return False
        p = ids.parent_of(sid)
        while p:
            if p in self.nodes:
                self.nodes[p].expand()
            p = ids.parent_of(p)
        tree = self.room.query_one(OodaTree)
        self.call_after_refresh(tree.move_cursor, node)
        tree.focus()
        return True

    def row_width(self, sid: str) -> int:
        """Cells a row may take: the tree's width less the guides of its depth and the fold icon."""
        return self.tree_width - 3 * ids.depth(sid) - 3

    def tree_resized(self, tree_width: int) -> None:
        self._sized.set()
        if tree_width != self.tree_width:
            self.tree_width = tree_width
            self.watch_theme(self.theme)  # relabel every row at the new width

    @on(Tree.NodeHighlighted)
    def node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        if event.node.data:
            self.show_details(event.node.data)

    # -- the right side ------------------------------------------------------------------------------
    def show_details(self, sid: str, changed: bool = False) -> None:
        s = self.index.sessions.get(sid)
        if s is None:
            return
        task = self.room.query_one("#task", RichLog)
        result = self.room.query_one("#result", RichLog)
        evlog = self.room.query_one("#events", RichLog)
        memory = self.room.query_one("#memory", RichLog)
        first = getattr(self, "_details_for", None) != sid
        self._details_for = sid
        if first:
            task.clear()
            head = Text()
            head.append(f"{sid}  ", style="bold")
            head.append(f"{s.level} · {s.meta.get('driver', '?')}", style=self.palette.muted)
            if s.meta.get("cmd"):
                head.append(f"\n$ {s.meta['cmd']}", style=self.palette.muted)
            task.write(head)
            task.write(s.corrupt or s.task() or "(no task.md)")
            evlog.clear()
            self._ev_reader = events.EventReader(s.dir / events.EVENTS)
            memory.clear()
            agent = s.meta.get("agent")
            if agent:
                from scope_tui.tui.screens import agent_summary

                memory.write(agent_summary(agents_home(), str(agent), self.project))
            else:
                memory.write(Text("no persistent agent on this session", style=self.palette.muted))
            self._pane_key = None
        for ev in self._ev_reader.read_new()[-2000:]:
            evlog.write(self.event_line(ev))
        if first or changed:
            result.clear()
            r = s.result()
            result.write(r if r is not None else Text("(no result yet)", style=self.palette.muted))
        if first and not self.live_pane:
            self.show_pane_log(s)
        if first and self.room.query_one(TabbedContent).active == "tab-diff":
            self.load_diff(sid)

    @on(TabbedContent.TabActivated, "#right")
    def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        sid = self.selected()
        if sid and event.pane.id == "tab-diff":
            self.load_diff(sid)

    @work(thread=True, group="diff", exclusive=True)
    def load_diff(self, sid: str) -> None:
        """A worktree session's changes against the commit it started from (git, off the UI thread)."""
        s = self.index.sessions.get(sid)
        if s is None:
            return
        if not s.meta.get("worktree"):
            text = Text(f"{sid} has no worktree (spawn with --worktree to get one)", style=self.palette.muted)
        else:
            from scope_tui.substrate import worktree

            try:
                raw = worktree.diff(s, color=True)
                text = (
                    Text.from_ansi(raw) if raw.strip() else Text("(no changes yet)", style=self.palette.muted)
                )
            except ScopeError as exc:
                text = Text(str(exc), style=self.palette.error)
        self.call_from_thread(self._show_diff, sid, text)

    def _show_diff(self, sid: str, text: Text) -> None:
        if self.selected() != sid:
            return
        log = self.room.query_one("#diff", RichLog)
        log.clear()
        log.write(text)

    def event_line(self, ev: dict[str, Any]) -> Text:
        p = self.palette
        t = Text(no_wrap=True)
        ts = time.strftime("%H:%M:%S", time.localtime(float(ev.get("t") or 0)))
        t.append(f"{ts} ", style=p.muted)
        typ = str(ev.get("type"))
        style = {
            "deviation": p.warning,
            "escalation": p.warning,
            "error": p.error,
            "corrupt_event": p.error,
            "status": p.primary,
            "result": p.success,
            "redirect": p.accent,
        }.get(typ, p.secondary)
        t.append(f"{typ:<12}", style=f"bold {style}")
        rest = {k: v for k, v in ev.items() if k not in ("seq", "t", "type")}
        t.append(" " + " ".join(f"{k}={v}" for k, v in rest.items())[:300])
        return t

    def show_pane_log(self, s: sessions.Session) -> None:
        pane = self.room.query_one("#pane", RichLog)
        pane.clear()
        path = s.dir / sessions.PANE_LOG
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                fh.seek(max(0, size - LOG_TAIL_BYTES))
                data = fh.read().decode(errors="replace")
        except OSError:
            data = ""
        if data:
            pane.write(Text.from_ansi(data.replace("\r\n", "\n")))
        else:
            pane.write(Text("(no pane output recorded)", style=self.palette.muted))

    def refresh_pane(self) -> None:
        """A few times a second: the selected session's pane, if it is live and the Pane tab is open."""
        sid = self.selected()
        s = self.index.sessions.get(sid) if sid else None
        if s is None or self._tabs is None or self._tabs.active != "tab-pane":
            return
        target = (s.meta.get("tmux") or {}).get("pane")
        if s.terminal or s.corrupt or not target:
            key = (s.id, "log:" + s.status)
            if self._pane_key != key:
                self._pane_key = key
                self.show_pane_log(s)
            return
        self._pane_key = (s.id, "live")
        self.capture(s.id, str(target))

    @work(thread=True, group="pane", exclusive=True)
    def capture(self, sid: str, target: str) -> None:
        from scope_tui.substrate.server import tmux_for

        try:
            text = tmux_for(self.project).capture(target, escapes=True)
        except ScopeError:
            return
        if text != self._pane_last or self._pane_for != sid:
            self._pane_last, self._pane_for = text, sid
            self.call_from_thread(self._show_capture, sid, text)

    _pane_for = ""

    def _show_capture(self, sid: str, text: str) -> None:
        if self.selected() != sid:
            return
        pane = self.room.query_one("#pane", RichLog)
        pane.clear()
        pane.write(Text.from_ansi(text.rstrip("\n")))

    # -- counts, alerts, patches --------------------------------------------------------------------
    def update_counts(self) -> None:
        c = self.index.counts()
        p = self.palette
        t = Text(no_wrap=True)
        t.append(" ◉ Scope ", style=f"bold {p.primary}")
        t.append(f" {self.project.home.name} ", style=p.muted)
        t.append(f"  ● {c['running']} running", style=p.primary if c["running"] else p.muted)
        t.append(
            f"   ◆ {c['needs_input']} needs input", style=f"bold {p.warning}" if c["needs_input"] else p.muted
        )
        t.append(f"   ⚠ {c['alerts']} alerts", style=p.warning if c["alerts"] else p.muted)
        t.append(f"   ✎ {c['patches']} patches pending", style=p.accent if c["patches"] else p.muted)
        t.append(f"   {c['sessions']} sessions", style=p.muted)
        if self.hide_finished:
            t.append("   (finished hidden)", style=p.muted)
        if self.filter_text:
            t.append(f"   filter: {self.filter_text}", style=p.accent)
        self.room.query_one("#topbar", Static).update(t)

    def show_alerts(self) -> None:
        ol = self.room.query_one("#alerts", OptionList)
        ol.clear_options()
        p = self.palette
        opts: list[Option] = []
        for a in self.index.alerts[:200]:
            t = Text(no_wrap=True, overflow="ellipsis")
            t.append(
                "▲ " if a.type == "escalation" else "⚠ ",
                style=p.error if a.type == "escalation" else p.warning,
            )
            t.append(f"{a.sid} ", style="bold")
            t.append(a.text)
            opts.append(Option(t, id=f"{a.sid}#{a.seq}#{len(opts)}"))
        if not opts:
            opts.append(Option(Text("no deviations or escalations", style=p.muted), id="none", disabled=True))
        ol.add_options(opts)
        ol.border_title = f"Alerts ({len(self.index.alerts)})"

    @on(OptionList.OptionSelected, "#alerts")
    def alert_chosen(self, event: OptionList.OptionSelected) -> None:
        sid = (event.option.id or "").split("#")[0]
        if sid and not self.select(sid):
            self.notify(f"{sid} is hidden by the filter or hide-finished", severity="warning")

    def current_patch(self) -> Any:
        pend = self.index.pending_patches()
        if not pend:
            return None
        self.patch_idx %= len(pend)
        return pend[self.patch_idx]

    def show_patch(self) -> None:
        log = self.room.query_one("#patch", RichLog)
        log.clear()
        p = self.palette
        patch = self.current_patch()
        n = len(self.index.pending_patches())
        if patch is None:
            log.border_title = "Patches"
            log.write(Text("no patches waiting for a decision", style=p.muted))
            return
        d = patch.data
        log.border_title = f"Patch {patch.id} · {patch.target} · {self.patch_idx + 1} of {n} pending"
        dev = d.get("deviation") or {}
        if isinstance(dev, dict) and dev:
            log.write(
                Text(f"deviation: {dev.get('kind', '?')} in {dev.get('session', '?')}", style=p.warning)
            )
        if d.get("reflection"):
            log.write(Text(str(d["reflection"]).strip()[:400], style=p.muted))
        for line in str(d.get("diff") or "").splitlines():
            style = (
                p.success
                if line.startswith("+") and not line.startswith("+++")
                else p.error
                if line.startswith("-") and not line.startswith("---")
                else p.primary
                if line.startswith("@@")
                else p.muted
            )
            log.write(Text(line, style=style))
        log.write(Text("a approve · x reject · e edit then approve · p next", style=p.muted))

    # -- keys ----------------------------------------------------------------------------------------
    def key_table(self) -> list[tuple[str, str, str]]:
        """(key, description, action) for every binding of the room, as the keymap has them now."""
        out = []
        keymap = self._keymap if hasattr(self, "_keymap") else {}
        for b in [*self.BINDINGS, *OodaTree.BINDINGS]:
            assert isinstance(b, Binding)
            key = keymap.get(b.id, b.key) if b.id else b.key
            out.append((key, b.description, b.action))
        return out

    def need_selected(self) -> sessions.Session | None:
        sid = self.selected()
        s = self.index.sessions.get(sid) if sid else None
        if s is None:
            self.notify("select a session first", severity="warning")
        return s

    def skill_names(self) -> list[str]:
        names: set[str] = set()
        from scope_tui.patterns.skill_files import SHIPPED

        for root in (SHIPPED, self.project.skills):
            if root.is_dir():
                for p in root.iterdir():
                    if p.is_dir() or p.suffix == ".md":
                        names.add(p.stem if p.suffix == ".md" else p.name)
        return sorted(names)

    def action_spawn(self) -> None:
        from scope_tui.tui.screens import SpawnScreen

        def done(v: dict[str, Any] | None) -> None:
            if v:
                self.do_spawn(v)

        self.push_screen(
            SpawnScreen(self.selected(), self.skill_names(), str(self.settings.get("driver"))), done
        )

    @work(thread=True, group="act")
    def do_spawn(self, v: dict[str, Any]) -> None:
        from scope_tui import api

        task = v.pop("task")
        try:
            s = api.spawn(self.project, task, **v)
        except ScopeError as exc:
            self.call_from_thread(self.notify, str(exc), title="Spawn", severity="error")
            return
        self.call_from_thread(self.notify, f"spawned {s.id}: {s.title}", title="Spawn")

    def action_kill(self) -> None:
        from scope_tui.tui.screens import ConfirmScreen

        s = self.need_selected()
        if s is None:
            return
        n = sum(1 for k in self.index.sessions if ids.is_descendant(k, s.id))
        detail = f"{s.title}\n{n} session(s) in this subtree; their history stays on disk."

        def done(yes: bool | None) -> None:
            if yes:
                self.do_kill(s.id)

        self.push_screen(ConfirmScreen(f"Kill {s.id} and its subtree?", detail), done)

    @work(thread=True, group="act")
    def do_kill(self, sid: str) -> None:
        from scope_tui import api  # the substrate's kill, then each killed session's agent update

        try:
            killed = api.kill(self.project, sid)
        except ScopeError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        msg = f"killed {', '.join(killed)}" if killed else f"nothing live under {sid}"
        self.call_from_thread(self.notify, msg, title="Kill")

    def action_redirect(self, sid: str | None = None, title: str = "") -> None:
        from scope_tui.tui.screens import PromptScreen

        s = self.index.sessions.get(sid) if sid else self.need_selected()
        if s is None:
            return

        def done(text: str | None) -> None:
            if text:
                self.do_redirect(s.id, text)

        self.push_screen(PromptScreen(title or f"Redirect {s.id}: a message into the running agent"), done)

    @work(thread=True, group="act")
    def do_redirect(self, sid: str, text: str) -> None:
        from scope_tui.substrate import control

        try:
            control.redirect(self.project, sid, text)
        except ScopeError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.call_from_thread(self.notify, f"sent to {sid}", title="Redirect")

    def action_answer(self) -> None:
        """Answer the session that asked the person: the selected one if it waits, else the first that does."""
        sel = self.selected()
        s = self.index.sessions.get(sel) if sel else None
        if s is None or s.status != "needs_input":
            asking = [x for x in self.index.sessions.values() if x.status == "needs_input"]
            if not asking:
                self.notify("no session is waiting for an answer", severity="information")
                return
            s = asking[0]
            self.select(s.id)
        self.action_redirect(s.id, f"Answer {s.id}: {s.title}")

    def action_attach(self) -> None:
        s = self.need_selected()
        if s is None:
            return
        if self.serve:
            self.notify("attach is disabled in the browser; run `scope attach " + s.id + "` in a terminal")
            return
        from scope_tui.substrate import control

        try:
            argv = control.attach_argv(self.project, s.id)
        except ScopeError as exc:
            self.notify(str(exc), severity="warning")
            return
        if self.attach_runner is not None:
            self.attach_runner(argv)
        else:
            default_attach(self, argv)
        self.refresh()
        self.notify(f"back from {s.id}", title="Attach")

    def action_filter(self) -> None:
        inp = self.room.query_one("#filter", Input)
        inp.remove_class("hidden")
        inp.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.sync_tree()
        self.update_counts()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.room.query_one(OodaTree).focus()

    def action_clear_filter(self) -> None:
        inp = self.room.query_one("#filter", Input)
        if inp.value:
            inp.value = ""
        inp.add_class("hidden")
        self.room.query_one(OodaTree).focus()

    def action_hide_finished(self) -> None:
        self.hide_finished = not self.hide_finished
        self.sync_tree()
        self.update_counts()

    def action_help(self) -> None:
        from scope_tui.tui.screens import HelpScreen

        self.push_screen(HelpScreen([(k, d) for k, d, _ in self.key_table()]))

    def action_agents(self) -> None:
        from scope_tui.tui.screens import AgentsScreen

        self.push_screen(AgentsScreen(agents_home(), self.project))

    def action_theme(self) -> None:
        names = [n for n in self.theme_names if n in self.available_themes] or ["scope-dark"]
        nxt = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.theme = nxt
        try:
            config.update(self.project.config_path, {"theme": nxt})
        except (OSError, ScopeError) as exc:
            self.notify(f"theme not saved: {exc}", severity="warning")
        self.notify(f"theme {nxt}", title="Theme")

    def action_next_patch(self) -> None:
        self.patch_idx += 1
        self.show_patch()

    def action_approve(self) -> None:
        patch = self.current_patch()
        if patch is None:
            self.notify("no pending patch", severity="information")
            return
        self.do_decide(patch.id, "approve", None)

    def action_reject(self) -> None:
        from scope_tui.tui.screens import PromptScreen

        patch = self.current_patch()
        if patch is None:
            self.notify("no pending patch", severity="information")
            return

        def done(reason: str | None) -> None:
            if reason:
                self.do_decide(patch.id, "reject", reason)

        self.push_screen(
            PromptScreen(f"Reject patch {patch.id}: why?", "the reason is kept with the patch"), done
        )

    def action_edit_patch(self) -> None:
        from scope_tui.tui.screens import EditPatchScreen

        patch = self.current_patch()
        if patch is None:
            self.notify("no pending patch", severity="information")
            return

        def done(text: str | None) -> None:
            if text is not None:
                self.do_decide(patch.id, "approve", None, text)

        self.push_screen(EditPatchScreen(patch.id, str(patch.data.get("new_text") or "")), done)

    @work(thread=True, group="act")
    def do_decide(self, pid: str, how: str, reason: str | None, text: str | None = None) -> None:
        from scope_tui import api

        patch = self.index.patches.get(pid)
        target = patch.target if patch else "?"
        try:
            if how == "approve":
                version = api.approve_patch(self.project, pid, by="person", text=text)
                msg = f"patch {pid} approved: {target.split(':', 1)[-1]} v{version}"
            else:
                api.reject_patch(self.project, pid, reason or "", by="person")
                msg = f"patch {pid} rejected"
        except ScopeError as exc:
            self.call_from_thread(self.notify, f"patch {pid}: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, msg, title="Patches")

    # -- tmux sweep ----------------------------------------------------------------------------------
    def sweep(self) -> None:
        if self.index.live():
            self.do_sweep()
        elif self.banner_text:
            self.set_banner("")

    @work(thread=True, group="sweep", exclusive=True)
    def do_sweep(self) -> None:
        """One tmux call for every live session (reconcile's list-panes); the banner needs none: a stat of the
        server's socket says whether it is there."""
        from scope_tui.substrate.reconcile import reconcile
        from scope_tui.substrate.server import tmux_for

        t = tmux_for(self.project)
        gone = not tmux_socket(t.socket).exists()
        banner = (
            "tmux server for this project is not running: live sessions are marked lost; n spawns a new one"
            if gone
            else ""
        )
        try:
            reconcile(self.project, self.index.live())
        except ScopeError as exc:
            banner = str(exc)
        self.call_from_thread(self.set_banner, banner)

    def set_banner(self, text: str) -> None:
        if text == self.banner_text:
            return  # the sweep says so every two seconds; an update would lay the screen out again
        self.banner_text = text
        b = self.room.query_one("#banner", Static)
        b.update(text)
        b.set_class(not text, "hidden")

    async def action_quit(self) -> None:
        self.stop_watching()
        self.exit()

    def on_unmount(self) -> None:
        self.stop_watching()

    def stop_watching(self) -> None:
        stop = getattr(self, "_astop", None)
        if stop is not None:
            stop.set()


def tmux_socket(name: str) -> Path:
    """Where tmux keeps the socket of server `-L name` (TMUX_TMPDIR, else /tmp)."""
    return Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / name


def agents_home() -> Path:
    return Path(os.environ.get("SCOPE_AGENTS_DIR") or Path.home() / ".scope" / "agents").expanduser()
