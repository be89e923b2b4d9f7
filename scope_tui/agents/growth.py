"""Experience and stage. stats.json counts what an agent has done; the stage (junior, intermediate,
senior, staff) is the highest one whose thresholds (agents home config.toml, [growth.<stage>]) are
all met by experience, own skills, heuristics and success rate.

    stats.json: {"tasks": 12, "done": 9, "failed": 2, "killed": 1, "stage": "intermediate",
                 "history": [{"session", "project", "status", "skill", "t"}, ... last 50]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scope_tui.agents import home
from scope_tui.store.schema import Key, json_line, problems

STATS = "stats.json"
HISTORY = 50


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
    return r


def success_rate(stats: dict[str, Any]) -> float:
    judged = int(stats.get("done", 0)) + int(stats.get("failed", 0))
    return int(stats.get("done", 0)) / judged if judged else 0.0


def measures(stats: dict[str, Any], own_skills: int, heuristics: int) -> dict[str, float]:
    return {
        "experience": int(stats.get("tasks", 0)),
        "own_skills": own_skills,
        "heuristics": heuristics,
        "success_rate": success_rate(stats),
    }


def stage_for(m: dict[str, float], cfg: dict[str, Any]) -> str:
    """The highest stage all of whose thresholds `m` meets (stages are climbed in order)."""
    growth = cfg.get("growth", {})
    stage = home.STAGES[0]
    for st in home.STAGES[1:]:
        th = growth.get(st) or {}
        if all(float(m.get(k, 0)) >= float(v) for k, v in th.items() if k in m):
            stage = st
        else:
            break
    return stage


def next_stage_gap(m: dict[str, float], stage: str, cfg: dict[str, Any]) -> str:
    """What is missing for the next stage, for `agent show` ('' at staff)."""
    i = home.STAGES.index(stage) if stage in home.STAGES else 0
    if i + 1 >= len(home.STAGES):
        return ""
    nxt = home.STAGES[i + 1]
    th = (cfg.get("growth", {}) or {}).get(nxt) or {}
    missing = [
        f"{k} {m.get(k, 0):.2g}/{v}" if k == "success_rate" else f"{k} {int(m.get(k, 0))}/{v}"
        for k, v in th.items()
        if k in m and float(m.get(k, 0)) < float(v)
    ]
    return f"{nxt} needs " + ", ".join(missing) if missing else f"{nxt}: all thresholds met"
