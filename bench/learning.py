"""The learning curve: does Scope's online GEPA loop close? Verified success per block of tasks, with
learning on and, in the same run, with learning off (`gepa = false`).

    .venv/bin/python bench/learning.py [--tasks 30] [--block 5]

The world: a Messages-API stub on 127.0.0.1 plays an instruction-following model with one bad habit. It
recurses (`rlm_query` over the whole context) before looking at it, and then answers wrong. It obeys any
line of its system prompt that passes one fixed test (OBEYS, printed beside the table): a line that
tells it to look at the context before recursing. When it obeys, it peeks at the context, reads the
access code there and answers right. The bench writes no rule: the words that reach the prompt come
from the product's own path (deviation -> reflection -> patch -> tested on a minibatch -> accepted by
`auto_approve` -> drawn by the Pareto choice). Each task is a real `scope spawn --skill rlm --expect CODE`
session in tmux, run one after another; patches are tested by real `eval` sessions in the background.

This is a scripted model that follows instructions: it tests that the loop closes, not how well any LLM
learns.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_TMUX = tempfile.mkdtemp(prefix="scl-")  # a private tmux: never the person's server
os.environ["TMUX_TMPDIR"] = _TMUX
os.environ.pop("TMUX", None)
os.environ.pop("SCOPE_SESSION_ID", None)
_HOME = tempfile.mkdtemp(prefix="scope-learning-home-")  # trust and agents records: never the person's
os.environ["XDG_CONFIG_HOME"] = os.path.join(_HOME, ".config")
os.environ["SCOPE_AGENTS_DIR"] = os.path.join(_HOME, "agents")

from tests.support.habit import OBEYS, habit_model, log_with_code  # noqa: E402
from tests.support.helpers import ScopeRunner  # noqa: E402
from tests.support.messages_stub import MessagesStub  # noqa: E402


def make_tasks(folder: Path, n: int) -> list[tuple[str, Path, str]]:
    rnd = random.Random(16)
    out = []
    for i in range(1, n + 1):
        code = "".join(rnd.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
        f = folder / f"task{i:02d}.txt"
        f.write_text(log_with_code(code, seed=i))
        out.append((f"Task {i}: what is the access code in the attached log?", f, code))
    return out


def run_world(
    label: str, base: Path, stub: MessagesStub, tasks: list, learning: bool
) -> list[dict[str, Any]]:
    proj = base / label
    proj.mkdir()
    runner = ScopeRunner(proj, python=sys.executable, env={**stub.env, "SCOPE_REFLECT_OFFLINE": "1"})
    runner.init()
    cfg = "auto_approve = true\n"
    cfg += "[gepa]\nminibatch = 3\neval_budget = 1.0\n" if learning else "gepa = false\n"
    (runner.scope_dir / "config.toml").write_text(cfg)
    runner.ok("trust")  # auto_approve is a gated key: the person trusts this config, as `scope trust` does
    rows = []
    try:
        for i, (task, ctx, code) in enumerate(tasks, 1):
            sid = runner.spawn(
                "--skill", "rlm", "--context", str(ctx), "--expect", code, "--max-iter", "3", task
            )
            runner.ok("wait", sid, "--timeout", "180", timeout=200)
            # the score is recorded by the worker after the session ends
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                evs = runner.events(sid)
                if any(e["type"] in ("scored", "error") and e.get("where") != "before_action" for e in evs):
                    break
                time.sleep(0.05)
            scored = [e for e in evs if e["type"] == "scored"]
            st = runner.state(sid)
            rows.append(
                {
                    "task": i,
                    "version": runner.meta(sid).get("skill_version"),
                    "ok": bool(scored and scored[-1]["score"] >= 1.0),
                    "deviations": sum(1 for e in evs if e["type"] == "deviation"),
                    "cost": float(st.get("cost") or 0.0),
                }
            )
            print(
                f"  [{label}] task {i:>2}: v{rows[-1]['version']} {'ok ' if rows[-1]['ok'] else 'BAD'}",
                file=sys.stderr,
            )
        patches = [json.loads(p.read_text()) for p in sorted((runner.scope_dir / "patches").glob("p*.json"))]
        evals_cost = 0.0
        for d in (runner.scope_dir / "sessions").iterdir():
            m = json.loads((d / "meta.json").read_text())
            if m.get("role") == "eval" and m.get("driver") == "eval":
                evals_cost += sum(
                    float(json.loads((c / "state.json").read_text()).get("cost") or 0)
                    for c in (runner.scope_dir / "sessions").iterdir()
                    if c.name.startswith(d.name + ".")
                )
        rows.append({"patches": patches, "eval_cost": evals_cost})
    finally:
        runner.kill_server()
    return rows


def table(label: str, rows: list[dict[str, Any]], block: int) -> list[str]:
    runs = [r for r in rows if "task" in r]
    out = [f"{label}", f"{'tasks':<8}{'verified ok':<13}{'deviations':<12}{'cost':<10}versions drawn"]
    for start in range(0, len(runs), block):
        part = runs[start : start + block]
        ok = sum(r["ok"] for r in part)
        drawn: dict[Any, int] = {}
        for r in part:
            drawn[f"v{r['version']}"] = drawn.get(f"v{r['version']}", 0) + 1
        out.append(
            f"{start + 1:>2}-{start + len(part):<5}{f'{ok}/{len(part)} ({ok / len(part):.0%})':<13}"
            f"{sum(r['deviations'] for r in part):<12}{'$' + format(sum(r['cost'] for r in part), '.4f'):<10}"
            + " ".join(f"{v}×{n}" for v, n in sorted(drawn.items()))
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=30)
    ap.add_argument("--block", type=int, default=5)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="scope-learning-"))
    t0 = time.monotonic()
    try:
        with MessagesStub() as stub:
            stub.respond_with(habit_model)
            tasks = make_tasks(base, args.tasks)
            on = run_world("learning-on", base, stub, tasks, learning=True)
            off = run_world("learning-off", base, stub, tasks, learning=False)
    finally:
        shutil.rmtree(_TMUX, ignore_errors=True)
        shutil.rmtree(_HOME, ignore_errors=True)
    print(
        f"Learning curve: {args.tasks} rlm tasks with expected answers, in sequence; auto_approve = true, minibatch k = 3"
    )
    print(f"The stub obeys {OBEYS}.")
    print()
    for line in table("learning on ([gepa] minibatch = 3)", on, args.block):
        print(line)
    print()
    for line in table("learning off (gepa = false), same run, same stub, same tasks", off, args.block):
        print(line)
    print()
    for p in on[-1]["patches"]:
        from scope_tui.gepa.trial import summary

        print(
            f"patch {p['id']} ({p.get('kind')}, {p.get('status')} by {p.get('decided_by')}): {summary(p)}"
            f"  +  {p.get('rule_line') or ''}"
        )
    print(
        f"eval sessions' cost (learning on): ${on[-1]['eval_cost']:.4f}; patches with learning off: "
        f"{len(off[-1]['patches'])}"
    )
    print(f"({time.monotonic() - t0:.0f} s; each task a real session in tmux against the stub)")
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
