"""The Pareto choice of skill versions, as GEPA draws them.

Per task instance, the front is the set of versions with the best score there (success first, then fewer
deviations, then lower cost). Versions that are dominated (every front they are on also holds another
surviving version) are pruned, as GEPA's `remove_dominated_programs` does; the next version is drawn with
probability proportional to the number of fronts it is on. A version with no scores yet gets the next task.
"""

from __future__ import annotations

import random
from typing import Any

from scope_tui.gepa.scores import rank
from scope_tui.store.project import Project

STABLE_AFTER = 3  # a version scored on this many instances, with nothing pending against it, is stable


def _scores(project: Project, skill: str) -> tuple[list[int], dict[int, dict[str, Any]]]:
    from scope_tui.patterns import skill_files

    versions = [s.version for s in skill_files.versions(project, skill)]
    lin = skill_files.lineage(project, skill)["versions"]
    out: dict[int, dict[str, Any]] = {}
    for v in versions:
        entry = lin.get(str(v)) or {}
        sc = entry.get("scores") if isinstance(entry, dict) else None
        out[v] = sc if isinstance(sc, dict) else {}
    return versions, out


def fronts(scores: dict[int, dict[str, Any]]) -> dict[str, set[int]]:
    """For each task instance, the versions with the best score on it."""
    out: dict[str, set[int]] = {}
    for key in sorted({k for sc in scores.values() for k in sc}):
        ranked = {v: rank(sc[key]) for v, sc in scores.items() if isinstance(sc.get(key), dict)}
        if not ranked:
            continue
        best = min(ranked.values())
        out[key] = {v for v, r in ranked.items() if r == best}
    return out


def prune_dominated(fr: dict[str, set[int]], scores: dict[int, dict[str, Any]]) -> dict[str, set[int]]:
    """Drop versions every one of whose fronts holds another surviving version (weakest checked first)."""
    programs = sorted({v for f in fr.values() for v in f})

    def aggregate(v: int) -> tuple[float, float, float]:
        sc = [s for s in scores[v].values() if isinstance(s, dict)]
        n = max(len(sc), 1)
        return (
            sum(1 for s in sc if s.get("success")) / n,
            -sum(int(s.get("deviations") or 0) for s in sc) / n,
            -sum(float(s.get("cost") or 0) for s in sc) / n,
        )

    programs.sort(key=aggregate)
    dominated: set[int] = set()
    changed = True
    while changed:
        changed = False
        for y in programs:
            if y in dominated:
                continue
            others = set(programs) - {y} - dominated
            y_fronts = [f for f in fr.values() if y in f]
            if y_fronts and all(f & others for f in y_fronts):
                dominated.add(y)
                changed = True
                break
    return {k: {v for v in f if v not in dominated} for k, f in fr.items()}


def front_counts(scores: dict[int, dict[str, Any]]) -> dict[int, int]:
    """How many (pruned) per-instance fronts each version is on."""
    freq: dict[int, int] = {}
    for f in prune_dominated(fronts(scores), scores).values():
        for v in f:
            freq[v] = freq.get(v, 0) + 1
    return dict(sorted(freq.items()))


def probabilities(scores: dict[int, dict[str, Any]]) -> dict[int, float]:
    """The chance each scored version gets the next task (by the number of pruned fronts it is on)."""
    freq = front_counts(scores)
    total = sum(freq.values())
    return {v: n / total for v, n in sorted(freq.items())} if total else {}


def choose_version(
    project: Project, skill: str, task_key: str, rng: random.Random | None = None
) -> int | None:
    """The version of `skill` the next task should use; None when the skill has no readable version.

    The newest version with no scores yet gets it; otherwise a Pareto draw (seeded by `rng`)."""
    try:
        versions, scores = _scores(project, skill)
    except Exception:
        return None
    if not versions:
        return None
    unscored = [v for v in versions if not scores[v]]
    if unscored:
        return max(unscored)
    del task_key  # GEPA draws the candidate independently of the instance it will run on
    return draw(scores, rng) or max(versions)


def draw(scores: dict[int, dict[str, Any]], rng: random.Random | None = None) -> int | None:
    """One Pareto draw over scored versions (None when nothing is scored)."""
    freq = front_counts(scores)
    pool = [v for v, n in freq.items() for _ in range(n)]  # GEPA's sampling list
    return (rng or random.Random()).choice(pool) if pool else None


def states(project: Project, skill: str) -> dict[int, str]:
    """ "stable" or "evolving" per version: evolving while it has few scores or a patch pending against it."""
    from scope_tui.gepa.patches import list_patches

    versions, scores = _scores(project, skill)
    pending = {
        p.get("base_version") for p in list_patches(project, "pending") if p.get("target") == f"skill:{skill}"
    }
    return {v: "evolving" if v in pending or len(scores[v]) < STABLE_AFTER else "stable" for v in versions}


def chances(project: Project, skill: str) -> dict[int, float]:
    """The chance each version gets the next task: 1.0 for the newest unscored version when there is one,
    else the Pareto probabilities (versions off every front get 0)."""
    versions, scores = _scores(project, skill)
    unscored = [v for v in versions if not scores[v]]
    if unscored:
        return {v: 1.0 if v == max(unscored) else 0.0 for v in versions}
    probs = probabilities(scores)
    return {v: probs.get(v, 0.0) for v in versions}
