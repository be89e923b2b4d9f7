"""What `scope watch --json` prints: every session's state and every event of the project, as records.

A record is one JSON object: `{"type": "session", "id", "meta", "state", "corrupt"}` when a session's
files change, `{"type": "event", "id", "event"}` for each new line of its events.jsonl, then
`{"type": "offset", "id", "offset"}`: the byte offset in that events.jsonl read up to, which a consumer
passes back as `--since ID=OFFSET` to resume where it left off. `{"type": "synced"}` ends the first
catch-up. Events carry their `seq`, so a consumer that resumed from an older offset drops repeats.
With `alive`, a quiet stream says `{"type": "alive"}` every `alive` seconds: a reader that went (an ssh
connection that dropped) turns that write into a broken pipe, so a watcher on another host never outlives
the room that started it.

The records come from the same StateWatcher the room uses in-process (substrate/statewatch.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from scope_tui.store import ids, sessions
from scope_tui.store.events import EVENTS, EventReader
from scope_tui.store.project import Project
from scope_tui.substrate.statewatch import StateWatcher

SWEEP_S = 2.0  # a new session folder whose first files inotify missed is read again within this


class Feed:
    """The records of `project` since `since` (session id -> events.jsonl offset)."""

    def __init__(self, project: Project, since: dict[str, int] | None = None) -> None:
        self.project = project
        self.since = dict(since or {})
        self.readers: dict[str, EventReader] = {}
        self.shown: dict[str, tuple[Any, Any, Any]] = {}

    def _session(self, sid: str) -> list[dict[str, Any]]:
        d = self.project.session_path(sid)
        s = sessions.load_dir(d)
        if sessions.being_created(s):
            return []
        out: list[dict[str, Any]] = []
        key = (s.meta, s.state, s.corrupt)
        if self.shown.get(sid) != key:
            self.shown[sid] = key
            out.append({"type": "session", "id": sid, "meta": s.meta, "state": s.state, "corrupt": s.corrupt})
        reader = self.readers.get(sid)
        if reader is None:
            reader = self.readers[sid] = EventReader(os.path.join(d, EVENTS), self.since.get(sid, 0))
        new = reader.read_new()
        if new:
            out.extend({"type": "event", "id": sid, "event": ev} for ev in new)
            out.append({"type": "offset", "id": sid, "offset": reader.offset})
        return out

    def snapshot(self) -> list[dict[str, Any]]:
        """Every session as it is now and its events past `since`, then `synced`."""
        out: list[dict[str, Any]] = []
        for sid in sessions.list_ids(self.project):
            out.extend(self._session(sid))
        out.append({"type": "synced"})
        return out

    def changed(self, paths: set[str], resync: bool = False) -> list[dict[str, Any]]:
        """The records for files that changed (all sessions on `resync`)."""
        if resync:
            return self.snapshot()[:-1]
        base = self.project.sessions_path + os.sep
        touched: set[str] = set()
        for p in paths:
            if not p.startswith(base):
                continue
            sid = p[len(base) :].split(os.sep, 1)[0]
            try:
                touched.add(ids.validate(sid))
            except Exception:
                continue
        out: list[dict[str, Any]] = []
        for sid in sorted(touched, key=ids.sort_key):
            if os.path.isdir(self.project.session_path(sid)):
                out.extend(self._session(sid))
        return out


async def stream(
    project: Project,
    emit: Callable[[list[dict[str, Any]]], None],
    *,
    since: dict[str, int] | None = None,
    once: bool = False,
    alive: float | None = None,
    warn: Callable[[str], None] = lambda _t: None,
) -> None:
    """Call `emit(records)` with the snapshot, then with each change until cancelled (or after the
    snapshot with `once`). The watch starts before the snapshot is read, so nothing between is missed."""
    feed = Feed(project, since)
    queue: asyncio.Queue[tuple[set[str], bool]] = asyncio.Queue()
    watcher = StateWatcher(project.root, lambda paths, resync: queue.put_nowait((paths, resync)), warn)
    if once:
        emit(feed.snapshot())
        return
    armed = watcher.arm()
    task = asyncio.ensure_future(watcher.run())
    try:
        if not armed:
            await watcher.armed.wait()
        emit(feed.snapshot())
        loop = asyncio.get_running_loop()
        said = loop.time()
        while True:
            try:
                paths, resync = await asyncio.wait_for(queue.get(), min(SWEEP_S, alive or SWEEP_S))
            except TimeoutError:
                paths, resync = set(), True  # a quiet moment: anything inotify missed is read now
            records = feed.changed(paths, resync)
            if not records and alive and loop.time() - said >= alive:
                records = [{"type": "alive"}]
            if records:
                emit(records)
                said = loop.time()
    finally:
        watcher.stop()
        await task
