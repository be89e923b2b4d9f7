"""A pattern engine's context under supervision: restart intensity, trouble detection while waiting, escalation.

The engine (map-reduce, maker-checker, ralph, dag) stays in charge of its own procedure; this context
decides whether a failed child is retried (a fresh child session, the engine's way), stops a child that
stalls, repeats itself or keeps erroring, and escalates what the tactical level cannot handle.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from scope_tui.ooda import restart
from scope_tui.ooda.acts import ANSWER_AFTER, stop, tell_person
from scope_tui.ooda.escalation import escalate
from scope_tui.ooda.loop import Loop
from scope_tui.ooda.monitor import Monitor
from scope_tui.patterns.engines.context import ChildOutcome, ChildSpec, EngineContext, Policy
from scope_tui.store import events, sessions
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project


def _details(s: sessions.Session) -> str:
    """What the child said when it escalated (its last `escalation` event): the state keeps the reason only."""
    for e in reversed(events.read_all(s.dir)):
        if e.get("type") == "escalation":
            return str(e.get("details") or "")
    return ""


class Escalated(ScopeError):
    """The supervisor escalated; the engine must stop (the session is already `escalated`)."""


class SupervisedContext(EngineContext):
    """EngineContext + OTP restart intensity, stall / loop / error-streak detection and escalation."""

    def __init__(self, project: Project, session_dir: Path) -> None:
        super().__init__(project, session_dir)
        p = self.params
        # without `restart`, a failed child is retried as the engine's own policy says (its `retries`)
        self.restart_type: str | None = str(p["restart"]) if p.get("restart") else None
        if self.restart_type:
            restart.validate("one_for_one", self.restart_type)
        self.intensity = restart.Intensity(int(p.get("intensity", 10)), float(p.get("period", 60)))
        self.stall_after = float(p["stall_after"]) if p.get("stall_after") else None
        self.answer_after = float(p["answer_after"]) if p.get("answer_after") else None
        self.loop = Loop(self.session_dir)
        self.started: list[str] = []

    def phase(self, name: str, why: str = "") -> None:
        super().phase(name, why)
        self.loop._phase = name  # the engine and the supervision share one phase in state.json

    def start(self, spec: ChildSpec, attempt: int = 1) -> str:
        sid = super().start(spec, attempt)
        self.started.append(sid)
        return sid

    def before_action(self, action: dict[str, Any]) -> str | None:
        """Online GEPA at the point of action: a deviation is recorded, reflected on and proposed as a
        patch; the action is refused (the model gets the reflection) only where a model chose it (RLM).
        The deterministic engines follow their procedure: they are not stopped, the lesson is kept."""
        from scope_tui.gepa.online import before_action

        text = before_action(self.project, self.session_dir, action)
        return text if text and self.pattern == "rlm" else None

    def parallel_now(self, parallel: int) -> int:
        """The strategic review may reallocate parallelism (a `reallocate` message in this session's
        inbox): the children not yet started run that many at a time."""
        for msg in sessions.take_messages(self.session_dir, "reallocate"):
            try:
                new = max(1, int(str(msg.get("parallel"))))
            except (TypeError, ValueError):
                continue
            if new != parallel:
                self.decide(
                    "reallocate", f"the orchestrator reallocated: {new} at a time ({msg.get('text')})"
                )
                parallel = new
        return parallel

    def on_child_failed(self, spec: ChildSpec, outcome: ChildOutcome, attempt: int) -> Policy:
        """Retry as the engine would (or as `params.restart` says), within the restart intensity.

        An escalation the tactical level cannot handle (anything but `stuck`) goes up at once.
        """
        s = outcome.session
        end, reason = outcome.status, outcome.reason
        if s is not None and end == "escalated" and reason not in ("stuck", "escalated"):
            self._escalate(reason, f"{s.id}: {_details(s) or reason}", [{"session": s.id}])
        trouble = "stuck" if end == "escalated" else end
        if self.restart_type is None:
            want = super().on_child_failed(spec, outcome, attempt) == "retry"
        else:
            want = restart.wants_restart(self.restart_type, trouble)
        if not want:
            return "give_up"
        if not self.intensity.allow(time.time()):
            self._escalate(
                "restart_intensity",
                f"{outcome.sid} {end} ({reason}): more than {self.intensity.max_restarts} restarts "
                f"in {self.intensity.period:g}s",
                [{"session": outcome.sid}],
            )
        if trouble == "stuck" and spec.params and isinstance(spec.params.get("chunk_tokens"), int):
            spec.params = {**spec.params, "chunk_tokens": max(1, spec.params["chunk_tokens"] // 2)}
        return "retry"

    def _escalate(self, reason: str, details: str, evidence: list[Any]) -> None:
        self.loop.decide("escalate", f"{reason}: {details}", reason=reason)
        for sid in reversed(self.started):
            stop(self.project, sid, f"supervisor escalated: {reason}")
        escalate(self.session_dir, reason, details, evidence)
        raise Escalated(f"escalated: {reason}: {details}")

    def wait_children(
        self, sids: list[str], timeout: float | None = None, any_: bool = False
    ) -> list[sessions.Session]:
        """Wait as the engine asks, while stopping (failed, reason stuck) a child that stalls and nudging
        one that repeats itself or keeps erroring; a question left unanswered raises an alert."""
        mon = Monitor(
            self.project, stall_after=self.stall_after, answer_after=self.answer_after or ANSWER_AFTER
        )
        for sid in sids:
            mon.watch(sid)
        deadline = None if timeout is None else time.monotonic() + timeout
        sessions.set_status(self.session_dir, "waiting", reason=f"waiting on {' '.join(sids)}")
        try:
            while True:
                now = [sessions.load_dir(self.project.session_dir(s)) for s in sids]
                ended = [s for s in now if s.terminal or s.corrupt]
                if ended and (any_ or len(ended) == len(now)):
                    return ended if any_ else now
                if deadline is not None and time.monotonic() >= deadline:
                    return now
                for o in mon.wait(1.0):
                    if o.kind == "needs_input":
                        tell_person(self.loop, self.session_dir, o)
                    if o.kind in ("repeated", "error_streak"):
                        # a model may still recover: tell it what the supervisor sees (its inbox is read
                        # before every turn); a stall is what gets it stopped
                        self.loop.orient(f"{o.child} {o.kind}", o.details, child=o.child, evidence=o.evidence)
                        self.loop.decide("nudge", f"{o.child} {o.details}: tell it to change approach")
                        sessions.put_message(
                            self.project.session_dir(o.child),
                            "redirect",
                            f"Your supervisor sees {o.details}. That is not progress: change approach, "
                            "or escalate with a reason if you are stuck.",
                        )
                    if o.kind == "stalled":
                        self.loop.orient(f"{o.child} {o.kind}", o.details, child=o.child, evidence=o.evidence)
                        self.loop.decide(
                            "stop_child", f"{o.child} {o.kind}: stop it so the policy can retry it"
                        )
                        stop(self.project, o.child, f"stuck: {o.details}", status="failed")
        finally:
            mon.close()
            sessions.update_state(self.session_dir, status="running", reason=None)
