"""The tactical level: the session that drives a pattern instance is its workers' supervisor.

Two ways in, both through `run_tactical`:

- A pattern skill (map-reduce, maker-checker, ralph, dag, rlm) runs its engine with a `SupervisedContext`:
  the engine's own context, plus restart intensity, stall / loop / error-streak detection while it
  waits, and escalation of what the tactical level cannot handle. The engine retries a failed child as
  a fresh child session (its outcome keeps every attempt's id).
- A session with no pattern skill whose params hold `children` (a list of child specs) is a plain OTP
  supervisor (a pattern skill with `children` is refused: the tree would name an engine that never ran):
  strategy one_for_one / one_for_all / rest_for_one, each child permanent / transient / temporary,
  `intensity` restarts in `period` seconds. A restart relaunches the SAME session id (its window is
  replaced, its history kept, a `restart` event says why and what changed), so the tree stays one node
  per child and `scope log` shows every attempt in one stream.

params (children mode): children=[{task, cmd?, driver?, skill?, model?, params?, restart?, on_restart?}],
strategy, intensity, period, stall_after (seconds without a progress event), answer_after, notes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.ooda import restart
from scope_tui.ooda.acts import ANSWER_AFTER, guarded, stop, tell_person
from scope_tui.ooda.escalation import escalate, split_inbox
from scope_tui.ooda.loop import Loop
from scope_tui.ooda.monitor import Monitor, Observation
from scope_tui.ooda.supervised import SupervisedContext
from scope_tui.patterns.engines.context import Assigner
from scope_tui.store import events, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.project import Project

# Escalation reasons the tactical level handles itself (by restarting); the rest go up.
HANDLED_HERE = ("stuck",)
# Troubles that mean "this run is going nowhere": the child is stopped and handled like a failure.
STUCK = ("stalled", "repeated", "error_streak")


def run_tactical(s: sessions.Session, assigner: Assigner | None = None) -> int:
    """Run a pattern session (driver `pattern`, as its worker read it) under supervision; returns the
    process exit code. `assigner` picks agents for the engine's parts by strength (EngineContext)."""
    session_dir = s.dir.resolve()
    from scope_tui.patterns import engines

    skill = s.meta.get("skill")
    if (s.meta.get("params") or {}).get("children"):
        if skill in engines.ENGINES:
            # a session the tree shows as a pattern runs that pattern's engine: never a stand-in for it
            why = f"a {skill} session runs the {skill} engine; params.children is for a plain supervisor (no skill)"
            events.append(session_dir, "error", error=why, source="supervisor")
            sessions.set_status(session_dir, "failed", reason=why, exit_code=2)
            return 2
        return guarded(session_dir, lambda: OtpSupervisor(s.project, session_dir).run())
    ctx = SupervisedContext.from_dir(session_dir)
    ctx.assigner = assigner
    return engines.run(session_dir, ctx)


@dataclass
class Child:
    key: str
    spec: dict[str, Any]
    sid: str | None = None
    restarts: int = 0
    ended: str | None = None  # done, or the end a child that is not restarted came to
    handled: bool = False  # this run's end has been oriented on
    history: list[str] = field(default_factory=list)  # how earlier attempts ended: context for the next

    @property
    def restart_type(self) -> str:
        return str(self.spec.get("restart") or "permanent")


