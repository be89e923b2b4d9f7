"""The strategic level: the orchestrator that profiles a task, picks patterns and handles escalations.

`scope run TASK` starts one (driver `orchestrator`, level `strategic`). Its loop:
observe the task and its inbox; orient (profile the task, rank the patterns); decide (which pattern,
how much budget); act (spawn a supervisor: a tactical pattern session). Then it watches that supervisor.

It reviews at its own timescale (ooda/review.py): every `[ooda] review_every` seconds (default 60) while
a supervisor runs (progress against budget; continue, switch pattern, or reallocate parallelism) and on
every escalation. With a reachable strategic model the review is one call given the subtree's summary,
whose decision and why become the `decision` event (`by: model`). Offline the rules decide (`by:
rules`), on an escalation by its reason: task_too_big -> decompose into map-reduce (ooda/decompose.py:
the model's parts, else the context's files, else chunks of a file or of the task's text);
wrong_approach / restart_intensity -> switch to the next pattern; budget -> raise it from what is left,
or refuse; missing_context -> send an explorer (params.explore, or RLM over the run's context) and run
again with what it found; stuck / nothing left -> ask the person (status needs_input; the answer arrives
with `scope redirect ID MESSAGE` and the run goes on with it). An orchestrator that has a parent session
escalates there instead of asking.

params (all optional): candidates=[{skill, params?, budget?}] (the patterns to try, in order; default
from the profile and the skills library), decompose={skill, params} (what task_too_big turns into),
review_every (seconds, over the config's).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from scope_tui.ooda import decompose, review
from scope_tui.ooda.acts import guarded
from scope_tui.ooda.escalation import Escalation, ask_person, escalate, split_inbox
from scope_tui.ooda.loop import Loop
from scope_tui.ooda.monitor import Monitor, Observation
from scope_tui.store import sessions
from scope_tui.store.project import Project

PATTERNS = ("rlm", "map-reduce", "maker-checker", "ralph", "dag")


def run_strategic(s: sessions.Session) -> int:
    """Run an orchestrator session (driver `orchestrator`, as its worker read it); returns the process
    exit code."""
    session_dir = s.dir.resolve()
    return guarded(session_dir, lambda: Orchestrator(s.project, session_dir).run())


def fallback_plan(task: str, params: dict[str, Any]) -> tuple[list[str], str]:
    """Patterns to try, in order, from the task's shape alone; and why. Used when no selector answers."""
    if params.get("dag"):
        return ["dag"], "a DAG file was given"
    if params.get("context"):
        return ["rlm", "map-reduce"], "a large context was given: explore it as a REPL variable, else scan it"
    if params.get("rubric"):
        return ["maker-checker", "ralph"], "a rubric was given: make, then check against it"
    if params.get("promise"):
        return ["ralph"], "a completion promise was given: iterate until it is said"
    return ["ralph"], "no context, rubric or DAG: iterate with fresh context until done"


