"""What an engine may do, as one small object: the pattern session it runs in, and every action on it.

An engine (map-reduce, maker-checker, ralph, DAG) never calls the substrate directly: it asks its
`EngineContext` to set a phase, record a decision, spawn a child, wait, or run a batch of children
with bounded parallelism. The supervisor (ooda) subclasses this class to watch and steer: override
`on_child_failed` (the retry policy) and `before_action` (online checks) and pass the instance to
`patterns.engines.run(session_dir, ctx)`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scope_tui.store import events, sessions
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project

# Skills whose child runs as a pattern instance of its own (a tactical session driving workers).
PATTERN_SKILLS = ("rlm", "map-reduce", "maker-checker", "ralph", "dag")

Policy = Literal["retry", "give_up"]


class ActionRefused(ScopeError):
    """`before_action` said no; the message is its reason."""


@dataclass
class ChildSpec:
    """One unit of child work. `key` names it in results (a partition index, a DAG node, "maker")."""

    task: str
    key: str = ""
    role: str = ""  # mapper | reducer | maker | checker | iteration | node:<name>
    title: str | None = None  # the tree's label; default: the task's first line
    cmd: str | None = None  # a shell command: the command driver
    skill: str | None = None  # a pattern skill makes the child a tactical pattern session
    driver: str | None = None
    level: str | None = None
    model: str | None = None
    params: dict[str, Any] | None = None
    agent: str | None = None  # a persistent agent who takes this part (its own task: it learns from it)
    retries: int = 0  # extra attempts the default retry policy allows
    extra: dict[str, Any] = field(default_factory=dict)  # more meta.json fields


@dataclass
class ChildOutcome:
    """How a spec ended: the last attempt's session, and every session id it took."""

    spec: ChildSpec
    session: sessions.Session | None
    sids: list[str] = field(default_factory=list)
    refused: str | None = None  # set when before_action refused the spawn

    @property
    def sid(self) -> str | None:
        return self.sids[-1] if self.sids else None

    @property
    def attempts(self) -> int:
        return len(self.sids)

    @property
    def ok(self) -> bool:
        return self.session is not None and self.session.status == "done"

    @property
    def status(self) -> str:
        return "refused" if self.session is None else self.session.status

    @property
    def reason(self) -> str:
        if self.session is None:
            return self.refused or "not started"
        if self.session.corrupt:
            return f"corrupt: {self.session.corrupt}"
        return str(self.session.state.get("reason") or self.session.status)

    @property
    def result(self) -> str:
        return (self.session.result() or "") if self.session is not None else ""


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(template: str, **values: Any) -> str:
    """Replace `{name}` for the names given, leaving every other brace alone (shell `${X}` stays)."""
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


# Who takes each part of a run by strength: given the context and what each part is about, returns
# (agent or None, why) a part. Set by the layer that starts the engine (api.run_worker, for a run of an
# agent's task, with the agents layer's pick); this layer cannot ask the agents itself.
Assigner = Callable[["EngineContext", list[str]], list[tuple[str | None, str]] | None]


