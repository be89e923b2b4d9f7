"""The Pareto choice of skill versions, as GEPA draws them (`select_program_candidate_from_pareto_front`).

An instance is an eval item (gepa.evals); a version's score there is its verified score in [0, 1]
(gepa.scores). Only versions scored on at least k instances shared with another version are in the pool
(k = `[gepa] minibatch`, or fewer when fewer items exist): a patch's test gives its candidate and parent
exactly that. Per instance, the front is the pool's versions with the best score there; an instance no
version solved (best score 0) has no front, so failing often never earns draws. Versions every front
of which also holds another surviving version are pruned (GEPA's `remove_dominated_programs`); the next
version is drawn with probability proportional to the number of fronts it is on. A version newer
than every scored one with no score yet (approved before the skill had eval items) gets the next task; with an empty pool (nothing
compared yet) the newest version runs. A version with a few scores but fewer than k shared is not drawn
until a patch test (or merge) compares it.
"""

from __future__ import annotations

import random
from typing import Any

from scope_tui.gepa.scores import value
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
        out[v] = {k: x for k, x in sc.items() if isinstance(x, dict)} if isinstance(sc, dict) else {}
    return versions, out


def _k(project: Project, skill: str) -> int:
    from scope_tui.gepa import evals

    k = int(evals.settings(project)["minibatch"])
    n = len(evals.items(project, skill))
    return max(1, min(k, n)) if n else k


def shared(scores: dict[int, dict[str, Any]], v: int) -> int:
    """How many instances `v` was scored on that another version was scored on too."""
    mine = set(scores.get(v) or {})
    others = set().union(*(set(sc) for u, sc in scores.items() if u != v)) if len(scores) > 1 else set()
    return len(mine & others)


def pool(scores: dict[int, dict[str, Any]], k: int) -> dict[int, dict[str, Any]]:
    """The versions that may be drawn: those with at least k shared instances (a lone version too)."""
    scored = {v: sc for v, sc in scores.items() if sc}
    if len(scored) == 1:
        return scored
    return {v: sc for v, sc in scored.items() if shared(scored, v) >= k}


def fronts(scores: dict[int, dict[str, Any]]) -> dict[str, set[int]]:
    """For each instance some version solved (best score above 0), the versions with the best score."""
    out: dict[str, set[int]] = {}
    for key in sorted({k for sc in scores.values() for k in sc}):
        vals = {v: value(sc[key]) for v, sc in scores.items() if key in sc}
        best = max(vals.values(), default=0.0)
        if best > 0:
            out[key] = {v for v, x in vals.items() if x == best}
    return out


def prune_dominated(fr: dict[str, set[int]], scores: dict[int, dict[str, Any]]) -> dict[str, set[int]]:
    """Drop versions every one of whose fronts holds another surviving version (weakest checked first)."""
    programs = sorted({v for f in fr.values() for v in f})

    def aggregate(v: int) -> tuple[float, float, float]:
        sc = list(scores[v].values())
        n = max(len(sc), 1)
        return (
            sum(value(s) for s in sc) / n,
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


def front_counts(scores: dict[int, dict[str, Any]], k: int = 1) -> dict[int, int]:
    """How many (pruned) per-instance fronts each version of the pool is on."""
    p = pool(scores, k)
    freq: dict[int, int] = {}
    for f in prune_dominated(fronts(p), p).values():
        for v in f:
            freq[v] = freq.get(v, 0) + 1
    return dict(sorted(freq.items()))


def probabilities(scores: dict[int, dict[str, Any]], k: int = 1) -> dict[int, float]:
    """The chance each version of the pool gets the next task (by the number of pruned fronts it is on)."""
    freq = front_counts(scores, k)
    total = sum(freq.values())
    return {v: n / total for v, n in sorted(freq.items())} if total else {}


def draw(scores: dict[int, dict[str, Any]], rng: random.Random | None = None, k: int = 1) -> int | None:
    """One Pareto draw over the pool (None when no version is on a front)."""
    freq = front_counts(scores, k)
    sampling = [v for v, n in freq.items() for _ in range(n)]  # GEPA's sampling list
    return (rng or random.Random()).choice(sampling) if sampling else None


def choose_version(
    project: Project, skill: str, task_key: str, rng: random.Random | None = None
) -> int | None:
    """The version of `skill` the next task should use; None when the skill has no readable version.

    A Pareto draw (seeded by `rng`) over the pool; the newest version when no version is on a front.
    With learning off (`gepa = false`) always the newest."""
    from scope_tui.gepa import evals

    try:
        versions, scores = _scores(project, skill)
    except Exception:
        return None
    if not versions:
        return None
    if not evals.settings(project)["enabled"]:
        return max(versions)
    newest_scored = max((v for v in versions if scores[v]), default=0)
    unscored = [v for v in versions if not scores[v] and v > newest_scored]
    if unscored and newest_scored:
        return max(unscored)  # a version approved untested (no eval items yet) runs until it is scored
    del task_key  # GEPA draws the candidate independently of the instance it will run on
    return draw(scores, rng, _k(project, skill)) or max(versions)


def states(project: Project, skill: str) -> dict[int, str]:
    """ "stable", "evolving" or "untested" per version: untested while it has fewer than k instances shared
    with another version (it is not drawn), evolving while it has few scores or a patch open against it."""
    from scope_tui.gepa.patches import OPEN, list_patches

    versions, scores = _scores(project, skill)
    k = _k(project, skill)
    drawable = pool(scores, k)
    open_ = {
        p.get("base_version")
        for p in list_patches(project)
        if p.get("status") in OPEN and p.get("target") == f"skill:{skill}"
    }
    out = {}
    for v in versions:
        if len(versions) > 1 and v not in drawable:
            out[v] = "untested"
        elif v in open_ or len(scores[v]) < STABLE_AFTER:
            out[v] = "evolving"
        else:
            out[v] = "stable"
    return out


def chances(project: Project, skill: str) -> dict[int, float]:
    """The chance each version gets the next task: the Pareto probabilities (versions off every front get
    0), or 1.0 for the newest when no version is on a front."""
    versions, scores = _scores(project, skill)
    probs = probabilities(scores, _k(project, skill))
    if not probs:
        return {v: 1.0 if v == max(versions) else 0.0 for v in versions}
    return {v: probs.get(v, 0.0) for v in versions}
