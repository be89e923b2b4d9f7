"""Verified scores of skill versions: a run is scored in [0, 1] by its verifier, or not at all.

Verifiers, first that applies: the spawn's `--check CMD`s (the fraction that exit 0), a maker-checker's
rubric gates and checker verdict, an expected answer (`--expect TEXT`, exact or numeric), the person's
verdict (`scope rate ID good|bad`). Ending `done` is not success: a run with no verifier has no score.
Cost, tokens, deviations and duration are kept beside the score.

Scores live in the project's lineage.json (written by patterns.skill_files, its one owner): per version, `scores`:
{instance: {"score", "verifier", "deviations", "cost", "tokens", "duration", "t", "session"}}; the latest
run of a version on an instance is its score there. An instance is an eval item of the skill
(gepa.evals), so two versions scored on one item are compared there.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scope_tui.store import events, sessions
from scope_tui.store.project import Project

CHECK_TIMEOUT = 300.0  # seconds one --check command may run
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


def task_key(task: str) -> str:
    """A normalised hash of a task's text: lowercase, whitespace collapsed, sha1's first 12 hex digits."""
    norm = " ".join(task.lower().split())
    return hashlib.sha1(norm.encode()).hexdigest()[:12]


def value(score: dict[str, Any]) -> float:
    """The score in [0, 1] of a score record (older records kept `success` only)."""
    v = score.get("score")
    if isinstance(v, (int, float)):
        return max(0.0, min(1.0, float(v)))
    return 1.0 if score.get("success") else 0.0


def rank(score: dict[str, Any]) -> tuple[float, int, float]:
    """Smaller is better: a higher score first, then fewer deviations, then lower cost."""
    return (
        -value(score),
        int(score.get("deviations") or 0),
        float(score.get("cost") or 0.0),
    )


# ---------------------------------------------------------------- verifiers


def answer_matches(answer: str, expected: str) -> bool:
    """An expected answer: equal numbers when both are numbers, else the same text (whitespace collapsed)."""
    a, e = " ".join(str(answer).split()), " ".join(str(expected).split())
    if _NUMBER.match(a.replace(",", "")) and _NUMBER.match(e.replace(",", "")):
        x, y = float(a.replace(",", "")), float(e.replace(",", ""))
        return abs(x - y) <= 1e-9 * max(1.0, abs(y))
    return a == e


def run_checks(checks: list[str], cwd: Path, env_extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run each check command (`sh -c`) in `cwd`; exit 0 is a pass. The run's result is in $SCOPE_RESULT."""
    env = {**os.environ, **(env_extra or {})}
    out = []
    for cmd in checks:
        try:
            r = subprocess.run(
                ["sh", "-c", cmd],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CHECK_TIMEOUT,
            )
            out.append({"cmd": cmd, "passed": r.returncode == 0, "exit_code": r.returncode})
        except subprocess.TimeoutExpired:
            out.append({"cmd": cmd, "passed": False, "exit_code": None, "timed_out": True})
        except OSError as exc:
            out.append({"cmd": cmd, "passed": False, "exit_code": None, "error": str(exc)})
    return out


def _rating(evs: list[dict[str, Any]]) -> dict[str, Any] | None:
    rated = [e for e in evs if e.get("type") == "rated" and e.get("verdict") in ("good", "bad")]
    return rated[-1] if rated else None