class EngineContext:
    """The pattern session an engine runs in, and the actions it may take. Override-friendly."""

    assigner: Assigner | None = None

    def __init__(self, project: Project, session_dir: Path) -> None:
        self.project = project
        self.session_dir = Path(session_dir)
        self.sid = self.session_dir.name
        s = sessions.load_dir(self.session_dir)
        if s.corrupt:
            raise ScopeError(f"session {s.id} is corrupt: {s.corrupt}")
        self.meta: dict[str, Any] = s.meta
        self.params: dict[str, Any] = dict(s.meta.get("params") or {})
        self.taken: set[str] = set()  # a resumed session's old children, each matched once (substrate/resume)

    @classmethod
    def from_dir(cls, path: Path) -> EngineContext:
        """The context of the session in `path` (`.scope/sessions/<id>`)."""
        path = Path(path).resolve()
        return cls(Project(path.parent.parent), path)

    @classmethod
    def coerce(cls, ctx_or_dir: EngineContext | Path | str) -> EngineContext:
        """What an engine's `run` gets may be a context (from the supervisor) or a session folder."""
        if isinstance(ctx_or_dir, EngineContext):
            return ctx_or_dir
        return cls.from_dir(Path(ctx_or_dir))

    # --- reading -------------------------------------------------------------------------------------
    @property
    def session(self) -> sessions.Session:
        """This pattern session as it is on disk now."""
        return sessions.load_dir(self.session_dir)

    @property
    def pattern(self) -> str:
        return str(self.meta.get("skill") or "")

    def task(self) -> str:
        return self.session.task()

    @property
    def cwd(self) -> Path:
        cwd = Path(self.meta.get("worktree") or self.meta.get("cwd") or self.project.home)
        return cwd if cwd.is_dir() else self.project.home

    def say(self, text: str) -> None:
        """A line for the person watching this session's pane."""
        print(text, flush=True)

    # --- recording -----------------------------------------------------------------------------------
    def begin(self, why: str = "") -> None:
        """Mark the session running and in `observe`."""
        sessions.set_status(self.session_dir, "running")
        self.phase("observe", why or f"{self.pattern} engine started")

    def phase(self, name: str, why: str = "") -> None:
        sessions.set_phase(self.session_dir, name, why)

    def decide(self, what: str, why: str = "", **fields: Any) -> None:
        """Record a `decision` event: what was chosen, and why."""
        events.append(self.session_dir, "decision", what=what, why=why, **fields)

    def event(self, type: str, **fields: Any) -> dict[str, Any]:
        return events.append(self.session_dir, type, **fields)

    def note_state(self, **fields: Any) -> None:
        """Small extra fields in state.json (e.g. `iteration`), shown by the tree."""
        sessions.update_state(self.session_dir, **fields)

    def finish(self, ok: bool, result: str, reason: str | None = None) -> int:
        """Write result.md and end the session done (0) or failed (1) with `reason`."""
        sessions.write_result(self.session_dir, result if result.endswith("\n") else result + "\n")
        events.append(self.session_dir, "result", ok=ok, chars=len(result), reason=reason)
        if ok:
            sessions.set_status(self.session_dir, "done", exit_code=0)
        else:
            sessions.set_status(self.session_dir, "failed", reason=reason or "failed", exit_code=1)
        self.say(f"{self.pattern}: {'done' if ok else 'failed: ' + (reason or '')}")
        return 0 if ok else 1

    # --- hooks the supervisor overrides --------------------------------------------------------------
    def before_action(self, action: dict[str, Any]) -> str | None:
        """Asked before each action (`{"kind": "spawn", "spec": ChildSpec}`); a string refuses it.

        The default allows everything. A supervisor or online checker returns a one-line reason to
        stop the action; the context records it and raises ActionRefused.
        """
        return None

    def on_child_failed(self, spec: ChildSpec, outcome: ChildOutcome, attempt: int) -> Policy:
        """The retry policy: `attempt` attempts have been made; default retries up to `spec.retries`."""
        return "retry" if attempt <= spec.retries else "give_up"

    def assign_agents(self, parts: list[tuple[ChildSpec, str]]) -> None:
        """Give each part that names no agent (and is no shell command) to the agent whose strengths fit
        what it is about (`assigner`), with an `assign` decision a part saying who and why."""
        if self.assigner is None:
            return
        open_ = [(spec, about) for spec, about in parts if not spec.agent and not spec.cmd]
        if not open_:
            return
        picks = self.assigner(self, [about for _, about in open_])
        if picks is None:  # no one to choose from
            return
        for (spec, _), (agent, why) in zip(open_, picks, strict=True):
            self.decide("assign", why, key=spec.key, role=spec.role, agent=agent)
            if agent:
                spec.agent = agent
                spec.extra["assigned"] = why

    # --- acting --------------------------------------------------------------------------------------
    def spawn_child(self, task: str, **opts: Any) -> str:
        """Start a child session of this one and return its id (at once; it runs in its own window).

        `opts` are ChildSpec fields. A child with a pattern skill is a tactical pattern session,
        any other an operational worker. Raises ActionRefused when `before_action` says no.
        """
        return self.start(ChildSpec(task=task, **opts))

    def start(self, spec: ChildSpec, attempt: int = 1) -> str:
        """Spawn one attempt at `spec`; see spawn_child."""
        from scope_tui.substrate.spawn import spawn

        refusal = self.before_action({"kind": "spawn", "spec": spec, "attempt": attempt})
        if refusal:
            self.decide("refused", refusal, key=spec.key, role=spec.role)
            raise ActionRefused(refusal)
        again = None
        if self.meta.get("resumed_from"):  # resumed: the old session's finished children are kept
            from scope_tui.substrate.resume import carry_child

            match = {"task": spec.task, "key": spec.key, "role": spec.role, "cmd": spec.cmd}
            carried = carry_child(self.project, self.sid, self.meta, match, self.taken)
            if carried is not None and carried[0] != "again":
                how, sid = carried
                self.decide(
                    how,
                    f"{sid}: {'finished before' if how == 'kept' else 'lost, continued'}",
                    key=spec.key,
                    role=spec.role,
                )
                self.say(f"  {how} {sid}")
                return sid
            again = carried[1] if carried else None
        driver, level = spec.driver, spec.level
        if spec.cmd:
            driver = driver or "command"
        elif spec.skill in PATTERN_SKILLS and driver in (None, "pattern"):
            driver, level = "pattern", level or "tactical"
        title = spec.title
        if title and attempt > 1:
            title = f"{title} (attempt {attempt})"
        extra: dict[str, Any] = {"pattern": self.pattern, "role": spec.role or None, **spec.extra}
        if spec.key:
            extra["key"] = spec.key
        if title:
            extra["title"] = title
        if again:
            extra["resumed_from"] = again
        s = spawn(
            self.project,
            spec.task,
            parent=self.sid,
            driver=driver,
            cmd=spec.cmd,
            level=level or "operational",
            skill=spec.skill,
            model=spec.model or self.meta.get("model"),
            cwd=self.cwd,
            params=spec.params or None,
            agent=spec.agent,
            **extra,
        )
        if again:
            from scope_tui.substrate.resume import replaced

            replaced(self.project, again, s.id)
        self.say(f"  spawned {s.id}  {s.title}")
        return s.id

    def wait_children(
        self, sids: list[str], timeout: float | None = None, any_: bool = False
    ) -> list[sessions.Session]:
        """Block on file events until the children end (or one, with `any_`); returns them as they are.

        On timeout the list holds every child named, some still live.
        """
        from scope_tui.substrate.wait import wait

        return wait(self.project, list(sids), timeout=timeout, any_=any_).sessions

    def parallel_now(self, parallel: int) -> int:
        """How many children may run at once from now on (the supervisor may reallocate)."""
        return parallel

    def run_children(
        self, specs: list[ChildSpec], parallel: int = 4, timeout: float | None = None
    ) -> list[ChildOutcome]:
        """Run every spec with at most `parallel` children live, starting the next as one ends.

        A failed child is retried as a fresh child session while `on_child_failed` says so. Returns
        one outcome per spec, in the order given; none is dropped (a refused spawn is an outcome too).
        """
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        outcomes = [ChildOutcome(spec, None) for spec in specs]
        queue: list[int] = list(range(len(specs)))
        live: dict[str, int] = {}  # sid -> index into outcomes
        parallel = max(1, int(parallel))

        def launch(i: int) -> None:
            o = outcomes[i]
            try:
                sid = self.start(o.spec, attempt=o.attempts + 1)
            except ActionRefused as exc:
                o.refused = str(exc)
                return
            o.sids.append(sid)
            live[sid] = i

        while queue or live:
            parallel = self.parallel_now(parallel)
            while queue and len(live) < parallel:
                launch(queue.pop(0))
            if not live:
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ended = [
                s for s in self.wait_children(list(live), timeout=left, any_=True) if s.terminal or s.corrupt
            ]
            if not ended and left is not None and left <= 0:
                for sid, i in live.items():
                    outcomes[i].session = sessions.load_dir(self.project.session_dir(sid))
                break
            for s in ended:
                i = live.pop(s.id)
                o = outcomes[i]
                o.session = s
                if s.status == "done":
                    continue
                if self.on_child_failed(o.spec, o, o.attempts) == "retry":
                    self.decide(
                        "retry",
                        f"{s.id} ended {s.status}: {s.state.get('reason') or ''}".strip(),
                        key=o.spec.key,
                        role=o.spec.role,
                        attempt=o.attempts + 1,
                    )
                    queue.insert(0, i)
                else:
                    self.decide("give_up", f"{s.id} ended {s.status}", key=o.spec.key, attempts=o.attempts)
        return outcomes


def run_guarded(engine: Any, ctx_or_dir: EngineContext | Path | str) -> int:
    """Run `engine(ctx)`; an unexpected error ends the session failed with the error, never silently."""
    ctx = EngineContext.coerce(ctx_or_dir)
    try:
        return int(engine(ctx))
    except KeyboardInterrupt:
        sessions.set_status(ctx.session_dir, "killed", reason="interrupted")
        return 130
    except Exception as exc:
        msg = str(exc) if isinstance(exc, ScopeError) else f"{type(exc).__name__}: {exc}"
        events.append(ctx.session_dir, "error", error=msg, source=f"engine {ctx.pattern}")
        print(f"scope: {ctx.pattern} engine: {msg}", file=sys.stderr, flush=True)
        return ctx.finish(False, f"The {ctx.pattern} engine stopped: {msg}", reason=msg)
