"""A supervisor's eyes: one file watcher for all its children, an EventReader per child, trouble detection.

Watching is by file events (substrate.watch.ticks on the sessions folder), not tmux polling; a child's
stream and state are read only when something changed or a tick passes. Trouble is: a child ended (done
is reported too), no progress event for `stall_after` seconds, the same action repeated `repeat_limit`
times in a row, `error_streak` errors in a row, `needs_input` left unanswered for `answer_after` seconds,
or an `escalation` event in its stream. A child whose meta carries `asks` (an agent's stage's limits,
agents/growth.py: a junior asks sooner) is watched with those limits where they are lower.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.store import events, sessions
from scope_tui.store.project import Project

# Events that show an action; the same one N times in a row is a loop.
ACTIONS = ("tool_call", "exec", "peek", "grep", "spawn")  # llm_call differs every turn: not an action
# Events a supervisor writes about its child; they are not the child's progress.
NOT_PROGRESS = ("restart",)


@dataclass
class Observation:
    """Something the supervisor must orient on. `kind`: ended, stalled, repeated, error_streak,
    needs_input, escalation. `end` is the status for `ended`; `evidence` the seqs that show it."""

    child: str
    kind: str
    end: str = ""
    reason: str = ""
    details: str = ""
    evidence: list[Any] = field(default_factory=list)

    @property
    def trouble(self) -> str:
        """How the child ended or got into trouble, as restart policy words (done, failed, stalled, ...)."""
        return self.end if self.kind == "ended" else self.kind


@dataclass
class _Child:
    sid: str
    dir: Path
    reader: events.EventReader
    last_progress: float
    last_action: str = ""
    same_actions: int = 0
    errors: int = 0
    reported: set[str] = field(default_factory=set)
    needs_input_since: float | None = None
    recent: list[Any] = field(default_factory=list)  # the seqs of the last events
    stall_after: float | None = None
    repeat_limit: int = 4
    error_streak: int = 3
    why: str = ""  # whose limits these are, when the child's meta lowered them


class Monitor:
    """Watches a set of child sessions; `poll()` reads what is new, `wait()` blocks on file events."""

    def __init__(
        self,
        project: Project,
        *,
        stall_after: float | None = None,
        repeat_limit: int = 4,
        error_streak: int = 3,
        answer_after: float | None = None,
        tick_ms: int = 500,
    ) -> None:
        self.project = project
        self.stall_after = stall_after
        self.repeat_limit = repeat_limit
        self.error_streak = error_streak
        self.answer_after = answer_after
        self.tick_ms = tick_ms
        self.children: dict[str, _Child] = {}
        self._ticks: Iterator[bool] | None = None

    def watch(self, sid: str, now: float | None = None) -> None:
        """Start watching `sid` from the end of its current stream; its stall clock starts at `now`."""
        d = self.project.session_dir(sid)
        reader = events.EventReader(d / events.EVENTS)
        reader.read_new()
        c = _Child(sid, d, reader, time.monotonic() if now is None else now)
        c.stall_after, c.repeat_limit, c.error_streak = self.stall_after, self.repeat_limit, self.error_streak
        asks = sessions.load_dir(d).meta.get("asks")
        if isinstance(asks, dict):
            lowered = []
            for k in ("stall_after", "repeat_limit", "error_streak"):
                v = asks.get(k)
                mine = getattr(c, k)
                if isinstance(v, (int, float)) and v > 0 and (mine is None or v < mine):
                    setattr(c, k, int(v) if k != "stall_after" else float(v))
                    lowered.append(k)
            if lowered:
                c.why = f" (a {asks.get('stage') or 'junior'}'s limit)"
        self.children[sid] = c

    def forget(self, sid: str) -> None:
        self.children.pop(sid, None)

    def reset(self, sid: str) -> None:
        """After a restart: skip what the old run wrote, clear counters, start the stall clock again."""
        self.watch(sid)

    def poll(self, now: float | None = None) -> list[Observation]:
        """Read every child's new events and state; return what needs orienting on (each thing once)."""
        now = time.monotonic() if now is None else now
        out: list[Observation] = []
        for c in list(self.children.values()):
            out += self._read(c, now)
        return out

    def _read(self, c: _Child, now: float) -> list[Observation]:
        out: list[Observation] = []
        for e in c.reader.read_new():
            typ = str(e.get("type"))
            if typ in NOT_PROGRESS:
                continue
            c.last_progress = now
            seq = e.get("seq")
            c.recent = (c.recent + [seq])[-10:]
            if typ == "escalation":
                out.append(
                    Observation(
                        c.sid,
                        "escalation",
                        reason=str(e.get("reason") or "stuck"),
                        details=str(e.get("details") or ""),
                        evidence=[seq, *(e.get("evidence") or [])],
                    )
                )
            if typ == "error":
                c.errors += 1
                if c.errors >= c.error_streak and "error_streak" not in c.reported:
                    c.reported.add("error_streak")
                    out.append(
                        Observation(
                            c.sid,
                            "error_streak",
                            details=f"{c.errors} errors in a row{c.why}, last: {e.get('error', '')}"[:300],
                            evidence=c.recent[-c.errors :],
                        )
                    )
            elif typ not in ("status", "phase"):
                c.errors = 0
            if typ in ACTIONS:
                key = json.dumps(
                    {k: v for k, v in e.items() if k not in ("seq", "t")}, sort_keys=True, default=str
                )
                c.same_actions = c.same_actions + 1 if key == c.last_action else 1
                c.last_action = key
                if c.same_actions >= c.repeat_limit and "repeated" not in c.reported:
                    c.reported.add("repeated")
                    out.append(
                        Observation(
                            c.sid,
                            "repeated",
                            details=f"the same {typ} {c.same_actions} times in a row{c.why}",
                            evidence=c.recent[-c.same_actions :],
                        )
                    )
        s = sessions.load_dir(c.dir)
        if s.corrupt:
            if "ended" not in c.reported:
                c.reported.add("ended")
                out.append(Observation(c.sid, "ended", end="failed", reason="corrupt", details=s.corrupt))
            return out
        if s.terminal:
            if "ended" not in c.reported:
                c.reported.add("ended")
                out.append(
                    Observation(
                        c.sid,
                        "ended",
                        end=s.status,
                        reason=str(s.state.get("reason") or ""),
                        details=str(s.state.get("details") or s.state.get("reason") or s.status),
                        evidence=c.recent[-3:],
                    )
                )
            return out
        if s.status == "needs_input":
            c.needs_input_since = c.needs_input_since or now
            if (
                self.answer_after is not None
                and now - c.needs_input_since >= self.answer_after
                and "needs_input" not in c.reported
            ):
                c.reported.add("needs_input")
                out.append(
                    Observation(
                        c.sid, "needs_input", details=str(s.state.get("reason") or "waits for an answer")
                    )
                )
            return out
        if c.needs_input_since is not None:  # answered: the next wait starts a fresh clock
            c.needs_input_since = None
            c.reported.discard("needs_input")
        if (
            c.stall_after is not None
            and s.status != "waiting"  # a child waiting on its own children is not idle
            and now - c.last_progress >= c.stall_after
            and "stalled" not in c.reported
        ):
            c.reported.add("stalled")
            out.append(
                Observation(
                    c.sid,
                    "stalled",
                    details=f"no progress event for {now - c.last_progress:.0f}s (limit {c.stall_after:g}s{c.why})",
                    evidence=c.recent[-1:],
                )
            )
        return out

    def wait(self, timeout: float) -> list[Observation]:
        """Block on file events (one watcher for all children) until something happens or `timeout` passes."""
        from scope_tui.substrate.watch import ticks

        deadline = time.monotonic() + timeout
        while True:
            found = self.poll()
            if found or time.monotonic() >= deadline:
                return found
            if self._ticks is None:
                self._ticks = ticks(self.project.sessions, tick_ms=self.tick_ms)
            next(self._ticks)

    def close(self) -> None:
        if self._ticks is not None:
            close = getattr(self._ticks, "close", None)
            if close:
                close()
            self._ticks = None