def verify(s: sessions.Session, evs: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """{"score", "verifier", "detail"} for the finished session `s`, by the first verifier that applies;
    None when it has none (ending done is not a score)."""
    evs = events.read_all(s.dir) if evs is None else evs
    params = s.meta.get("params") or {}
    checks = [str(c) for c in params.get("checks") or [] if str(c).strip()]
    if checks:
        cwd = Path(s.meta.get("worktree") or s.meta.get("cwd") or s.dir)
        res = run_checks(checks, cwd if cwd.is_dir() else s.dir, {"SCOPE_RESULT": str(s.dir / "result.md")})
        passed = sum(1 for r in res if r["passed"])
        return {
            "score": passed / len(res),
            "verifier": "check",
            "detail": f"{passed}/{len(res)} checks passed",
        }
    verdicts = [e for e in evs if e.get("type") == "verdict" and "accepted" in e]
    if verdicts:
        v = verdicts[-1]
        if v.get("accepted"):
            return {"score": 1.0, "verifier": "rubric", "detail": "accepted by the checker"}
        failed = list(v.get("failed_gates") or [])
        n = int(v.get("gates") or 0) if isinstance(v.get("gates"), int) else 0
        score = (n - len(failed)) / n if n and failed else 0.0
        return {
            "score": score,
            "verifier": "rubric",
            "detail": f"rejected: {', '.join(failed) or 'criteria'}",
        }
    if "expect" in params and params["expect"] is not None:
        answer = (s.result() or "").strip()
        ok = answer_matches(answer, str(params["expect"]))
        return {
            "score": 1.0 if ok else 0.0,
            "verifier": "expect",
            "detail": "" if ok else f"got {answer[:80]!r}",
        }
    r = _rating(evs)
    if r is not None:
        return {
            "score": 1.0 if r["verdict"] == "good" else 0.0,
            "verifier": "person",
            "detail": r.get("why") or "",
        }
    return None


# ---------------------------------------------------------------- recording


def record(
    project: Project, skill: str, version: int, key: str, score: dict[str, Any], root: Path | None = None
) -> None:
    """Write `score` for `version` of `skill` on instance `key` into the lineage.json of the project's
    skills (or of `root`, an agent's own skills)."""

    def put(entry: dict[str, Any]) -> None:
        if not isinstance(entry.get("scores"), dict):
            entry["scores"] = {}
        entry["scores"][key] = score

    _update_entry(project, skill, version, put, root)


def reinforce(project: Project, skill: str, version: int, signature: str, root: Path | None = None) -> int:
    """Count one more occurrence of the deviation `signature` against `version`, whose text already holds
    the line that signature owns; returns the count (shown by `scope skills versions`)."""
    got = 0

    def bump(entry: dict[str, Any]) -> None:
        nonlocal got
        if not isinstance(entry.get("reinforced"), dict):
            entry["reinforced"] = {}
        got = int(entry["reinforced"].get(signature) or 0) + 1
        entry["reinforced"][signature] = got

    _update_entry(project, skill, version, bump, root)
    return got


def _update_entry(
    project: Project, skill: str, version: int, change: Callable[[dict[str, Any]], Any], root: Path | None
) -> None:
    from scope_tui.patterns import skill_files

    skill_files.update_entry(project, skill, version, change, root)


def split_ref(skill: str, version: Any = None) -> tuple[str, int | None]:
    """("rlm", 2) from "rlm@v2" (a version given as --skill NAME@vN), else (skill, version if an int)."""
    name, _, v = str(skill).partition("@")
    if v:
        try:
            return name, int(v.lstrip("vV"))
        except ValueError:
            pass
    return name, version if isinstance(version, int) else None


def score_of(s: sessions.Session) -> dict[str, Any] | None:
    """The score record of a finished session (verdict, then cost, tokens, deviations, duration); None
    when it has no verifier."""
    evs = events.read_all(s.dir)
    verdict = verify(s, evs)
    if verdict is None:
        return None
    tok = s.state.get("tokens") or {}
    started = float(s.meta.get("created_at") or 0)
    ended = float(s.state.get("updated_at") or time.time())
    out = {
        "score": round(float(verdict["score"]), 4),
        "verifier": verdict["verifier"],
        "deviations": sum(1 for e in evs if e.get("type") == "deviation"),
        "cost": round(float(s.state.get("cost") or 0.0), 6),
        "tokens": int(tok.get("input", 0) or 0) + int(tok.get("output", 0) or 0)
        if isinstance(tok, dict)
        else 0,
        "duration": round(max(0.0, ended - started), 3) if started else None,
        "t": round(time.time(), 3),
        "session": s.id,
    }
    rating = _rating(evs)
    if rating is not None and verdict["verifier"] != "person":
        out["person"] = rating["verdict"]  # kept beside the verifier's score, which comes first
    return out


def record_outcome(project: Project, session_dir: Path) -> dict[str, Any] | None:
    """Score the finished session by its verifier and record it for its skill version; a run whose
    verifier can be run again (a check, an expected answer) becomes an eval item of the skill.

    Sessions without a skill, not terminal, or with no verifier are left alone (None). Never raises."""
    try:
        s = sessions.load_dir(Path(session_dir))
        skill = s.meta.get("skill")
        if not skill or not s.terminal:
            return None
        skill, version = split_ref(str(skill), s.meta.get("skill_version"))
        root = s.meta.get("skill_root")
        if not isinstance(version, int):
            from scope_tui.patterns import skill_files

            version = skill_files.load(project, str(skill), agent_skill_root=root).version
        score = score_of(s)
        if score is None:
            return None
        key = str(s.meta.get("task_key") or task_key(s.task()))
        record(project, str(skill), int(version), key, score, Path(root) if root else None)
        from scope_tui.gepa import evals

        item = evals.add_from_session(project, str(skill), s, key, int(version), score, root)
        events.append(s.dir, "scored", skill=str(skill), version=int(version), instance=key, **score)
        if item is not None and s.meta.get("role") != "eval":
            from scope_tui.gepa import trial

            trial.retest(project, str(skill), root)  # a patch that waited for eval items is tested now
        return score
    except Exception as exc:  # learning from an outcome must never change how the session ended
        try:
            events.append(
                Path(session_dir), "error", where="gepa.record_outcome", error=f"{type(exc).__name__}: {exc}"
            )
        except OSError:
            pass
        return None


def rate(project: Project, sid: str, verdict: str, why: str = "") -> dict[str, Any] | None:
    """The person's verdict on a finished session: a `rated` event, then its score recorded again.

    Returns the score record (None when the session has no skill). Raises UsageError for a bad verdict or
    a session that has not ended. The caller makes sure a person, not a session, is asking."""
    from scope_tui.store.errors import UsageError

    if verdict not in ("good", "bad"):
        raise UsageError(f"a verdict is 'good' or 'bad', not {verdict!r}")
    d = project.session_dir(sid)
    s = sessions.load_dir(d)
    if s.corrupt or not d.is_dir():
        raise UsageError(f"no session {sid} (try 'scope tree')")
    if not s.terminal:
        raise UsageError(f"session {sid} is {s.status}: rate it once it has ended")
    events.append(d, "rated", verdict=verdict, why=why or None, by="person")
    return record_outcome(project, d)
