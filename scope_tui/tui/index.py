"""What the control room knows, read from `.scope/`: sessions, alerts and patches, refreshed by path.

No Textual here: the app feeds it the paths a file watcher reported and gets back which sessions
changed, so the tree can be updated in place. Every reader tolerates broken files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.store import events, ids, sessions
from scope_tui.store.errors import CorruptFile
from scope_tui.store.project import Project

ALERT_TYPES = ("deviation", "escalation")


@dataclass
class Alert:
    sid: str
    seq: int
    t: float
    type: str
    text: str


@dataclass
class Patch:
    id: str
    path: Path
    data: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.data.get("status", "pending"))

    @property
    def target(self) -> str:
        return str(
            self.data.get("target") or (f"skill:{self.data.get('skill')}" if self.data.get("skill") else "?")
        )


def alert_text(ev: dict[str, Any]) -> str:
    if ev.get("type") == "deviation":
        kind = ev.get("kind") or "deviation"
        exp, act = ev.get("expected"), ev.get("actual")
        tail = f": expected {exp}, got {act}" if exp or act else ""
        return f"{kind}{tail}"
    reason = ev.get("reason") or "escalated"
    details = ev.get("details")
    return f"{reason}" + (f": {details}" if details else "")


@dataclass
class Change:
    """What one refresh found: sessions added, changed (status/label), removed; alerts/patches touched."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    alerts: bool = False
    patches: bool = False
    config: bool = False
    # sessions whose status newly became needs_input or escalated (for the toast and the bell)
    attention: list[str] = field(default_factory=list)
    # folders a spawn has claimed but not filled yet: not shown; read again once they are old enough
    creating: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.added
            or self.changed
            or self.removed
            or self.alerts
            or self.patches
            or self.config
            or self.creating
        )


