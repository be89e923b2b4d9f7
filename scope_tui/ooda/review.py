"""The strategic review: the orchestrator looks at its whole subtree and decides, at its own cadence
(`[ooda] review_every` seconds, default 60) and on every escalation.

`summary` is what the level sees (progress against budget, the children's ends, the patterns tried and
left); `decide` turns it into one `Decision`: with a reachable strategic model (`[models.strategic]`,
through models/) in ONE call that returns the decision and its why; offline (or when the model's reply
cannot be used) by `rules`, and the decision says so. The orchestrator records it as a `decision`
event (`by`: "model" or "rules") and acts on it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from scope_tui.store import config, ids, sessions
from scope_tui.store.project import Project

REVIEW_EVERY = 60.0  # seconds between two reviews of a running subtree
# What a review may decide: on the cadence, and (with the actions of escalation) on an escalation.
ON_CADENCE = ("continue", "switch_skill", "reallocate")
ON_ESCALATION = ("decompose", "switch_skill", "explore", "raise_budget", "ask_person")
MAX_PARTS = 50


@dataclass
class Decision:
    """What the strategic level decided, why, and who decided it (`by`: model or rules)."""

    what: str
    why: str
    by: str = "rules"
    model: str | None = None
    skill: str | None = None
    parallel: int | None = None
    parts: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"by": self.by}
        if self.model:
            out["model"] = self.model
        if self.parallel:
            out["parallel"] = self.parallel
        if self.parts:
            out["parts"] = len(self.parts)
        return out


def review_every(project: Project, params: dict[str, Any]) -> float:
    """Seconds between reviews: the run's `review_every`, else config `[ooda] review_every`, else 60."""
    if params.get("review_every"):
        return max(0.05, float(params["review_every"]))
    cfg = config.load(project.config_path)
    every = (cfg.get("ooda") or {}).get("review_every")
    return max(0.05, float(every)) if every else REVIEW_EVERY


def summary(
    project: Project,
    sid: str,
    *,
    started: float,
    budget: float | None,
    current: str | None,
    skill: str | None,
    tried: list[str],
    left: list[str],
    parallel: int | None,
) -> dict[str, Any]:
    """The subtree as the strategic level sees it: spend against budget, how the children ended, what
    the current pattern is and what is left to try."""
    tree = [s for s in sessions.subtree(project, sid) if s.id != sid]
    spent = round(sum(float(s.state.get("cost") or 0.0) for s in tree if not s.corrupt), 6)
    under = [s for s in tree if current and s.id != current and ids.is_descendant(s.id, current)]
    counts: dict[str, int] = {}
    for s in under:
        counts[s.status or "corrupt"] = counts.get(s.status or "corrupt", 0) + 1
    failures = [
        f"{s.id} {s.status}: {sessions.first_line(str(s.state.get('reason') or ''), 80)}"
        for s in under
        if s.status in ("failed", "escalated", "killed")
    ]
    return {
        "elapsed_s": round(time.time() - started, 1),
        "budget": budget,
        "spent": spent,
        "current": current,
        "pattern": skill,
        "parallel": parallel,
        "workers": len(under),
        "workers_by_status": counts,
        "failures": failures[-5:],
        "tried": tried,
        "left": left,
    }


# ------------------------------------------------------------------------------------------- rules


def cadence_rules(s: dict[str, Any]) -> Decision:
    """Offline, on the cadence: failures that dominate switch pattern; a pace that would pass the budget
    lowers parallelism; else go on."""
    c = s["workers_by_status"]
    failed = sum(c.get(k, 0) for k in ("failed", "escalated", "killed"))
    done = c.get("done", 0)
    if failed >= 2 and failed >= done and s["left"]:
        return Decision(
            "switch_skill",
            f"offline, by rules: {failed} of {s['workers']} workers of {s['pattern']} failed, "
            f"{done} done: try {s['left'][0]}",
            skill=s["left"][0],
        )
    budget, spent, live = s["budget"], s["spent"], s["workers"] - done - failed
    if budget and done and live > 1 and s.get("parallel") and int(s["parallel"]) > 1:
        per = spent / done
        left_parts = max(live, 0)
        if spent + per * left_parts > budget:
            return Decision(
                "reallocate",
                f"offline, by rules: ${per:.4f} a worker, {left_parts} more would pass the ${budget:.2f} "
                f"budget (${spent:.4f} spent): one at a time",
                parallel=1,
            )
    return Decision(
        "continue",
        f"offline, by rules: {done} of {s['workers']} workers done, {failed} failed, "
        f"${spent:.4f} spent" + (f" of ${budget:.2f}" if budget else "") + ": on track",
    )