class OtpSupervisor:
    """An OTP-style supervisor over command / worker / pattern children, thinking out loud as OODA."""

    def __init__(self, project: Project, session_dir: Path) -> None:
        self.project = project
        self.dir = session_dir
        s = sessions.load_dir(session_dir)
        self.sid = s.id
        self.meta = s.meta
        p = dict(s.meta.get("params") or {})
        self.strategy = str(p.get("strategy") or "one_for_one")
        self.children = [
            Child(str(c.get("key") or i + 1), dict(c)) for i, c in enumerate(p.get("children") or [])
        ]
        for c in self.children:
            restart.validate(self.strategy, c.restart_type)
        self.intensity = restart.Intensity(int(p.get("intensity", 3)), float(p.get("period", 60)))
        self.notes: list[str] = [str(n) for n in p.get("notes") or []]
        self.monitor = Monitor(
            project,
            stall_after=float(p["stall_after"]) if p.get("stall_after") else None,
            answer_after=float(p.get("answer_after") or ANSWER_AFTER),
        )
        self.loop = Loop(session_dir)
        self.fresh: set[str] = set()  # children restarted while the current batch is handled
        self.taken: set[str] = set()  # a resumed run's old children, each matched once (substrate/resume)

    # --- the loop ------------------------------------------------------------------------------------
    def run(self) -> int:
        sessions.set_status(self.dir, "running")
        print(f"scope · supervisor {self.sid} · {self.strategy} · {len(self.children)} children", flush=True)
        self.loop.observe("supervisor started")
        self.loop.decide(
            "start_children",
            f"start {len(self.children)} children under {self.strategy}, "
            f"at most {self.intensity.max_restarts} restarts in {self.intensity.period:g}s",
            children=[c.key for c in self.children],
        )
        self.loop.act("starting children")
        for c in self.children:
            self._start(c)
        try:
            while True:
                if all(c.ended for c in self.children):
                    return self._finish()
                self.loop.observe("watching children")
                for msg in split_inbox(sessions.take_messages(self.dir))[1]:
                    self._take_note(msg)
                self.fresh = set()
                for o in self.monitor.wait(1.0):
                    if o.child in self.fresh:  # seen before its restart in this batch: stale
                        continue
                    code = self._handle(o)
                    if code is not None:
                        return code
        finally:
            self.monitor.close()

    def _take_note(self, msg: dict[str, Any]) -> None:
        text = str(msg.get("text") or "").strip()
        if text:
            self.notes.append(text)
            self.loop.orient(
                "a note for the children", f"{msg.get('kind')}: {text[:100]}", source=msg.get("kind")
            )
            self.loop.decide("pass_on_note", "the next child run gets it in its task")

    def _child(self, sid: str) -> Child | None:
        return next((c for c in self.children if c.sid == sid), None)

    def _handle(self, o: Observation) -> int | None:
        c = self._child(o.child)
        if c is None or c.handled:
            return None
        if o.kind == "ended" and o.end == "done":
            c.ended, c.handled = "done", True
            self.loop.orient(f"{c.sid} done", f"child {c.key} finished", child=c.sid)
            return None
        if o.kind == "needs_input":
            tell_person(self.loop, self.dir, o)
            return None
        reason = o.reason if o.kind == "escalation" else ""
        if o.kind == "ended" and o.end == "escalated":
            reason = o.reason or "stuck"
        if reason and reason not in HANDLED_HERE:
            c.handled = True
            self.loop.orient(
                f"{c.sid} escalated: {reason}",
                o.details or reason,
                child=c.sid,
                reason=reason,
                evidence=o.evidence,
            )
            return self._escalate(
                reason, f"{c.sid}: {o.details or reason}", [{"session": c.sid, "seqs": o.evidence}]
            )
        trouble = "stuck" if reason else o.trouble
        c.handled = True
        self.loop.orient(
            f"{c.sid} {trouble}", o.details or trouble, child=c.sid, trouble=trouble, evidence=o.evidence
        )
        if not restart.wants_restart(c.restart_type, trouble):
            if o.kind != "ended":
                stop(self.project, str(c.sid), f"{trouble}: {o.details}")
            c.ended = trouble
            self.loop.decide(
                "let_end", f"{c.key} is {c.restart_type}: not restarted after {trouble}", child=c.sid
            )
            return None
        if not self.intensity.allow(time.time()):
            why = (
                f"{c.sid} {trouble} again: more than {self.intensity.max_restarts} restarts "
                f"in {self.intensity.period:g}s"
            )
            return self._escalate("restart_intensity", why, [{"session": c.sid, "seqs": o.evidence}])
        order = [x.key for x in self.children]
        targets = [x for x in self.children if x.key in restart.to_restart(self.strategy, order, c.key)]
        self.loop.decide(
            "restart",
            f"{c.sid} {trouble} ({o.details or trouble}); {self.strategy} restarts "
            + ", ".join(str(x.sid) for x in targets),
            children=[x.sid for x in targets],
            strategy=self.strategy,
            intensity=f"{self.intensity.used(time.time())}/{self.intensity.max_restarts}",
        )
        self.loop.act(f"restarting {len(targets)} children")
        for x in reversed(targets):
            stop(self.project, str(x.sid), f"restart ({self.strategy} after {c.sid} {trouble})")
        for x in targets:
            self._restart(x, trouble if x is c else f"sibling {c.sid} {trouble}", trouble)
        return None

    # --- acting --------------------------------------------------------------------------------------
    def _task(self, c: Child) -> str:
        task = str(c.spec.get("task") or self.meta.get("title") or "")
        if self.notes:
            task += "\n\nNotes from above:\n" + "\n".join(f"- {n}" for n in self.notes)
        if c.history:
            task += "\n\nThis is a restart. Earlier attempts:\n" + "\n".join(f"- {h}" for h in c.history)
        return task

    def _start(self, c: Child) -> None:
        from scope_tui.substrate.spawn import launch, spawn

        spec = c.spec
        carried = None
        if self.meta.get("resumed_from"):  # resumed: the lost run's ended children are kept
            from scope_tui.substrate.resume import carry_child

            match = {"task": self._task(c), "key": c.key, "cmd": spec.get("cmd")}
            carried = carry_child(self.project, self.sid, self.meta, match, self.taken)
            if carried and carried[0] == "kept" and sessions.load(self.project, carried[1]).status != "done":
                carried = ("again", carried[1])  # a restart here reuses the id: it must be one of ours
        if carried is not None and carried[0] != "again":
            self.loop.decide(carried[0], f"child {c.key}: {carried[1]} of the lost run", key=c.key)
            c.sid = carried[1]
            self.monitor.watch(c.sid)
            print(f"  {carried[0]} {c.sid}", flush=True)
            return
        s = spawn(
            self.project,
            self._task(c),
            parent=self.sid,
            driver=spec.get("driver") or ("command" if spec.get("cmd") else None),
            cmd=spec.get("cmd"),
            level=spec.get("level") or ("tactical" if spec.get("driver") == "pattern" else "operational"),
            skill=spec.get("skill"),
            model=spec.get("model") or self.meta.get("model"),
            cwd=Path(self.meta.get("cwd") or self.project.home),
            launch_now=False,
            params=spec.get("params") or None,
            key=c.key,
            restart=c.restart_type,
            title=spec.get("title"),
            resumed_from=carried[1] if carried else None,
        )
        if carried:
            from scope_tui.substrate.resume import replaced

            replaced(self.project, carried[1], s.id)
        c.sid = s.id
        self.monitor.watch(s.id)
        launch(self.project, s)
        print(f"  started {s.id}  {s.title}", flush=True)

    def _restart(self, c: Child, why: str, trouble: str) -> None:
        """Relaunch the same session id with the spec's changes for this attempt."""
        from scope_tui.substrate.spawn import launch

        assert c.sid is not None
        c.restarts += 1
        changes = restart.adjust(c.spec, c.restarts, trouble)
        c.spec.update(changes)
        d = self.project.session_dir(c.sid)
        s = sessions.load_dir(d)
        # more context for the next attempt: how this one ended and what it last printed
        old = (s.result() or "").strip()
        c.history.append(
            f"attempt {c.restarts} ended {s.status} ({s.state.get('reason') or why})"
            + (f"; its last output:\n{old[-800:]}" if old else "")
        )
        if (d / sessions.RESULT).exists():  # keep it, but never as the new run's result
            os.replace(d / sessions.RESULT, d / f"result.attempt{c.restarts}.md")
        for k in ("cmd", "model", "params", "driver", "skill"):
            if k in changes:
                s.meta[k] = changes[k]
        s.meta["restarts"] = c.restarts
        # leave the old pane before the status goes back to pending: a late pane-died report about it is
        # then recognised as stale (substrate.reaper compares panes) and cannot fail the new run
        window = (s.meta.get("tmux") or {}).get("window")
        if window:
            from scope_tui.substrate.server import tmux_for

            tmux_for(self.project).kill_window(window)
        s.meta["tmux"] = None
        write_json(d / sessions.META, s.meta)
        write_text(d / sessions.TASK, self._task(c))
        events.append(d, "restart", attempt=c.restarts + 1, reason=why, changes=changes, by=self.sid)
        sessions.set_status(d, "pending", reason=f"restart {c.restarts}: {why}", force=True, exit_code=None)
        c.ended, c.handled = None, False
        self.fresh.add(c.sid)
        self.monitor.reset(c.sid)
        launch(self.project, s)
        print(f"  restarted {c.sid} ({why})", flush=True)

    def _escalate(self, reason: str, details: str, evidence: list[Any]) -> int:
        self.loop.decide("escalate", f"{reason}: {details}", reason=reason)
        self.loop.act("stopping children in reverse order")
        for c in reversed(self.children):
            if c.sid:
                stop(self.project, c.sid, f"supervisor escalated: {reason}")
        escalate(self.dir, reason, details, evidence)
        print(f"  escalated: {reason}: {details}", flush=True)
        return 1

    def _finish(self) -> int:
        needed = [c for c in self.children if c.restart_type != "temporary"]
        ok = all(c.ended == "done" for c in needed)
        parts = []
        for c in self.children:
            s = sessions.load_dir(self.project.session_dir(str(c.sid)))
            parts.append(f"## {c.key} ({c.sid}, {c.ended})\n\n{(s.result() or '').strip()}\n")
        sessions.write_result(self.dir, "\n".join(parts))
        self.loop.decide(
            "finish",
            "every child is done" if ok else "a required child did not finish",
            restarts=sum(c.restarts for c in self.children),
        )
        if ok:
            sessions.set_status(self.dir, "done", exit_code=0)
            return 0
        bad = ", ".join(f"{c.sid} {c.ended}" for c in needed if c.ended != "done")
        sessions.set_status(self.dir, "failed", reason=f"children did not finish: {bad}", exit_code=1)
        return 1