class Index:
    """Sessions, alerts and patches of one project, kept in memory and refreshed by session id."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.sessions: dict[str, sessions.Session] = {}
        self.alerts: list[Alert] = []
        self.patches: dict[str, Patch] = {}
        self._readers: dict[str, events.EventReader] = {}
        self.deferred: list[str] = []  # finished sessions whose events are not read yet
        self.problem: str | None = None  # why the sessions folder cannot be read, if it cannot

    # -- whole scans -------------------------------------------------------------------------------
    def scan(self, defer_finished: bool = False) -> Change:
        """Read every session folder and patch; the first full load, or a resync.

        defer_finished: leave the events (alerts) of finished sessions to `read_deferred`, so the tree can
        be shown sooner; they are most of the files and seldom have an alert not seen before.
        """
        ch = Change()
        try:
            found = set(sessions.list_ids(self.project))
            self.problem = None
        except CorruptFile as exc:  # `sessions` is a file: no rows, and the banner says why
            found, self.problem = set(), f"{exc}: no sessions can be read"
        work = dict(self.sessions)  # filled privately, published at once
        for sid in sorted(found, key=ids.sort_key):
            self._load(sid, ch, work, defer_finished)
        for sid in set(work) - found:
            if ":" not in sid:  # another host's rows (tui/remote.py) are not in this folder
                self._drop(sid, ch, work)
        self.sessions = work
        ch.patches = self.load_patches()
        return ch

    # -- refresh by path ---------------------------------------------------------------------------
    def refresh_paths(self, paths: list[str]) -> Change:
        """Apply the file changes under `.scope/` the watcher reported."""
        ch = Change()
        touched: set[str] = set()
        patches = False
        root = str(self.project.root)
        for p in paths:
            rel = os.path.relpath(p, root).split(os.sep)
            if rel[0] == "sessions" and len(rel) >= 2:
                touched.add(rel[1])
            elif rel[0] == "patches":
                patches = True
            elif rel[0] == "config.toml":
                ch.config = True
        for sid in sorted(touched, key=_safe_key):
            try:
                ids.validate(sid)
            except Exception:
                continue
            self.refresh(sid, ch)
        if patches:
            ch.patches = self.load_patches()
        return ch

    def refresh(self, sid: str, ch: Change | None = None) -> Change:
        ch = Change() if ch is None else ch
        if not self.project.session_dir(sid).is_dir():
            if sid in self.sessions:
                work = dict(self.sessions)
                self._drop(sid, ch, work)
                self.sessions = work
            return ch
        parent = ids.parent_of(sid)
        if parent and parent not in self.sessions and self.project.session_dir(parent).is_dir():
            self.refresh(parent, ch)  # parents before children
        work = dict(self.sessions)
        self._load(sid, ch, work)
        self.sessions = work
        return ch

    def _load(self, sid: str, ch: Change, work: dict[str, sessions.Session], defer: bool = False) -> None:
        """Read `sid` into `work`. The app's thread iterates `self.sessions` meanwhile, so changes go into
        a copy that replaces it in one assignment (copy-on-write), never into the dict being read."""
        old = work.get(sid)
        new = sessions.load_dir(self.project.session_dir(sid))
        if old is not None and old.corrupt is None and new.corrupt and "empty" in new.corrupt:
            return  # a writer mid-way; the next event brings the whole file
        if old is None and sessions.being_created(new):
            ch.creating.append(sid)  # a spawn mid-way; its meta.json and state.json bring it in
            return
        work[sid] = new
        if old is None:
            ch.added.append(sid)
        elif (old.meta, old.state, old.corrupt) != (new.meta, new.state, new.corrupt):
            ch.changed.append(sid)
        if old is not None and old.status != new.status and new.status in ("needs_input", "escalated"):
            ch.attention.append(sid)
        if defer and new.terminal and sid not in self._readers:
            self.deferred.append(sid)
        elif self._read_events(sid):
            ch.alerts = True

    def read_deferred(self) -> Change:
        """Read the events `scan(defer_finished=True)` left; ch.alerts when they held any."""
        ch = Change()
        todo, self.deferred = self.deferred, []
        for sid in todo:
            if sid in self.sessions and self._read_events(sid):
                ch.alerts = True
        return ch

    def _drop(self, sid: str, ch: Change, work: dict[str, sessions.Session]) -> None:
        work.pop(sid, None)
        self._readers.pop(sid, None)
        ch.removed.append(sid)
        before = len(self.alerts)
        self.alerts = [a for a in self.alerts if a.sid != sid]
        ch.alerts = ch.alerts or len(self.alerts) != before

    def _read_events(self, sid: str) -> bool:
        r = self._readers.get(sid)
        if r is None:
            r = self._readers[sid] = events.EventReader(self.project.session_dir(sid) / events.EVENTS)
        new = False
        for ev in r.read_new():
            if ev.get("type") in ALERT_TYPES:
                self.alerts.append(
                    Alert(
                        sid, int(ev.get("seq") or 0), float(ev.get("t") or 0), str(ev["type"]), alert_text(ev)
                    )
                )
                new = True
        if new:
            self.alerts.sort(key=lambda a: (a.t, a.seq, a.sid), reverse=True)
        return new

    # -- patches -----------------------------------------------------------------------------------
    def load_patches(self) -> bool:
        """Re-read `.scope/patches/*.json`; True when anything differs from what was shown."""
        from scope_tui import api

        found = {
            pid: Patch(pid, self.project.patches / f"{pid}.json", data)
            for pid, data in api.patch_files(self.project).items()
        }
        changed = {k: v.data for k, v in found.items()} != {k: v.data for k, v in self.patches.items()}
        self.patches = found
        return changed

    # -- summaries ---------------------------------------------------------------------------------
    def pending_patches(self) -> list[Patch]:
        return [p for p in self.patches.values() if p.status == "pending"]

    def counts(self) -> dict[str, int]:
        c = {
            "running": 0,
            "needs_input": 0,
            "alerts": len(self.alerts),
            "patches": len(self.pending_patches()),
        }
        for s in self.sessions.values():
            if s.status in ("running", "waiting"):
                c["running"] += 1
            elif s.status == "needs_input":
                c["needs_input"] += 1
        c["sessions"] = len(self.sessions)
        return c

    def live(self) -> list[sessions.Session]:
        """This project's live sessions (another host's are its own tmux server's)."""
        return [s for s in self.sessions.values() if not s.corrupt and not s.terminal and ":" not in s.id]


def _safe_key(sid: str) -> tuple[int, ...]:
    try:
        return ids.sort_key(sid)
    except ValueError:
        return (0,)