# ------------------------------------------------------------------------------------------- model


def model_reachable(project: Project, meta: dict[str, Any]) -> bool:
    """Whether the strategic level has a model here (its provider's key or base_url), not offline."""
    from scope_tui.models.select import OFFLINE, backend_for

    requested = str(meta["model"]) if meta.get("model") else None
    return backend_for(config.load(project.config_path), requested, "strategic") != OFFLINE


_SYSTEM = (
    "You are the strategic level of a supervision tree of LLM agents (Scope). You review the subtree "
    "you are given and decide ONE action from the options. Reply with one JSON object and nothing else: "
    '{"decision": <one of the options>, "why": <one sentence>, "skill": <a pattern, for switch_skill>, '
    '"parallel": <workers at once, for reallocate>, "parts": [<subtasks, for decompose>]}'
)


def ask_model(
    project: Project,
    meta: dict[str, Any],
    task: str,
    s: dict[str, Any],
    options: tuple[str, ...],
    trigger: str,
    escalation: dict[str, Any] | None = None,
) -> Decision | str:
    """One call to the strategic model with the subtree's summary; its Decision, or why it cannot be used."""
    from scope_tui.models import for_session
    from scope_tui.models.base import ModelError

    ask = {
        "task": task[:4000],
        "trigger": trigger,
        "escalation": escalation,
        "subtree": s,
        "options": list(options),
    }
    try:
        model = for_session(project, meta, "strategic")
        reply = model.complete(
            [{"role": "user", "content": json.dumps(ask, indent=1)}],
            system=_SYSTEM,
            max_tokens=800,
            level="strategic",
            purpose="review",
        )
    except ModelError as exc:
        return f"the strategic model gave no reply ({exc.reason})"
    name = str(getattr(reply, "model", "") or getattr(model, "name", "") or "model")
    return parse(reply.text, options, name, s)


def parse(text: str, options: tuple[str, ...], model: str, s: dict[str, Any]) -> Decision | str:
    """The model's JSON decision, checked against the options; a one-line reason when it is unusable."""
    m = re.search(r"\{.*\}", text or "", re.S)
    if not m:
        return f"the strategic model's reply held no JSON decision: {sessions.first_line(text or '', 80)!r}"
    try:
        obj = json.loads(m.group(0))
    except ValueError:
        return "the strategic model's reply was not valid JSON"
    if not isinstance(obj, dict):
        return "the strategic model's reply was not a JSON object"
    what = str(obj.get("decision") or "")
    if what not in options:
        return f"the strategic model chose {what!r}, not one of {', '.join(options)}"
    why = sessions.first_line(str(obj.get("why") or ""), 300) or "(the model gave no why)"
    d = Decision(what, why, by="model", model=model)
    if what == "switch_skill":
        skill = str(obj.get("skill") or "")
        if skill not in s["left"]:
            if not s["left"]:
                return "the strategic model chose switch_skill with no pattern left to try"
            skill = s["left"][0]
        d.skill = skill
    if what == "reallocate":
        try:
            d.parallel = max(1, min(64, int(str(obj.get("parallel")))))
        except (TypeError, ValueError):
            return "the strategic model chose reallocate without a whole number for parallel"
    if what == "decompose" and isinstance(obj.get("parts"), list):
        d.parts = [str(p) for p in obj["parts"] if str(p).strip()][:MAX_PARTS]
    return d
