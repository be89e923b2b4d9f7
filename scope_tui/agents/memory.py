"""An agent's memory: heuristics (learned rules with their source), failures to avoid, per-project context.

Approved GEPA patches reach the agent here, pulled in when the agent next loads in a project: a patch
on a skill the agent used becomes a heuristic, and an approved `agent:<name>/heuristics` patch (a
consolidation) replaces the heuristics with its text. gepa knows nothing of agents.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

from scope_tui.agents import home
from scope_tui.store.project import Project

HEURISTICS = Path("memory") / "heuristics.json"
FAILURES = Path("memory") / "failures.json"
CONTEXTS = Path("memory") / "contexts"
SOURCES = ("approved_patch", "reflection", "success", "consolidation", "person")


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


# --- heuristics ------------------------------------------------------------------------------------
def read_heuristics(d: Path) -> home.Read:
    """{"heuristics": [...], "pulled": [patch ids]}; a bare list written by hand counts as the heuristics."""
    r = home.read_json(d / HEURISTICS, {"heuristics": [], "pulled": []}, kind=object)
    if r.problem:
        return r
    v = r.value
    if isinstance(v, list):
        v = {"heuristics": v, "pulled": []}
    if not isinstance(v, dict) or not isinstance(v.get("heuristics", []), list):
        return home.Read(
            {"heuristics": [], "pulled": []}, f"{d / HEURISTICS}: expected {{'heuristics': [...]}}"
        )
    v.setdefault("heuristics", [])
    v.setdefault("pulled", [])
    v["heuristics"] = [
        h if isinstance(h, dict) else {"text": str(h), "source": "person"} for h in v["heuristics"]
    ]
    return home.Read(v)


def add_heuristics(d: Path, items: list[dict[str, Any]], problems: list[str], pulled: list[str] = ()) -> int:  # type: ignore[assignment]
    """Append new heuristics (skipping ones already known by text); returns how many were added.
    A broken heuristics.json is reported and left untouched."""
    r = read_heuristics(d)
    if r.problem:
        problems.append(r.problem)
        return 0
    data = r.value
    known = {_norm(str(h.get("text", ""))) for h in data["heuristics"]}
    by_key = {str(h["key"]): h for h in data["heuristics"] if h.get("key")}
    added = 0
    changed = False
    for it in items:
        key = _norm(str(it.get("text", "")))
        sig = it.get("key")
        if sig and str(sig) in by_key:  # the same deviation again: counted, not copied
            h = by_key[str(sig)]
            h["count"] = int(h.get("count") or 1) + 1
            h["last_seen"] = round(time.time(), 3)
            changed = True
            continue
        if not key or key in known:
            continue
        if sig:
            it.setdefault("count", 1)
            by_key[str(sig)] = it
        known.add(key)
        it.setdefault("t", round(time.time(), 3))
        it["id"] = f"h{len(data['heuristics']) + 1}"
        data["heuristics"].append(it)
        added += 1
    new_pulled = [p for p in pulled if p not in data["pulled"]]
    if added or new_pulled or changed:
        data["pulled"] += new_pulled
        home.write(d / HEURISTICS, data)
    return added


def _added_lines(diff: str) -> list[str]:
    out = []
    for ln in (diff or "").splitlines():
        if ln.startswith("+") and not ln.startswith("+++"):
            t = ln[1:].strip().lstrip("-*").strip()
            if t and not t.startswith("#") and len(t) > 3:
                out.append(t)
    return out


def pull_patches(
    d: Path, name: str, project: Project, used_skills: set[str], problems: list[str]
) -> list[str]:
    """Fold approved patches of this project into the agent's heuristics; returns the patch ids pulled.

    A skill patch counts when its skill is one the agent used; an `agent:<name>/heuristics` patch
    replaces the heuristics with its approved text (one rule a line).
    """
    from scope_tui.gepa.patches import list_patches

    approved = list_patches(project, "approved")  # oldest first: a later patch builds on an earlier one
    r = read_heuristics(d)
    if r.problem:
        problems.append(r.problem)
        return []
    done = set(r.value["pulled"])
    new: list[dict[str, Any]] = []
    pulled: list[str] = []
    for p in approved:
        pid = str(p["id"])
        if pid in done:
            continue
        target = str(p.get("target") or "")
        if target == f"agent:{name}/heuristics":
            _replace_heuristics(d, str(p.get("new_text") or ""), pid, problems)
            done.add(pid)
            continue
        skill = p.get("skill") or (target.split(":", 1)[1] if target.startswith("skill:") else None)
        if not skill or skill not in used_skills:
            continue
        lines = _added_lines(str(p.get("diff") or ""))[:3]
        if not lines and p.get("reflection"):
            from scope_tui.gepa.reflection import adjustment

            refl = p["reflection"]
            lines = [adjustment(str(refl.get("text") if isinstance(refl, dict) else refl))]
        for ln in lines:
            if ln:
                new.append(
                    {
                        "text": f"[{skill}] {ln}",
                        "source": "approved_patch",
                        "ref": pid,
                        "skill": skill,
                        "project": str(project.home),
                    }
                )
        pulled.append(pid)
    if new or pulled:
        add_heuristics(d, new, problems, pulled=pulled)
    return pulled


def _replace_heuristics(d: Path, text: str, pid: str, problems: list[str]) -> None:
    r = read_heuristics(d)
    if r.problem:
        problems.append(r.problem)
        return
    rules = [ln.strip().lstrip("-*").strip() for ln in text.splitlines()]
    data = r.value
    data["heuristics"] = [
        {"id": f"h{i}", "text": t, "source": "consolidation", "ref": pid, "t": round(time.time(), 3)}
        for i, t in enumerate((t for t in rules if t), 1)
    ]
    data["pulled"] = [*data["pulled"], pid]
    data.pop("proposed", None)
    home.write(d / HEURISTICS, data)


def consolidated_text(heuristics: list[dict[str, Any]], keep: int) -> str:
    """Offline consolidation: duplicates (by their words) folded, newest first, at most `keep` rules."""
    seen: set[str] = set()
    out: list[str] = []
    for h in reversed(heuristics):
        t = str(h.get("text", "")).strip()
        k = _norm(t)
        if k and k not in seen:
            seen.add(k)
            out.append(t)
    return "".join(f"- {t}\n" for t in out[:keep])


def maybe_consolidate(
    d: Path, name: str, project: Project, limit: int, problems: list[str], session: str | None = None
) -> str | None:
    """Past `limit` heuristics, write one pending patch `agent:<name>/heuristics` (approved like any
    other) unless one is already pending; returns the new patch id or None."""
    r = read_heuristics(d)
    if r.problem or len(r.value["heuristics"]) <= limit:
        return None
    data = r.value
    target = f"agent:{name}/heuristics"
    from scope_tui.gepa.patches import list_patches, propose  # written, listed, approved like any other

    if any(p.get("target") == target for p in list_patches(project, "pending")):
        return None
    if data.get("proposed") == len(data["heuristics"]):
        return None  # already proposed at this size (and rejected or superseded since)
    old = "".join(f"- {h.get('text', '')}\n" for h in data["heuristics"])
    new = consolidated_text(data["heuristics"], keep=max(10, limit // 2))
    patch = propose(
        project,
        target=target,
        new_text=new,
        base_text=old,
        reflection=f"{name} has {len(data['heuristics'])} heuristics (limit {limit}): duplicates folded, newest kept",
        signature=f"consolidate:{name}",
        session=session,
        kind="consolidation",
    )
    data["proposed"] = len(data["heuristics"])
    home.write(d / HEURISTICS, data)
    return str(patch["id"]) if patch else None


# --- failures --------------------------------------------------------------------------------------
def read_failures(d: Path) -> home.Read:
    r = home.read_json(d / FAILURES, {"failures": []}, kind=object)
    if r.problem:
        return r
    v = r.value
    if isinstance(v, list):
        v = {"failures": v}
    if not isinstance(v, dict) or not isinstance(v.get("failures", []), list):
        return home.Read({"failures": []}, f"{d / FAILURES}: expected {{'failures': [...]}}")
    v.setdefault("failures", [])
    return home.Read(v)


def add_failure(d: Path, record: dict[str, Any], problems: list[str]) -> bool:
    r = read_failures(d)
    if r.problem:
        problems.append(r.problem)
        return False
    record.setdefault("t", round(time.time(), 3))
    r.value["failures"].append(record)
    home.write(d / FAILURES, r.value)
    return True


# --- per-project context ---------------------------------------------------------------------------
def context_path(d: Path, project: Project) -> Path:
    key = re.sub(r"[^A-Za-z0-9_.-]+", "-", project.home.name or "root").strip("-") or "root"
    digest = hashlib.sha1(str(project.home).encode()).hexdigest()[:8]
    return d / CONTEXTS / f"{key}-{digest}.json"


def read_context(d: Path, project: Project) -> home.Read:
    default = {
        "project": str(project.home),
        "tasks": 0,
        "done": 0,
        "failed": 0,
        "skills_used": {},
        "recent": [],
        "notes": [],
    }
    r = home.read_json(context_path(d, project), default)
    if not r.problem:
        for k, v in default.items():
            r.value.setdefault(k, v)
    return r


def used_skills(d: Path, project: Project) -> set[str]:
    r = read_context(d, project)
    return set(r.value.get("skills_used") or {}) if not r.problem else set()
