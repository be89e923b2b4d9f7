"""Experience and stage from outcomes. stats.json counts what an agent has done and keeps each task's
outcome; the stage (junior, intermediate, senior, staff) is the highest one whose thresholds (agents
home config.toml, [growth.<stage>]) are all met by three measured outcomes and experience:

- verified_success: the share of the last `[growth] window` tasks whose verifier passed them
  (gepa.scores: checks, a checker's verdict, an expected answer, the person's rating; ending done
  without a verifier is no verified success);
- skills_used_by_others: own skills it made that another agent was given and used;
- heuristics_raised: heuristics after whose adoption, over at least `[growth] min_runs` runs of their
  skill on each side, the deviation rate of their signature fell or the skill's mean score rose.

What the stage changes (`powers`): a junior asks sooner (its sessions carry lower monitor limits in
meta `asks`, so a supervisor sees its stall or loop earlier); only a senior or staff agent may spawn a
junior or give its skills to others; only staff may review a junior's patch, as a proposal to the person.

    stats.json: {"tasks": 12, "done": 9, "failed": 2, "killed": 1, "stage": "intermediate",
                 "history": [{"session", "project", "status", "skill", "score", "deviations", "t"}, ...]}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scope_tui.agents import home
from scope_tui.store.schema import Key, json_line, problems

STATS = "stats.json"
HISTORY = 200
MEASURES = ("experience", "verified_success", "skills_used_by_others", "heuristics_raised")


# What the readers of stats.json use, with its type (store/schema.py): a wrong one is a problem, not a crash.
STATS_KEYS = (
    Key("tasks", "int"),
    Key("done", "int"),
    Key("failed", "int"),
    Key("killed", "int"),
    Key("stage", "str", choices=home.STAGES),
    Key("history", "list"),
)
_EMPTY = {"tasks": 0, "done": 0, "failed": 0, "killed": 0, "stage": "junior", "history": []}


def read_stats(d: Path) -> home.Read:
    """The agent's stats; a file of the wrong shape gives the empty stats and a one-line problem
    (`stats.json:1: tasks: expected a whole number, got "many"`), and must not be overwritten."""
    r = home.read_json(d / STATS, _EMPTY)
    if r.problem is None and not r.missing:
        bad = problems(r.value, STATS_KEYS)
        if bad:
            text = (d / STATS).read_text(errors="replace")
            key, why = bad[0]
            r = home.Read(dict(_EMPTY, history=[]), f"{d / STATS}:{json_line(text, key)}: {key}: {why}")
    for k in ("tasks", "done", "failed", "killed"):
        r.value.setdefault(k, 0)
    r.value.setdefault("stage", "junior")
    r.value.setdefault("history", [])
    r.value["history"] = [h for h in r.value["history"] if isinstance(h, dict)]
    return r


def success_rate(stats: dict[str, Any]) -> float:
    judged = int(stats.get("done", 0)) + int(stats.get("failed", 0))
    return int(stats.get("done", 0)) / judged if judged else 0.0


def _score(h: dict[str, Any]) -> float | None:
    v = h.get("score")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# ------------------------------------------------------------------------------------------ measures


def verified_success(stats: dict[str, Any], window: int) -> tuple[float, int, int]:
    """(share, verified successes, tasks) over the last `window` tasks."""
    recent = stats.get("history", [])[-max(1, window) :]
    ok = sum(1 for h in recent if (_score(h) or 0.0) >= 0.5)
    return (ok / len(recent) if recent else 0.0), ok, len(recent)


def skills_used_by_others(name: str) -> list[dict[str, Any]]:
    """The own skills `name` made that another agent was given and used: [{skill, by, uses}]."""
    from scope_tui.agents import own_skills

    found: dict[str, dict[str, Any]] = {}
    for other in home.names():
        if other == name:
            continue
        od = home.agent_dir(other)
        try:
            kept = sorted(os.listdir(own_skills.root(od)))
        except OSError:
            continue
        for sk in kept:
            lin = own_skills.read_lineage(od, sk)
            uses = int(lin.get("uses") or 0) if isinstance(lin.get("uses"), int) else 0
            if lin.get("given_by") == name and uses > 0:
                src = str(lin.get("source_skill") or sk)
                got = found.setdefault(src, {"skill": src, "by": [], "uses": 0})
                got["by"].append(other)
                got["uses"] += uses
    return sorted(found.values(), key=lambda x: x["skill"])


def heuristics_raised(
    stats: dict[str, Any], heuristics: list[dict[str, Any]], min_runs: int
) -> list[dict[str, Any]]:
    """The heuristics that raised scores: over at least `min_runs` runs of their skill before and after
    the heuristic was adopted, the deviation rate of its signature fell, or the mean score rose.
    [{id, text, skill, runs, how}]; `how` gives the figures."""
    hist = stats.get("history", [])
    out = []
    for h in heuristics:
        t = h.get("t")
        if not isinstance(t, (int, float)):
            continue
        skill = h.get("skill")
        runs = [x for x in hist if not skill or x.get("skill") == skill]
        before = [x for x in runs if float(x.get("t") or 0) <= t]
        after = [x for x in runs if float(x.get("t") or 0) > t]
        if len(before) < min_runs or len(after) < min_runs:
            continue
        how = []
        sig = h.get("key")
        if sig:
            rb = sum(1 for x in before if sig in (x.get("deviations") or [])) / len(before)
            ra = sum(1 for x in after if sig in (x.get("deviations") or [])) / len(after)
            if ra < rb:
                how.append(f"{sig} in {rb:.0%} of runs before, {ra:.0%} after")
        sb = [s for s in map(_score, before) if s is not None]
        sa = [s for s in map(_score, after) if s is not None]
        if len(sb) >= min_runs and len(sa) >= min_runs:
            mb, ma = sum(sb) / len(sb), sum(sa) / len(sa)
            if ma > mb:
                how.append(f"mean score {mb:.2f} before, {ma:.2f} after")
        if how:
            out.append(
                {
                    "id": h.get("id"),
                    "text": str(h.get("text") or ""),
                    "skill": skill,
                    "runs": [len(before), len(after)],
                    "how": "; ".join(how),
                }
            )
    return out


def measures(
    name: str, stats: dict[str, Any], heuristics: list[dict[str, Any]], cfg: dict[str, Any]
) -> dict[str, Any]:
    """The figures the stage follows, with what they are made of (for `scope agent show`)."""
    g = cfg.get("growth", {}) or {}
    window, min_runs = int(g.get("window", 20)), int(g.get("min_runs", 5))
    share, ok, n = verified_success(stats, window)
    used = skills_used_by_others(name)
    raised = heuristics_raised(stats, heuristics, min_runs)
    return {
        "experience": int(stats.get("tasks", 0)),
        "verified_success": share,
        "skills_used_by_others": len(used),
        "heuristics_raised": len(raised),
        "detail": {
            "window": window,
            "min_runs": min_runs,
            "verified": [ok, n],
            "skills_used_by_others": used,
            "heuristics_raised": raised,
        },
    }


def stage_for(m: dict[str, Any], cfg: dict[str, Any]) -> str:
    """The highest stage all of whose thresholds `m` meets (stages are climbed in order)."""
    growth = cfg.get("growth", {})
    stage = home.STAGES[0]
    for st in home.STAGES[1:]:
        th = growth.get(st) or {}
        if all(float(m.get(k, 0)) >= float(v) for k, v in th.items() if k in MEASURES):
            stage = st
        else:
            break
    return stage


def _fig(k: str, v: Any) -> str:
    return f"{float(v):.0%}" if k == "verified_success" else f"{int(float(v))}"


def explain(m: dict[str, Any], stage: str, cfg: dict[str, Any]) -> list[str]:
    """Why the agent is at `stage`, figure by figure, and what the next stage needs ([] lines at staff
    are the figures only)."""
    det = m["detail"]
    ok, n = det["verified"]
    lines = [
        f"verified success {m['verified_success']:.0%} ({ok} of the last {n} tasks, window {det['window']})",
        f"skills used by others {m['skills_used_by_others']}"
        + (
            " ("
            + "; ".join(
                f"{u['skill']}: {', '.join(u['by'])}, {u['uses']} uses" for u in det["skills_used_by_others"]
            )
            + ")"
            if det["skills_used_by_others"]
            else ""
        ),
        f"heuristics that raised scores {m['heuristics_raised']} (at least {det['min_runs']} runs each side)",
        *[f"  {h['id']}: {h['text'][:70]} ({h['how']})" for h in det["heuristics_raised"]],
    ]
    i = home.STAGES.index(stage) if stage in home.STAGES else 0
    if i + 1 < len(home.STAGES):
        nxt = home.STAGES[i + 1]
        th = (cfg.get("growth", {}) or {}).get(nxt) or {}
        missing = [
            f"{k} {_fig(k, m.get(k, 0))}/{_fig(k, v)}"
            for k, v in th.items()
            if k in MEASURES and float(m.get(k, 0)) < float(v)
        ]
        lines.append(
            f"next: {nxt} needs " + ", ".join(missing) if missing else f"next: {nxt}: all thresholds met"
        )
    return lines


def next_stage_gap(m: dict[str, Any], stage: str, cfg: dict[str, Any]) -> str:
    """What is missing for the next stage ('' at staff)."""
    last = explain(m, stage, cfg)[-1]
    return last.removeprefix("next: ") if last.startswith("next: ") else ""


# ------------------------------------------------------------------------------------------ powers


def current_stage(name: str) -> str:
    """The stage of agent `name` now, from its files (the stored one when stats.json is broken)."""
    from scope_tui.agents import memory

    d = home.agent_dir(name)
    cfg = home.load_config()
    st = read_stats(d)
    if st.problem:
        return str(st.value.get("stage") or "junior")
    hr = memory.read_heuristics(d)
    return stage_for(measures(name, st.value, hr.value["heuristics"], cfg), cfg)


def asks(stage: str, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The monitor limits a session of an agent at `stage` carries (meta `asks`), None for none: a
    junior's stall, repeat and error-streak limits are lower, so its supervisor steps in earlier."""
    lim = ((cfg.get("stages") or {}).get(stage)) or {}
    got = {k: lim[k] for k in ("stall_after", "repeat_limit", "error_streak") if lim.get(k)}
    return {"stage": stage, **got} if got else None
