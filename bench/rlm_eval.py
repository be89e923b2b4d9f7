"""Synthetic lookalikes of the RLM paper's benchmarks: base (the context in the prompt) against RLM.

    .venv/bin/python bench/rlm_eval.py [--sizes 8k,32k,132k,1m] [--tasks 2] [--model NAME] [--project DIR]
                                       [--window 200000]

Every task is generated here, offline, from a seeded RNG, and scored by code as the paper scores it:

- S-NIAH (RULER-style): one needle line ("the special magic number for KEY is N") in a haystack of noise
  lines; correct when the answer holds N. Score: % correct.
- OOLONG-Pairs-like: user records whose labels are made by code; the answer is every pair of users that
  both carry the label asked for; F1 of the pairs in the answer against the pairs code computed.
- OOLONG-like aggregation: how many records carry a label; score 0.75^|y - ŷ|.

BrowseComp-Plus and CodeQA are left out: their corpora cannot be had here.

Sizes are in tokens (about 4 characters each). *base* sends the context in the prompt, cut to the
model's window (`--window` tokens); *RLM* runs Scope's RLM engine on a session whose context is the
same text (its children are real sessions in a tmux server of the bench's own project). Cost per task
is the sum of the `llm_call` events of the session and its children.

The model is the project's (`--project DIR`, its `.scope/config.toml`: [models.tactical] and
[models.rlm_sub], any provider: Anthropic with ANTHROPIC_API_KEY, an OpenAI-compatible server such as a
local Ollama with `provider = "openai"` and `base_url`), or `--model NAME`. With no key and no such
provider it runs the offline stand-in, and every number is labelled "offline stand-in: checks the
harness, not a model".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scope_tui.models.select import model_for  # noqa: E402
from scope_tui.patterns.rlm import engine  # noqa: E402
from scope_tui.store import events, sessions  # noqa: E402
from scope_tui.store.project import Project  # noqa: E402

OFFLINE_LABEL = "offline stand-in: checks the harness, not a model"
SIZES = {"8k": 8_000, "32k": 32_000, "132k": 132_000, "1m": 1_000_000}
WORDS = (
    "river stone amber cloud fern maple quartz harbor lantern meadow cedar ember willow copper "
    "thistle falcon orchid granite sparrow tundra velvet walnut zephyr basalt"
).split()
LABELS = ("sports", "finance", "travel", "health", "music")


@dataclass
class Task:
    bench: str
    question: str
    context: str
    truth: Any

    def score(self, answer: str) -> float:
        if self.bench == "S-NIAH":
            return 1.0 if str(self.truth) in answer else 0.0
        if self.bench == "OOLONG-Pairs":
            got = {tuple(sorted(map(int, p))) for p in re.findall(r"\(?\b(\d+)\s*,\s*(\d+)\b\)?", answer)}
            return f1(got, set(self.truth))
        m = re.search(r"-?\d+", answer)
        return 0.75 ** abs(int(m.group(0)) - int(self.truth)) if m else 0.0


def f1(got: set[Any], truth: set[Any]) -> float:
    if not got and not truth:
        return 1.0
    hit = len(got & truth)
    if not hit:
        return 0.0
    p, r = hit / len(got), hit / len(truth)
    return 2 * p * r / (p + r)


def noise(rnd: random.Random, chars: int) -> list[str]:
    out, n = [], 0
    while n < chars:
        line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14))) + "."
        out.append(line)
        n += len(line) + 1
    return out


def s_niah(rnd: random.Random, tokens: int) -> Task:
    key, number = f"KEY-{rnd.randint(1000, 9999)}", rnd.randint(1_000_000, 9_999_999)
    lines = noise(rnd, tokens * 4)
    lines.insert(rnd.randrange(len(lines)), f"The special magic number for {key} is {number}.")
    return Task(
        "S-NIAH",
        f"What is the special magic number for {key}? Find the line with {key}.",
        "\n".join(lines),
        number,
    )


def records(rnd: random.Random, tokens: int) -> tuple[list[str], dict[int, str]]:
    lines, labels, n, uid = [], {}, 0, 0
    while n < tokens * 4:
        uid += 1
        label = rnd.choice(LABELS)
        labels[uid] = label
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(5, 12)))
        line = f"user {uid} || label: {label} || note: {text}"
        lines.append(line)
        n += len(line) + 1
    return lines, labels


def oolong_pairs(rnd: random.Random, tokens: int) -> Task:
    lines, labels = records(rnd, tokens)
    want = rnd.choice(LABELS)
    ids = sorted(u for u, lab in labels.items() if lab == want)[:40]  # the pairs grow as n^2: keep n bounded
    lines = [ln for ln in lines if int(ln.split()[1]) in ids or labels[int(ln.split()[1])] != want]
    pairs = {(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]}
    q = (
        f"List every pair of user ids (a, b) with a < b where both users have 'label: {want}'. "
        "Answer with the pairs as (a, b), one per line."
    )
    return Task("OOLONG-Pairs", q, "\n".join(lines), sorted(pairs))


def oolong_agg(rnd: random.Random, tokens: int) -> Task:
    lines, labels = records(rnd, tokens)
    want = rnd.choice(LABELS)
    q = f"How many lines contain 'label: {want}'? Answer with the number."
    return Task("OOLONG", q, "\n".join(lines), sum(1 for lab in labels.values() if lab == want))


BENCHES: list[Callable[[random.Random, int], Task]] = [s_niah, oolong_pairs, oolong_agg]


def subtree_cost(project: Project, sid: str) -> float:
    total = 0.0
    for d in [project.session_dir(sid), *sorted(project.sessions.glob(f"{sid}.*"))]:
        total += sum(float(e.get("cost") or 0) for e in events.read_all(d) if e.get("type") == "llm_call")
    return total


def run_base(project: Project, task: Task, model_name: str | None, window: int) -> tuple[str, float]:
    """Direct reading: the context in the prompt, cut to the window."""
    meta: dict[str, Any] = {"level": "tactical", **({"model": model_name} if model_name else {})}
    s = sessions.create(project, task.question, driver="builtin", level="tactical", model=model_name)
    m = model_for(project, {**meta, "id": s.id}, "tactical", session_dir=s.dir)
    text = task.context[: window * 4]
    reply = m.complete(
        [{"role": "user", "content": f"{task.question}\n---\n{text}"}], max_tokens=2048, purpose="base"
    )
    return reply.text, subtree_cost(project, s.id)


def run_rlm(project: Project, task: Task, model_name: str | None, tmp: Path) -> tuple[str, float]:
    ctx = tmp / f"ctx-{time.monotonic_ns()}.txt"
    ctx.write_text(task.context)
    s = sessions.create(
        project,
        task.question,
        driver="pattern",
        level="tactical",
        skill="rlm",
        model=model_name,
        params={"context": [str(ctx)], "max_iter": 12},
    )
    with contextlib.redirect_stdout(io.StringIO()):
        engine.run(s.dir)
    return sessions.load_dir(s.dir).result() or "", subtree_cost(project, s.id)


def is_offline(project: Project, model_name: str | None) -> bool:
    return (
        type(model_for(project, {"model": model_name} if model_name else {}, "tactical")).__name__
        == "OfflineModel"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="8k,32k,132k,1m", help="comma-separated: 8k, 32k, 132k, 1m")
    ap.add_argument("--tasks", type=int, default=2, help="tasks per benchmark and size")
    ap.add_argument("--model", help="a model name (default: the project's [models.tactical])")
    ap.add_argument("--project", help="a project folder whose .scope/config.toml chooses the models")
    ap.add_argument("--window", type=int, default=200_000, help="the base model's window, in tokens")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="also print each result as a JSON line")
    args = ap.parse_args()
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        print(f"rlm_eval: unknown size {bad[0]!r} (use {', '.join(SIZES)})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="scope-rlm-eval-") as tmpdir:
        tmp = Path(tmpdir)
        home = Path(args.project).resolve() if args.project else tmp / "proj"
        home.mkdir(parents=True, exist_ok=True)
        project = Project(home / ".scope") if (home / ".scope").is_dir() else Project.create(home / ".scope")
        offline = is_offline(project, args.model)
        tag = f"  [{OFFLINE_LABEL}]" if offline else ""
        rnd = random.Random(args.seed)
        rows: list[tuple[str, str, float, float, float, float, int]] = []
        for size in sizes:
            for make in BENCHES:
                scores = {"base": [], "rlm": []}  # type: dict[str, list[float]]
                costs = {"base": 0.0, "rlm": 0.0}
                name = ""
                for _ in range(args.tasks):
                    task = make(rnd, SIZES[size])
                    name = task.bench
                    for method, fn in (
                        ("base", lambda t=task: run_base(project, t, args.model, args.window)),
                        ("rlm", lambda t=task: run_rlm(project, t, args.model, tmp)),
                    ):
                        answer, cost = fn()
                        scores[method].append(task.score(answer))
                        costs[method] += cost
                        if args.json:
                            print(
                                json.dumps(
                                    {
                                        "bench": name,
                                        "size": size,
                                        "method": method,
                                        "score": scores[method][-1],
                                        "cost": cost,
                                        "offline": offline,
                                    }
                                )
                            )
                n = max(1, len(scores["base"]))
                rows.append(
                    (
                        name,
                        size,
                        sum(scores["base"]) / n,
                        sum(scores["rlm"]) / n,
                        costs["base"] / n,
                        costs["rlm"] / n,
                        n,
                    )
                )

        if not args.project:  # the bench's own project: its tmux server (the RLM children's) goes too
            from scope_tui.tmux import Tmux, socket_for

            Tmux(socket_for(home)).kill_server()

    unit = {"S-NIAH": "% correct", "OOLONG-Pairs": "F1", "OOLONG": "0.75^|y-ŷ|"}
    print(
        f"{'benchmark':<14}{'size':>6}  {'metric':<11}{'base':>8}{'RLM':>8}  {'$/task base':>12}{'$/task RLM':>12}  n{tag}"
    )
    for name, size, b, r, cb, cr, n in rows:
        pct = name == "S-NIAH"
        fmt = (lambda v: f"{v * 100:.0f}%") if pct else (lambda v: f"{v:.2f}")
        print(
            f"{name:<14}{size:>6}  {unit[name]:<11}{fmt(b):>8}{fmt(r):>8}  {cb:>12.4f}{cr:>12.4f}  {n}{tag}"
        )
    if offline:
        print(f"every number above: {OFFLINE_LABEL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
