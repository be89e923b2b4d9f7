"""RLM benchmark: a 40 MB context loaded into the REPL and searched with a regex; REPL overhead per step.

    .venv/bin/python bench/rlm.py [--mb 40] [--steps 200]

Each figure has a floor measured in the same run: the bare Python doing the same work (read the file,
re.findall on the string; exec of the same block), so a slow machine shows as a slow floor.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scope_tui.patterns.rlm import engine  # noqa: E402
from scope_tui.patterns.rlm.repl import Repl  # noqa: E402
from scope_tui.store import sessions  # noqa: E402
from scope_tui.store.project import Project  # noqa: E402

PATTERN = r"ERROR [a-z]+ id=(\d+)"


def make_context(path: Path, mb: int) -> int:
    rnd = random.Random(3)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
    block = []
    for i in range(20_000):
        lvl = "ERROR" if rnd.random() < 0.05 else "INFO"
        block.append(
            f"2026-11-27 10:{i % 60:02d} {lvl} {rnd.choice(words)} id={rnd.randint(1, 10**6)} done\n"
        )
    chunk = "".join(block)
    reps = max(1, (mb * 1_000_000) // len(chunk))
    path.write_text(chunk * reps)
    return len(re.findall(PATTERN, chunk)) * reps


def bench_search(tmp: Path, mb: int) -> dict[str, float]:
    path = tmp / "big.log"
    expected = make_context(path, mb)
    size = path.stat().st_size
    # floor: the bare work, in this process
    t0 = time.perf_counter()
    text = path.read_text()
    floor_n = len(re.findall(PATTERN, text))
    floor = time.perf_counter() - t0
    assert floor_n == expected
    del text
    # ours: read the context as the engine does, start the contained REPL, run the search as a block
    t0 = time.perf_counter()
    ctx = engine.read_context([str(path)], tmp)
    t_load = time.perf_counter() - t0
    repl = Repl(ctx, timeout=60)
    t_fork = time.perf_counter() - t0 - t_load
    res = repl.run(f"import re\nhits = re.findall(r'{PATTERN}', context)\nprint(len(hits))")
    total = time.perf_counter() - t0
    repl.close()
    assert res.output.strip() == str(expected), res.output
    return {
        "size": size,
        "tokens": size / 4,
        "load": t_load,
        "fork": t_fork,
        "total": total,
        "floor": floor,
        "hits": expected,
    }


class Instant:
    """A model that answers at once: `steps` trivial blocks, then FINAL_VAR."""

    name = "bench"

    def __init__(self, steps: int) -> None:
        self.left = steps

    def complete(self, messages, **kw):  # noqa: ANN001, ANN003
        from scope_tui.models.base import text_reply

        self.left -= 1
        if self.left > 0:
            return text_reply("```repl\nx = len(context) + 1\n```", "bench")
        return text_reply("```repl\nanswer = x\n```\nFINAL_VAR(answer)", "bench")


def bench_steps(tmp: Path, steps: int) -> dict[str, float]:
    project = Project.create(tmp / ".scope")
    ctxf = tmp / "small.txt"
    ctxf.write_text("hello\n" * 1000)
    s = sessions.create(
        project,
        "bench",
        driver="pattern",
        level="tactical",
        skill="rlm",
        params={"context": [str(ctxf)], "max_iter": steps + 5},
    )
    model = Instant(steps)
    engine.model_for = lambda *a, **k: model  # the model's own time is not what is measured
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the pane transcript is not what is measured
        rc = engine.run(s.dir)
    total = time.perf_counter() - t0
    assert rc == 0, s.result()
    # the bare REPL step: run the block through the contained REPL only
    with Repl("hello\n" * 1000) as r:
        t1 = time.perf_counter()
        for _ in range(steps):
            r.run("x = len(context) + 1")
        repl_only = (time.perf_counter() - t1) / steps
    ns = {"context": "hello\n" * 1000}
    code = compile("x = len(context) + 1", "<b>", "exec")
    t2 = time.perf_counter()
    for _ in range(steps):
        exec(code, ns)
    floor = (time.perf_counter() - t2) / steps
    return {"per_step": total / steps, "repl_only": repl_only, "floor": floor}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=40)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rlm-bench-") as d:
        tmp = Path(d)
        searches = [bench_search(tmp, a.mb) for _ in range(a.runs)]
        search = {k: statistics.median(r[k] for r in searches) for k in searches[0]}
        step = bench_steps(tmp, a.steps)
    rows = [
        (
            "context",
            f"{search['size'] / 1e6:.1f} MB (~{search['tokens'] / 1e6:.1f} M tokens), "
            f"{int(search['hits']):,} regex hits",
            "",
            "",
        ),
        (
            "load + start + regex in REPL",
            f"{search['total']:.2f} s",
            "<= 2 s",
            f"{search['floor']:.2f} s bare",
        ),
        ("  of which: read context", f"{search['load']:.2f} s", "", ""),
        ("  of which: start the contained REPL", f"{search['fork'] * 1000:.1f} ms", "", ""),
        (
            "engine step beyond the model",
            f"{step['per_step'] * 1000:.2f} ms",
            "<= 5 ms",
            f"{step['floor'] * 1e6:.1f} us bare exec",
        ),
        ("  of which: REPL round trip", f"{step['repl_only'] * 1000:.2f} ms", "", ""),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':<{w}}  {'measured':<40}  {'goal':<8}  floor (same run)")
    for name, val, goal, floor in rows:
        print(f"{name:<{w}}  {val:<40}  {goal:<8}  {floor}")
    ok = search["total"] <= 2.0 and step["per_step"] <= 0.005
    print("goals: " + ("met" if ok else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