class Orchestrator:
    def __init__(self, project: Project, session_dir: Path) -> None:
        self.project = project
        self.dir = session_dir
        s = sessions.load_dir(session_dir)
        self.sid = s.id
        self.meta = s.meta
        self.params: dict[str, Any] = dict(s.meta.get("params") or {})
        self.task = s.task()
        self.loop = Loop(session_dir)
        self.monitor = Monitor(project)
        self.candidates: list[dict[str, Any]] = []
        self.tried: list[str] = []
        self.current: str | None = None
        self.current_cand: dict[str, Any] = {}
        self.notes: list[str] = []
        self.decomposed = False
        budget = s.meta.get("budget")
        self.budget_left: float | None = float(budget) if budget else None
        self.asking: Escalation | None = None
        self._details: dict[str, Escalation] = {}  # escalation messages by source, for their details
        self.exploring: tuple[str, Escalation, dict[str, Any]] | None = None  # explorer id, why, what resumes
        self.explored = False
        self.current_budget: float | None = None
        self.stages: list[dict[str, Any]] = []  # a composition (explore -> scan -> validate) still to run
        self.taken: set[str] = set()  # a resumed run's old supervisors, each matched once (substrate/resume)
        self.started = time.time()
        self.review_every = review.review_every(project, self.params)
        self.next_review = time.monotonic() + self.review_every

    # --- the loop ------------------------------------------------------------------------------------
    def run(self) -> int:
        sessions.set_status(self.dir, "running")
        self.say(f"scope · orchestrator {self.sid}")
        self.loop.observe("reading the task")
        self.candidates = self._plan()
        if self.candidates and self.candidates[0].get("own_skill"):
            self._launch(self.candidates[0])
        elif not self.candidates:
            ask_person(self.dir, "wrong_approach", "no pattern fits this task; say which skill to use")
            self.asking = Escalation(self.sid, "wrong_approach")
        else:
            first = self.candidates[0]
            self.loop.decide(
                "select",
                f"start with {first['skill']} (of {', '.join(c['skill'] for c in self.candidates)})",
                skill=first["skill"],
            )
            self._launch(first)
        try:
            while True:
                self.loop.observe("watching the supervisor" if not self.asking else "waiting for the person")
                escs, other = split_inbox(sessions.take_messages(self.dir))
                for e in escs:
                    self._details[e.source] = e
                for msg in other:
                    code = self._on_message(msg)
                    if code is not None:
                        return code
                for o in self.monitor.wait(min(1.0, max(0.05, self.next_review - time.monotonic()))):
                    code = self._on_observation(o)
                    if code is not None:
                        return code
                if time.monotonic() >= self.next_review:
                    self._review()
                    self.next_review = time.monotonic() + self.review_every
        finally:
            self.monitor.close()

    def say(self, text: str) -> None:
        print(text, flush=True)

    # --- orient ---------------------------------------------------------------------------------------
    def _plan(self) -> list[dict[str, Any]]:
        """The patterns to try (alternatives, best first); a composition also fills `self.stages`."""
        given: list[Any] = self.params.get("candidates") or []
        staged: list[Any] = self.params.get("stages") or []
        if given or staged:
            cands = [dict(c) if isinstance(c, dict) else {"skill": str(c)} for c in (staged or given)]
            if staged:
                self.stages = cands[1:]
                cands = cands[:1] + [dict(c) for c in given]
            self.loop.orient(
                "patterns given",
                "the run names its " + ("stages" if staged else "candidate patterns"),
                skills=[c["skill"] for c in cands],
            )
            return cands
        own = self._own_skill()
        if own:
            return own
        names, stages = self._select()
        self.stages = [{"skill": n} for n in stages[1:]]
        return [{"skill": n} for n in names]

    def _own_skill(self) -> list[dict[str, Any]]:
        """A persistent agent's own skill, matched at spawn (meta agent_skill, agents.lifecycle) before
        the base library: the run is that skill's base pattern, with the own skill's procedure in every
        worker's prompt (agents.lifecycle.carry); the decision names the own skill. [] when none matched."""
        mine = self.meta.get("agent_skill") or {}
        if not mine.get("name") or not mine.get("root"):
            return []
        from scope_tui.patterns import skill_files
        from scope_tui.store.errors import UsageError

        try:
            sk = skill_files.load(self.project, str(mine["name"]), agent_skill_root=Path(mine["root"]))
        except UsageError as exc:
            self.loop.orient("own skill unreadable", str(exc)[:200])
            return []
        base = str(sk.front.get("base") or "")
        pattern = base if base in PATTERNS else fallback_plan(self.task, self.params)[0][0]
        how = f"its base pattern {base}" if base in PATTERNS else f"{pattern}, by the task's shape"
        self.loop.decide(
            "select",
            f"{self.meta.get('agent')}'s own skill {sk.name} v{sk.version} matches this task: run {how}",
            skill=pattern,
            own_skill=sk.name,
            own_version=sk.version,
            source="agent",
        )
        return [{"skill": pattern, "own_skill": sk.name}]

    def _select(self) -> tuple[list[str], list[str]]:
        """Profile the task and rank the skills with the skills library (a `skill` decision with every
        score and reason); the task's shape decides when the library cannot. Returns (alternatives, stages)."""
        try:
            from scope_tui.patterns.profile import profile
            from scope_tui.patterns.when import select, selection_event

            cwd = Path(self.meta.get("cwd") or self.project.home)
            prof = profile(self.task, self.params, cwd=cwd)
            self.loop.orient("task profiled", "; ".join(prof.notes) or "profiled", profile=prof.fields())
            sel = select(self.project, self.task, prof, model=self.meta.get("model"))
            ev = selection_event(sel)
            self.loop.decide(str(ev.pop("what")), str(ev.pop("why")), **ev)
            stages = [n for n in sel.composition if n in PATTERNS]
            rest = [
                c.name for c in sel.choices if c.score > 0 and c.name in PATTERNS and c.name not in stages[:1]
            ]
            if stages:
                return stages[:1] + [n for n in rest if n not in stages], stages
        except Exception as exc:  # selection is an aid, not a gate: fall back to the task's shape
            names, reason = fallback_plan(self.task, self.params)
            self.loop.orient(
                "task profiled by shape", f"{reason} (selector failed: {type(exc).__name__}: {exc})"[:300]
            )
            return names, names[:1]
        names, reason = fallback_plan(self.task, self.params)
        self.loop.orient("no skill qualified", reason, skills=names)
        return names, names[:1]

    # --- decide and act -------------------------------------------------------------------------------
    def _on_message(self, msg: dict[str, Any]) -> int | None:
        text = str(msg.get("text") or "").strip()
        if not text:
            return None
        self.loop.orient("a message from the person", text[:200], kind=msg.get("kind"))
        self.notes.append(text)
        if self.asking is None:
            if self.current and not sessions.load_dir(self.project.session_dir(self.current)).terminal:
                sessions.put_message(self.project.session_dir(self.current), "redirect", text)
            self.loop.decide("pass_on_note", "the running supervisor and every later one get it")
            return None
        named = next((c for c in self.candidates if re.search(rf"\b{re.escape(c['skill'])}\b", text)), None)
        named = named or next(
            ({"skill": p} for p in PATTERNS if re.search(rf"\b{re.escape(p)}\b", text)), None
        )
        cand = named or self.current_cand or (self.candidates[0] if self.candidates else {"skill": "ralph"})
        self.asking = None
        sessions.set_status(self.dir, "running", reason=None)
        self.loop.decide(
            "resume",
            f"the person answered; run {cand['skill']} again with the answer as a note",
            skill=cand["skill"],
        )
        self._launch(cand)
        return None

    def _on_observation(self, o: Observation) -> int | None:
        if self.exploring and o.child == self.exploring[0] and o.kind == "ended":
            return self._explored(o)
        if o.child != self.current:
            return None
        if o.kind == "escalation":
            if o.reason and self._details.get(o.child) is None:
                self._details[o.child] = Escalation(o.child, o.reason, o.details, o.evidence)
            return None
        if o.kind != "ended":
            return None
        s = sessions.load_dir(self.project.session_dir(o.child))
        if o.end == "done" and self.stages:
            nxt = self.stages.pop(0)
            found = (s.result() or "").strip()
            self.notes.append(
                f"result of the {self.current_cand.get('skill')} stage ({o.child}): {found[:4000]}"
            )
            self.loop.orient(f"{o.child} done", f"stage {self.current_cand.get('skill')} finished")
            self.loop.decide(
                "next_stage",
                f"hand what {self.current_cand.get('skill')} found to {nxt['skill']}",
                skill=nxt["skill"],
            )
            self._launch(nxt)
            return None
        if o.end == "done":
            result = s.result() or ""
            sessions.write_result(self.dir, result)
            self.loop.orient(f"{o.child} done", f"{self.current_cand.get('skill')} finished the task")
            self.loop.decide("finish", f"{o.child} ({self.current_cand.get('skill')}) delivered the result")
            sessions.set_status(self.dir, "done", exit_code=0)
            self.say(f"done: {o.child}")
            return 0
        e = self._details.pop(o.child, None)
        if e is None or o.end != "escalated":
            reason = o.reason if o.end == "escalated" and o.reason else "wrong_approach"
            e = Escalation(o.child, reason, f"{o.child} ended {o.end}: {o.details}", o.evidence)
        return self._on_escalation(e)

    def _on_escalation(self, e: Escalation) -> int | None:
        self.loop.orient(
            f"{e.source}: {e.reason}", e.details or e.reason, reason=e.reason, evidence=e.evidence
        )
        d = self._decide_escalation(e)
        self.next_review = time.monotonic() + self.review_every  # this was a review too
        return self._act(d, e)

    def _next_candidate(self) -> dict[str, Any] | None:
        return next((c for c in self.candidates if c["skill"] not in self.tried), None)

    def _explorer(self) -> dict[str, Any] | None:
        explore: dict[str, Any] | None = self.params.get("explore")
        if not explore and self.params.get("context"):
            explore = {"skill": "rlm"}
        return None if self.explored or not explore else dict(explore)

    def _options(self, e: Escalation) -> tuple[str, ...]:
        """What the strategic level can still do about `e` (the model chooses among these)."""
        ok = {
            "decompose": not self.decomposed,
            "switch_skill": self._next_candidate() is not None,
            "explore": self._explorer() is not None,
            "raise_budget": e.reason == "budget" and (self.budget_left is None or self.budget_left > 0),
            "ask_person": True,
        }
        return tuple(w for w in review.ON_ESCALATION if ok[w])

    def _rules(self, e: Escalation) -> review.Decision:
        """Offline: the escalation's reason decides (decompose, switch, explore, raise budget, else ask)."""
        skill = self.current_cand.get("skill")
        if e.reason == "task_too_big" and not self.decomposed:
            return review.Decision("decompose", f"{skill} found the task too big: split it")
        nxt = self._next_candidate()
        if e.reason in ("wrong_approach", "restart_intensity", "task_too_big") and nxt is not None:
            return review.Decision(
                "switch_skill", f"{skill} is not working ({e.reason}); try {nxt['skill']}", skill=nxt["skill"]
            )
        spec = self._explorer()
        if e.reason == "missing_context" and spec is not None:
            return review.Decision(
                "explore",
                f"{skill} lacks context ({e.details or 'unsaid'}): send a {spec.get('skill', 'rlm')} explorer",
            )
        if e.reason == "budget":
            if self.budget_left is None or self.budget_left > 0:
                extra = self.budget_left
                return review.Decision(
                    "raise_budget",
                    f"{skill} ran out of budget; give it {'more' if extra is None else f'${extra:.2f} more'}",
                )
            self.loop.decide("refuse_budget", "no budget left to give", by="rules")
        return review.Decision("ask_person", f"nothing left to try for {e.reason}")

    def _decide_escalation(self, e: Escalation) -> review.Decision:
        """A review on the escalation: the strategic model's one call when there is one, else the rules."""
        if not review.model_reachable(self.project, self.meta):
            return self._rules(e)
        options = self._options(e)
        esc = {"from": e.source, "reason": e.reason, "details": e.details[:1000]}
        got = review.ask_model(
            self.project, self.meta, self.task, self._summary(), options, "escalation", esc
        )
        if isinstance(got, str):
            d = self._rules(e)
            d.why = f"{got}; by rules: {d.why}"
            return d
        return got

    def _summary(self) -> dict[str, Any]:
        return review.summary(
            self.project,
            self.sid,
            started=self.started,
            budget=float(self.meta["budget"]) if self.meta.get("budget") else None,
            current=self.current,
            skill=self.current_cand.get("skill"),
            tried=list(self.tried),
            left=[c["skill"] for c in self.candidates if c["skill"] not in self.tried],
            parallel=int(self.params["parallel"]) if self.params.get("parallel") else None,
        )

    def _act(self, d: review.Decision, e: Escalation) -> int | None:
        """Carry out an escalation's decision; its `decision` event says what, why and who decided."""
        if d.what == "decompose":
            p = decompose.plan(self.task, self.params, d.parts)
            self.decomposed = True
            self.loop.decide(
                "decompose",
                f"{d.why} ({p.how})",
                skill=p.spec["skill"],
                **d.fields(),
            )
            self._launch(p.spec, task=p.task)
            return None
        if d.what == "switch_skill":
            self.stages = []  # the composed plan is abandoned: the next pattern takes the whole task
            nxt = next((c for c in self.candidates if c["skill"] == d.skill), None) or self._next_candidate()
            if nxt is not None:
                self.loop.decide("switch_skill", d.why, skill=nxt["skill"], **d.fields())
                self._launch(nxt)
                return None
        if d.what == "explore":
            spec = self._explorer()
            if spec is not None:
                self.explored = True
                self.loop.decide("explore", d.why, skill=spec.get("skill", "rlm"), **d.fields())
                resume = dict(self.current_cand)
                sid = self._launch(
                    {"skill": "rlm", **spec},
                    task=f"Find what this task is missing: {e.details}\n\nThe task:\n{self.task}",
                    explorer=True,
                )
                self.exploring = (sid, e, resume)
                return None
        if d.what == "raise_budget" and (self.budget_left is None or self.budget_left > 0):
            extra = self.budget_left
            self.loop.decide("raise_budget", d.why, **d.fields())
            cand = dict(self.current_cand)
            cand["budget"] = (self.current_budget or 0.0) + extra if extra is not None else None
            self.budget_left = 0.0 if extra is not None else None
            self._launch(cand, allocate=False)
            return None
        return self._ask(e, d)

    # --- the review at the strategic level's own cadence ---------------------------------------------
    def _review(self) -> None:
        """Every `review_every` seconds while a supervisor runs: progress against budget, switch pattern,
        reallocate parallelism; with a model in one call, else by rules; a `decision` event either way."""
        if not self.current or self.asking or self.exploring:
            return
        cur = sessions.load_dir(self.project.session_dir(self.current))
        if cur.terminal or cur.corrupt:
            return
        s = self._summary()
        d: review.Decision | str = "offline"
        if review.model_reachable(self.project, self.meta):
            d = review.ask_model(self.project, self.meta, self.task, s, review.ON_CADENCE, "cadence")
        if isinstance(d, str):
            rules = review.cadence_rules(s)
            if d != "offline":
                rules.why = f"{d}; {rules.why}"
            d = rules
        self.loop.decide(d.what, d.why, review="cadence", summary=s, skill=d.skill, **d.fields())
        if d.what == "switch_skill":
            nxt = next((c for c in self.candidates if c["skill"] == d.skill), None) or self._next_candidate()
            if nxt is not None:
                self.stages = []
                old = self.current
                self.loop.act(f"stopping {old} to switch to {nxt['skill']}")
                from scope_tui.substrate.control import kill

                kill(self.project, old, why=f"switched by the strategic review: {d.why}"[:300])
                self._launch(nxt)
        elif d.what == "reallocate" and d.parallel:
            self.params["parallel"] = d.parallel
            sessions.put_message(
                self.project.session_dir(self.current), "reallocate", d.why, parallel=d.parallel
            )

    def _explored(self, o: Observation) -> int | None:
        assert self.exploring is not None
        sid, e, resume = self.exploring
        self.exploring = None
        found = (sessions.load_dir(self.project.session_dir(sid)).result() or "").strip()
        if o.end != "done" or not found:
            self.loop.orient(f"explorer {sid} {o.end}", o.details or "found nothing")
            return self._ask(e)
        self.notes.append(f"context found by explorer {sid}: {found[:2000]}")
        self.loop.orient(f"explorer {sid} done", f"found {len(found)} characters of context")
        self.loop.decide("supply_context", f"run {resume.get('skill')} again with what the explorer found")
        self._launch(resume)
        return None

    def _ask(self, e: Escalation, d: review.Decision | None = None) -> int | None:
        details = f"{e.details or e.reason} (answer with 'scope redirect {self.sid} MESSAGE')"
        by = d.fields() if d is not None else {"by": "rules"}
        why = d.why if d is not None else f"nothing left to try for {e.reason}"
        if self.meta.get("parent"):
            self.loop.decide("escalate", f"{why}: cannot handle {e.reason} here, pass it up", **by)
            escalate(self.dir, e.reason, e.details, [{"session": e.source, "seqs": e.evidence}])
            return 1
        self.loop.decide("ask_person", f"{why}: ask the person", reason=e.reason, **by)
        ask_person(self.dir, e.reason, details, [{"session": e.source, "seqs": e.evidence}])
        self.asking = e
        self.say(f"needs input: {details}")
        return None

    def _launch(
        self, cand: dict[str, Any], *, allocate: bool = True, task: str | None = None, explorer: bool = False
    ) -> str:
        from scope_tui.substrate.spawn import spawn

        skill = str(cand["skill"])
        budget = cand.get("budget")
        if allocate and budget is None and self.budget_left is not None:
            budget = round(self.budget_left / 2, 4)  # half now, half kept for raises and switches
            self.budget_left -= budget
            self.loop.decide(
                "allocate", f"give {skill} ${budget:.2f}, keep ${self.budget_left:.2f}", budget=budget
            )
        params = dict(cand.get("params") or {})
        for k in ("context", "parallel", "chunk_tokens", "rubric", "max_iter", "promise", "dag"):
            if k in self.params and k not in params:
                params[k] = self.params[k]
        if self.notes:
            params["notes"] = list(params.get("notes") or []) + self.notes
        task = task or self.task
        if self.notes:
            task += "\n\nNotes from the person:\n" + "\n".join(f"- {n}" for n in self.notes)
        self.loop.act(f"spawning a {skill} supervisor")
        carried = None
        if self.meta.get("resumed_from"):  # resumed: the old run's supervisor is kept, or continued
            from scope_tui.substrate.resume import carry_child

            match = {"task": task, "skill": skill, "driver": "pattern"}
            carried = carry_child(self.project, self.sid, self.meta, match, self.taken)
        if carried is not None and carried[0] != "again":
            self.loop.decide(carried[0], f"the {skill} supervisor {carried[1]} of the lost run", skill=skill)
            return self._watch(carried[1], cand, budget, skill, explorer)
        s = spawn(
            self.project,
            task,
            parent=self.sid,
            driver="pattern",
            level="tactical",
            skill=skill,
            model=cand.get("model"),
            budget=budget,
            cwd=Path(self.meta.get("cwd") or self.project.home),
            launch_now=False,
            params=params or None,
            resumed_from=carried[1] if carried else None,
        )
        if carried:
            from scope_tui.substrate.resume import replaced

            replaced(self.project, carried[1], s.id)
        self._watch(s.id, cand, budget, skill, explorer)
        from scope_tui.substrate.spawn import launch

        launch(self.project, s)
        self.say(f"  supervisor {s.id}: {skill}")
        return s.id

    def _watch(self, sid: str, cand: dict[str, Any], budget: float | None, skill: str, explorer: bool) -> str:
        self.monitor.watch(sid)
        if not explorer:
            self.monitor.forget(self.current or "")
            self.current, self.current_cand, self.current_budget = sid, cand, budget
            self.tried.append(skill)
        return sid
