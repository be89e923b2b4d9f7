"""The one watcher of `.scope/` on an event loop: inotify, then watchfiles, then polling; one file filter.
The room watches with it in-process and `scope watch` (substrate/feed.py) streams what it sees.

It costs nothing while nothing changes (inotify wakes only when the kernel has an event). A burst of
events (a writer's temp file and rename) becomes one callback. Where inotify is missing or runs out
(the per-user limit), watchfiles takes over, and it polls when inotify is not available to it either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from scope_tui.substrate import watch
from scope_tui.substrate.watch import keep_path

if TYPE_CHECKING:
    from scope_tui.substrate.watch import Inotify

DEBOUNCE_S = 0.004  # the files of one write (temp file, rename) arrive within a millisecond or two


class StateWatcher:
    """Calls `changed(paths, resync)` on the event loop for what changes under `root`; `warn(text)` once
    when it has to fall back to polling. `arm()` before the first read, `run()` as a task, `stop()`."""

    def __init__(
        self, root: Path, changed: Callable[[set[str], bool], None], warn: Callable[[str], None]
    ) -> None:
        self.root = root
        self.changed = changed
        self.warn = warn
        self.ino: Inotify | None = None
        self.armed = asyncio.Event()  # events from here on are seen
        self._stop = asyncio.Event()

    def arm(self) -> bool:
        """Start inotify now (synchronously); True when it did, so the kernel keeps every event from now on.
        False: `run()` arms watchfiles instead; wait for `armed` before reading."""
        try:
            self.ino = watch.Inotify(self.root)
        except OSError:
            return False
        self.armed.set()
        return True

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        if self.ino is None and not self.armed.is_set():
            await self._watchfiles(force=False)
            return
        if self.ino is None:
            return
        failed = await self._inotify(self.ino)
        if failed is not None and not self._stop.is_set():
            self.warn(f"file events incomplete ({failed.strerror}); polling .scope/ instead")
            await self._watchfiles(force=True)

    async def _inotify(self, ino: Inotify) -> OSError | None:
        loop = asyncio.get_running_loop()
        pending: set[str] = set()
        flush: asyncio.TimerHandle | None = None
        broken = asyncio.Event()

        def post() -> None:
            nonlocal flush
            flush = None
            resync = ino.overflowed or ino.error is not None
            ino.overflowed = False
            paths = {p for p in pending if keep_path(p)}
            pending.clear()
            if paths or resync:
                self.changed(paths, resync)
            if ino.error is not None:
                broken.set()  # a folder could not be watched: watchfiles takes over

        def readable() -> None:
            nonlocal flush
            pending.update(ino.read())
            if flush is None and (pending or ino.overflowed or ino.error):
                flush = loop.call_later(DEBOUNCE_S, post)

        loop.add_reader(ino.fileno(), readable)
        stop = asyncio.ensure_future(self._stop.wait())
        bad = asyncio.ensure_future(broken.wait())
        try:
            await asyncio.wait({stop, bad}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            bad.cancel()
            loop.remove_reader(ino.fileno())
            if flush is not None:
                flush.cancel()
            failed = ino.error
            ino.close()
            self.ino = None
        return failed

    async def _watchfiles(self, force: bool) -> None:
        import watchfiles

        while not self._stop.is_set():
            try:
                gen = watchfiles.awatch(
                    self.root,
                    watch_filter=lambda _c, p: keep_path(p),
                    step=8,
                    debounce=40,
                    stop_event=self._stop,
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
                    self.changed({p for _, p in changes}, False)
                    nxt = asyncio.ensure_future(gen.__anext__())
            except OSError:
                if force:
                    raise
                force = True
                self.warn("file events unavailable; polling .scope/ instead")
