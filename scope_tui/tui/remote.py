"""Another host's sessions in the room's tree: one long-lived `ssh NAME scope watch --json` per host.

Its records become the same Change the local watcher's do, with ids shown as `NAME:3.1`. When the
stream ends (the host dropped), its rows read `unreachable`: a display state kept here, never written
anywhere. The stream is opened again with `--since` the last offsets, so the rows catch up from there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from scope_tui import api
from scope_tui.store import sessions
from scope_tui.store.project import Project
from scope_tui.tui.index import ALERT_TYPES, Alert, Change, Index, alert_text

UNREACHABLE = "unreachable"
RETRY_S = (0.5, 1.0, 2.0, 5.0)  # between attempts to reach a host that dropped


class RemoteHost:
    """Feeds `index` from host `name` and calls `apply(change)` on the event loop for each batch."""

    def __init__(self, project: Project, name: str, index: Index, apply: Callable[[Change], None]) -> None:
        self.project, self.name, self.index, self.apply = project, name, index, apply
        self.since: dict[str, int] = {}
        self.real: dict[str, sessions.Session] = {}  # as the host last said, while it shows unreachable
        self.reachable = False
        self.proc: asyncio.subprocess.Process | None = None

    def _sid(self, rid: str) -> str:
        return f"{self.name}:{rid}"

    async def run(self) -> None:
        attempt = 0
        while True:
            await self._stream()
            self._unreachable()
            await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
            attempt = 0 if self.reachable else attempt + 1

    async def _stream(self) -> None:
        since = ",".join(f"{k}={v}" for k, v in sorted(self.since.items()))
        argv = api.host_argv(
            self.project, self.name, ["watch", "--json", *(["--since", since] if since else [])]
        )
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                limit=1 << 24,
            )
        except OSError:
            return
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    self._record(rec)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
            await self.proc.wait()

    def _record(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        ch = Change()
        if kind == "session" and isinstance(rec.get("id"), str):
            sid = self._sid(rec["id"])
            s = sessions.Session(sid, sid, rec.get("meta") or {}, rec.get("state") or {}, rec.get("corrupt"))
            old = self.index.sessions.get(sid)
            self.real[sid] = s
            self.index.sessions = {**self.index.sessions, sid: s}
            if old is None:
                ch.added.append(sid)
            else:
                ch.changed.append(sid)
                if old.status != s.status and s.status in ("needs_input", "escalated"):
                    ch.attention.append(sid)
        elif kind == "event" and isinstance(rec.get("event"), dict):
            ev = rec["event"]
            if ev.get("type") in ALERT_TYPES:
                sid = self._sid(str(rec.get("id")))
                self.index.alerts.append(
                    Alert(
                        sid, int(ev.get("seq") or 0), float(ev.get("t") or 0), str(ev["type"]), alert_text(ev)
                    )
                )
                self.index.alerts.sort(key=lambda a: (a.t, a.seq, a.sid), reverse=True)
                ch.alerts = True
        elif kind == "offset" and isinstance(rec.get("offset"), int):
            self.since[str(rec.get("id"))] = rec["offset"]
        elif kind == "synced":
            self.reachable = True
            # rows the snapshot did not repeat are as the host last said (their files did not change)
            back = [sid for sid, s in self.real.items() if self.index.sessions.get(sid) is not s]
            if back:
                self.index.sessions = {**self.index.sessions, **{sid: self.real[sid] for sid in back}}
                ch.changed.extend(back)
        if ch:
            self.apply(ch)

    def _unreachable(self) -> None:
        self.reachable = False
        gone = {}
        for sid, s in self.real.items():
            if not s.terminal:
                gone[sid] = sessions.Session(sid, sid, s.meta, {**s.state, "status": UNREACHABLE}, s.corrupt)
        if gone:
            self.index.sessions = {**self.index.sessions, **gone}
            self.apply(Change(changed=sorted(gone)))

    def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
