"""Per-instance scores of skill versions, recorded when a session ends, kept in the project's lineage.json.

`lineage.json` (patterns.skill_files' format) holds, per version, `scores`: {task_key: {"success", "deviations",
"cost", "t"}}; the latest run of a version on an instance is its score there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from scope_tui.store import events, sessions
from scope_tui.store.atomic import write_json
from scope_tui.store.project import Project


def task_key(task: str) -> str:
    """A normalised hash of a task's text: lowercase, whitespace collapsed, sha1's first 12 hex digits."""
    norm = " ".join(task.lower().split())
    return hashlib.sha1(norm.encode()).hexdigest()[:12]


def rank(score: dict[str, Any]) -> tuple[int, int, float]:
    """Smaller is better: success first, then fewer deviations, then lower cost."""
    return (
        0 if score.get("success") else 1,
        int(score.get("deviations") or 0),
        float(score.get("cost") or 0.0),
    )


def record(
    project: Project, skill: str, version: int, key: str, score: dict[str, Any], root: Path | None = None
) -> None:
    """Write `score` for `version` of `skill` on instance `key` into the lineage.json of the project's
    skills (or of `root`, an agent's own skills)."""
    from scope_tui.patterns import skill_files

    folder = (Path(root) if root else project.skills) / skill
    folder.mkdir(parents=True, exist_ok=True)
    lpath = folder / skill_files.LINEAGE
    fd = os.open(folder / ".scores.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            data = json.loads(lpath.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("versions"), dict):
                raise ValueError
        except (OSError, ValueError):
            data = {"name": skill, "versions": {}}
        entry = data["versions"].get(str(version))
        if not isinstance(entry, dict):
            # First score of a version that lives in another root (the shipped v1): copy what is known of it.
            known = skill_files.lineage(project, skill, agent_skill_root=root)["versions"].get(str(version))
            entry = (
                dict(known)
                if isinstance(known, dict)
                else {"parent": None, "patches": [], "origin": "shipped"}
            )
            entry.setdefault("created_at", round(time.time(), 3))
            data["versions"][str(version)] = entry
        entry.setdefault("scores", {})
        if not isinstance(entry["scores"], dict):
            entry["scores"] = {}
        entry["scores"][key] = score
        write_json(lpath, data)
    finally:
        os.close(fd)


def split_ref(skill: str, version: Any = None) -> tuple[str, int | None]:
    """("rlm", 2) from "rlm@v2" (a version given as --skill NAME@vN), else (skill, version if an int)."""
    name, _, v = str(skill).partition("@")
    if v:
        try:
            return name, int(v.lstrip("vV"))
        except ValueError:
            pass
    return name, version if isinstance(version, int) else None


def record_outcome(project: Project, session_dir: Path) -> None:
    """Record the finished session's outcome (success, deviations, cost) for its skill version.

    Sessions without a skill, or not terminal, are left alone. Never raises."""
    try:
        s = sessions.load_dir(Path(session_dir))
        skill = s.meta.get("skill")
        if not skill or not s.terminal:
            return
        skill, version = split_ref(str(skill), s.meta.get("skill_version"))
        if not isinstance(version, int):
            from scope_tui.patterns import skill_files

            version = skill_files.load(project, str(skill), agent_skill_root=s.meta.get("skill_root")).version
        key = str(s.meta.get("task_key") or task_key(s.task()))
        devs = sum(1 for e in events.read_all(s.dir) if e.get("type") == "deviation")
        score = {
            "success": s.status == "done",
            "deviations": devs,
            "cost": round(float(s.state.get("cost") or 0.0), 6),
            "t": round(time.time(), 3),
            "session": s.id,
        }
        root = s.meta.get("skill_root")
        record(project, str(skill), int(version), key, score, Path(root) if root else None)
    except Exception as exc:  # learning from an outcome must never change how the session ended
        try:
            events.append(
                Path(session_dir), "error", where="gepa.record_outcome", error=f"{type(exc).__name__}: {exc}"
            )
        except OSError:
            pass
