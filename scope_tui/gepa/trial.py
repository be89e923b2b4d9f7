"""Testing a patch before it is ready (GEPA's propose-then-test): a tactical `eval` session runs the
candidate and its parent on a minibatch of the skill's eval items, each run a real child session pinned
to its version (`--skill NAME@vN`), within `[gepa] eval_budget` dollars.

`start` is called by the process that proposed the patch: it writes the candidate version (under the
skill's `candidates/`), marks the patch `testing` and starts the eval session through the substrate (or
marks it `untested` when the skill has no eval items). The eval session's worker (`run`, driver `eval`)
reads the patch from disk, runs the pairs, and hands the per-instance scores and costs to
`patches.tested`, which makes the patch `pending` (or accepts it when `auto_approve` is on and the
candidate is strictly better on the minibatch).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from scope_tui.gepa import evals
from scope_tui.store import events, sessions
from scope_tui.store.project import Project

CHILD_TIMEOUT = 1800.0  # seconds an eval waits for one pair of runs


def summary(patch: dict[str, Any]) -> str:
    """What a patch's test found, as the room and `scope patches show` print it:
    "v2 3/3 · v1 1/3 · +$0.04" (the candidate, its parent, the candidate's extra cost), "testing", or
    "untested"."""
    test = patch.get("test") or {}
    if patch.get("status") == "testing" or test.get("status") == "running":
        return "testing"
    if test.get("status") != "done" or not test.get("items"):
        return "untested"
    c, p = test["candidate"], test["parent"]
    n = len(test["items"])
    dc = float(c.get("cost") or 0) - float(p.get("cost") or 0)
    sign = "-" if dc < -0.005 else "+"
    return (
        f"v{c['version']} {_num(sum(c['scores'].values()))}/{n} · "
        f"v{p['version']} {_num(sum(p['scores'].values()))}/{n} · {sign}${abs(dc):.2f}"
    )


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def start(project: Project, patch: dict[str, Any], root: str | Path | None = None) -> dict[str, Any]:
    """Test `patch` (just proposed; a skill patch): its candidate version is written and an eval session
    started, or, with no eval items, it is left `pending` and `untested`. Returns the patch as saved."""
    from scope_tui.gepa import patches
    from scope_tui.patterns import skill_files

    name = str(patch.get("skill"))
    cfg = evals.settings(project)
    k = int(cfg["minibatch"])
    batch = evals.minibatch(project, name, k, root, seed=patch["id"])
    if not batch:
        patch["test"] = {"status": "untested", "why": f"{name} has no eval items yet"}
        patches.save(project, patch)
        return patch
    cand = skill_files.write_version(
        project,
        name,
        str(patch["new_text"]),
        {"parent": patch.get("base_version"), "patches": [patch["id"]], "origin": patch.get("kind", "patch")},
        agent_skill_root=Path(root) if root else None,
        candidate=True,
    )
    patch["candidate_version"] = cand.version
    patch["status"] = "testing"
    patch["test"] = {
        "status": "running",
        "items": [it["id"] for it in batch],
        "wanted": k,
        **(
            {"note": f"only {len(batch)} eval item{'s' if len(batch) != 1 else ''} exist (minibatch {k})"}
            if len(batch) < k
            else {}
        ),
        "budget": float(cfg["eval_budget"]),
    }
    patches.save(project, patch)
    from scope_tui.substrate.spawn import spawn

    s = spawn(
        project,
        f"test patch {patch['id']}: {name} v{cand.version} against v{patch.get('base_version')} "
        f"on {len(batch)} eval item{'s' if len(batch) != 1 else ''}",
        parent=False,
        driver="eval",
        level="tactical",
        budget=float(cfg["eval_budget"]) or None,
        params={"patch": patch["id"]},
        role="eval",
    )
    patch["test"]["session"] = s.id
    patches.save(project, patch)
    return patch


def retest(project: Project, skill: str, root: str | Path | None = None) -> list[str]:
    """Start the test of every open, untested patch of `skill` once the skill has a full minibatch of
    eval items (called when a scored run has just become one); returns the patch ids started."""
    from scope_tui.gepa import patches

    if len(evals.items(project, skill, root)) < int(evals.settings(project)["minibatch"]):
        return []
    started = []
    for p in patches.list_patches(project):
        if (
            p.get("target") == f"skill:{skill}"
            and p.get("status") == "pending"
            and (p.get("test") or {}).get("status") == "untested"
        ):
            with patches.deciding(project, str(p["id"])):
                fresh = patches.load_patch(project, str(p["id"]))
                if fresh.get("status") != "pending" or (fresh.get("test") or {}).get("status") != "untested":
                    continue
                fresh["test"] = {"status": "starting"}  # no second process starts it meanwhile
                patches.save(project, fresh)
            start(project, fresh, p.get("skill_root"))
            started.append(str(p["id"]))
    return started


def _pinned_run(
    project: Project, parent: str, name: str, version: int, item: dict[str, Any], root: Any
) -> str:
    from scope_tui.patterns import engines
    from scope_tui.substrate.spawn import spawn

    params = dict(item.get("params") or {})
    opts: dict[str, Any] = {"skill_root": str(root)} if root else {}
    if name in engines.ENGINES:
        opts.update(driver="pattern", level="tactical")
        params = engines.prepare_params(name, params, opts)
    s = spawn(
        project,
        str(item["task"]),
        parent=parent,
        skill=name,
        skill_version=version,
        task_key=item["id"],
        params=params,
        role="eval",
        **opts,
    )
    return s.id


SCORE_WAIT = 30.0  # seconds the worker of an ended run has to record its score


def _scored(project: Project, sid: str) -> dict[str, Any]:
    """The score its worker recorded (the `scored` event, written just after the run ends), or a 0 when
    it ended without one."""
    s = sessions.load(project, sid)
    deadline = time.monotonic() + SCORE_WAIT
    while True:
        evs = events.read_all(s.dir)
        got = [e for e in evs if e.get("type") == "scored"]
        if got:
            return {"score": float(got[-1].get("score") or 0), "cost": float(got[-1].get("cost") or 0)}
        failed = any(e.get("type") == "error" and e.get("where") == "gepa.record_outcome" for e in evs)
        if failed or time.monotonic() > deadline:
            s = sessions.load(project, sid)
            return {"score": 0.0, "cost": float(s.state.get("cost") or 0.0), "unscored": s.status}
        time.sleep(0.05)


def run(session_dir: Path) -> int:
    """The eval session's worker: run candidate and parent on each item of the patch's minibatch."""
    from scope_tui.gepa import patches
    from scope_tui.substrate.wait import wait

    session_dir = Path(session_dir).resolve()
    s = sessions.load_dir(session_dir)
    project = s.project
    sessions.set_status(session_dir, "running")
    pid = str((s.meta.get("params") or {}).get("patch"))
    try:
        patch = patches.load_patch(project, pid)
        test = dict(patch.get("test") or {})
        name, root = str(patch["skill"]), patch.get("skill_root")
        by_id = {it["id"]: it for it in evals.items(project, name, root)}
        batch = [by_id[i] for i in test.get("items") or [] if i in by_id]
        versions = {"candidate": int(patch["candidate_version"]), "parent": int(patch["base_version"])}
        out: dict[str, dict[str, Any]] = {
            role: {"version": v, "scores": {}, "costs": {}, "sessions": {}, "cost": 0.0}
            for role, v in versions.items()
        }
        budget, spent = float(test.get("budget") or 0), 0.0
        for item in batch:
            if budget and spent >= budget:
                test["note"] = (
                    f"stopped at the eval budget (${budget:g}) after {len(out['parent']['scores'])} items"
                )
                break
            print(f"eval {item['id']}: {item['task'][:70]}", flush=True)
            sids = {role: _pinned_run(project, s.id, name, v, item, root) for role, v in versions.items()}
            wait(project, list(sids.values()), timeout=CHILD_TIMEOUT)
            for role, sid in sids.items():
                got = _scored(project, sid)
                o = out[role]
                o["scores"][item["id"]], o["costs"][item["id"]] = got["score"], round(got["cost"], 6)
                o["sessions"][item["id"]] = sid
                o["cost"] = round(o["cost"] + got["cost"], 6)
                spent += got["cost"]
                print(f"  v{o['version']}: {got['score']:g} (${got['cost']:.4f})", flush=True)
        test.update(
            status="done",
            items=list(out["parent"]["scores"]),
            candidate=out["candidate"],
            parent=out["parent"],
            finished_at=round(time.time(), 3),
        )
        line = patches.tested(project, pid, test)
        print(line, flush=True)
        from scope_tui.gepa.merge import propose_merge

        try:  # two front versions that learned different lines: their merge is tested the same way
            merged = propose_merge(project, name, session=patch.get("session"))
            if merged:
                print(f"merge proposed: {merged['id']}", flush=True)
        except Exception as exc:
            events.append(session_dir, "error", where="gepa.merge", error=f"{type(exc).__name__}: {exc}")
        sessions.write_result(session_dir, line + "\n")
        sessions.set_status(session_dir, "done", exit_code=0)
        return 0
    except Exception as exc:  # the patch must not stay `testing` forever
        why = f"{type(exc).__name__}: {exc}"
        events.append(session_dir, "error", where="gepa.trial", error=why)
        try:
            patches.tested(project, pid, {"status": "failed", "why": why})
        except Exception:
            pass
        sessions.set_status(session_dir, "failed", reason=f"eval error: {why}"[:300], exit_code=1)
        return 1


def scores_line(test: dict[str, Any]) -> tuple[float, float]:
    """(candidate's sum, parent's sum) over the minibatch."""
    return (
        sum(float(v) for v in (test.get("candidate") or {}).get("scores", {}).values()),
        sum(float(v) for v in (test.get("parent") or {}).get("scores", {}).values()),
    )
