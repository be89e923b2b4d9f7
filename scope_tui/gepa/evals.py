"""A skill's eval set: `.scope/skills/<name>/evals/<item>.json` (or `<agent>/skills/<name>/evals/`).

An item is work that can be judged the same way twice: its task, the parameters it ran with (context
paths), its verifier (`expect` and/or `checks`, or a maker-checker `rubric`) and the verdicts versions got
on it. A scored run whose verifier can run again becomes an item, keyed by its task (so the same task is
one item, deduplicated); at most `[gepa] evals_cap` items are kept, the most recently used.
A minibatch is k items drawn from the set (seeded), the instances a patch is tested on.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

from scope_tui.store import sessions
from scope_tui.store.atomic import write_json
from scope_tui.store.project import Project

DEFAULTS = {"enabled": True, "minibatch": 3, "eval_budget": 1.0, "evals_cap": 20}
RERUNNABLE = ("expect", "checks", "rubric")  # verifiers an eval session can apply again
KEEP_PARAMS = ("context", "expect", "checks", "rubric", "max_iter")


def settings(project: Project) -> dict[str, Any]:
    """The project's `[gepa]` settings over the defaults; `gepa = false` turns learning off."""
    from scope_tui.store import config

    try:
        raw = config.read_raw(project.config_path).get("gepa", {})
    except Exception:  # a broken config.toml must not stop the work; learning keeps its defaults
        raw = {}
    if isinstance(raw, bool) or not isinstance(raw, dict):
        return {**DEFAULTS, "enabled": raw is not False}
    out = dict(DEFAULTS)
    if isinstance(raw, dict):
        for k, v in raw.items():
            if k == "eval_budget" and isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = float(v)
            elif k in DEFAULTS and type(v) is type(DEFAULTS[k]):
                out[k] = v
    return out


def folder(project: Project, skill: str, root: str | Path | None = None) -> Path:
    return (Path(root) if root else project.skills) / skill / "evals"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) and obj.get("task") and obj.get("id") else None


def items(project: Project, skill: str, root: str | Path | None = None) -> list[dict[str, Any]]:
    """Every readable item of the skill, oldest first (by id for a stable order)."""
    d = folder(project, skill, root)
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return []
    out = [it for n in names if (it := _read(d / n)) is not None]
    return sorted(out, key=lambda it: (float(it.get("created_at") or 0), str(it["id"])))


def add_from_session(
    project: Project,
    skill: str,
    s: sessions.Session,
    key: str,
    version: int,
    score: dict[str, Any],
    root: str | Path | None = None,
) -> dict[str, Any] | None:
    """Keep the scored run `s` as the eval item `key` (or add its verdict to the item that exists).

    Runs whose verifier cannot run again (a person's rating alone) make no item. Returns the item."""
    params = s.meta.get("params") or {}
    if not any(params.get(k) for k in RERUNNABLE) and "expect" not in params:
        return None
    d = folder(project, skill, root)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{key}.json"
    now = round(time.time(), 3)
    item = _read(path) or {
        "id": key,
        "task": s.task(),
        "params": {k: params[k] for k in KEEP_PARAMS if params.get(k) is not None},
        "verifier": {k: params[k] for k in RERUNNABLE if params.get(k) is not None},
        "verdicts": [],
        "created_at": now,
    }
    item["verdicts"] = [
        *[v for v in item.get("verdicts") or [] if isinstance(v, dict)][-19:],
        {"version": version, "score": score["score"], "session": s.id, "t": now},
    ]
    item["updated_at"] = now
    write_json(path, item)
    _cap(project, skill, root)
    return item


def _cap(project: Project, skill: str, root: str | Path | None) -> None:
    cap = int(settings(project)["evals_cap"])
    have = items(project, skill, root)
    if len(have) <= cap:
        return
    have.sort(key=lambda it: float(it.get("updated_at") or it.get("created_at") or 0))
    for it in have[: len(have) - cap]:
        try:
            os.unlink(folder(project, skill, root) / f"{it['id']}.json")
        except OSError:
            pass


def stored_checks_allowed(project: Project) -> bool:
    """A stored check is a command: eval items verified by checks run only when the person's trusted
    config says `[gepa] run_stored_checks = true` (a gated key: store/trust.py)."""
    from scope_tui.store import config

    try:
        return (config.load(project.config_path).get("gepa") or {}).get("run_stored_checks") is True
    except Exception:
        return False


def minibatch(
    project: Project, skill: str, k: int, root: str | Path | None = None, seed: Any = None
) -> list[dict[str, Any]]:
    """k items (fewer when fewer exist) drawn without replacement, seeded by `seed`; items whose verifier
    is a stored command only when those may run (`stored_checks_allowed`)."""
    have = items(project, skill, root)
    if not stored_checks_allowed(project):
        have = [it for it in have if not (it.get("verifier") or {}).get("checks")]
    if len(have) <= k:
        return have
    return random.Random(str(seed)).sample(have, k)
