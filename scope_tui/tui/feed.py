"""What the room knows of `.scope/`, kept current: the Index read once and then refreshed file by file.

The one watcher (tui/watcher.py) is armed before the first read, so a change in between is seen by one or
the other. A few files are read on the event loop (a thread hop is most of the latency on a busy
machine), many in a thread, always under one lock. A new session is read again a few times while inotify
catches up with its folder; the events of finished sessions (their alerts) are read once the first frame
is out. Each host's rows come from its own `scope watch` stream (tui/remote.py). Every Change goes to the
app's `apply`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.app import App

from scope_tui.store import sessions
from scope_tui.store.errors import ScopeError
from scope_tui.tui.index import Change, Index
from scope_tui.tui.messages import FilesChanged
from scope_tui.tui.watcher import StateWatcher

RECHECK_S = (0.1, 0.4, 1.5)
INLINE_PATHS = 24
DEFER_S = 0.3  # the events of finished sessions are read this long after the tree is shown


class RoomFeed:
    """Feeds `index` from `.scope/` and hands each Change to `apply`.

    `first()` arms the watcher and reads everything but the events of finished sessions; `rest()` reads
    those a moment later and sets `settled`; `read(msg)` is a FilesChanged from the watcher; `settle(ch)`
    schedules the re-reads a new session needs; `hosts()` follows each configured host.
    """

    def __init__(self, app: App[Any], index: Index, apply: Callable[[Change], None], *, watch: bool) -> None:
        self.app = app
        self.index = index
        self.project = index.project
        self.apply = apply
        self.watch = watch
        self.lock = threading.Lock()
        self.settled = asyncio.Event()  # the alerts of finished sessions are in too
        self.watcher = StateWatcher(self.project.root, self._changed, partial(app.notify, severity="warning"))

    def _scan(self, *, defer_finished: bool = False) -> Change:
        with self.lock:
            return self.index.scan(defer_finished=defer_finished)

    async def first(self) -> Change:
        """Everything on disk now (finished sessions' events deferred), the watcher armed before it."""
        ch: Change | None = None
        if self.watch:
            if self.watcher.arm():
                # Here, not in a thread: on the UI thread this is ~0.2 s for 1,000 sessions, while a thread
                # competing with Textual's start for the GIL took twice that. The kernel keeps the events.
                ch = self._scan(defer_finished=True)
            self.app.run_worker(self.watcher.run(), group="watch", exclusive=True)
            await self.watcher.armed.wait()  # watchfiles first, then the scan
        if ch is None:
            ch = await asyncio.to_thread(partial(self._scan, defer_finished=True))
        return ch

    def rest(self) -> None:
        """Read the deferred events once the first frame is out (a thread reading files while Textual
        paints slows both: the GIL); `settled` is set once they are in."""
        if not self.index.deferred:
            self.settled.set()
            return
        self.app.set_timer(DEFER_S, lambda: self.app.run_worker(self._rest(), group="load"))

    async def _rest(self) -> None:
        def rest() -> Change:
            with self.lock:
                return self.index.read_deferred()

        ch = await asyncio.to_thread(rest)
        if ch:
            self.apply(ch)
        self.settled.set()

    def hosts(self) -> None:
        """One `ssh NAME scope watch --json` stream per configured host, its rows in the same tree."""
        from scope_tui import api
        from scope_tui.tui.remote import RemoteHost

        try:
            names = list(api.hosts(self.project))
        except ScopeError:
            names = []
        for name in names:
            host = RemoteHost(self.project, name, self.index, self.apply)
            self.app.run_worker(host.run(), group=f"host:{name}")

    def _changed(self, paths: set[str], resync: bool) -> None:
        self.app.post_message(FilesChanged(paths, resync=resync))

    async def read(self, msg: FilesChanged) -> None:
        """What the files of `msg` changed (everything again when events were lost), applied."""
        if msg.resync:
            ch = await asyncio.to_thread(self._scan)
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

    def settle(self, ch: Change, *, initial: bool = False) -> None:
        """Read the sessions `ch` added again while they settle, and folders still empty once they are old."""
        if not initial:
            # inotify watches a new folder only once it has seen it: files written in that first
            # instant can be missed, so a new session is read again a few times while it settles.
            for sid in ch.added:
                for delay in RECHECK_S:
                    self.app.set_timer(delay, partial(self.recheck, sid))
        for sid in ch.creating:
            # A folder left empty (a spawn that died before writing) shows as corrupt once it is old enough.
            self.app.set_timer(sessions.CREATING_S + 0.5, partial(self.recheck, sid))

    def recheck(self, sid: str) -> None:
        self.app.post_message(FilesChanged({str(self.project.session_dir(sid) / sessions.STATE)}))

    def stop(self) -> None:
        self.watcher.stop()
