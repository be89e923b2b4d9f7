"""Benchmark of the control room against its goals, beside a baseline checkout measured in the same run.

    .venv/bin/python bench/control_room.py [--baseline DIR|none] [--sessions 200] [--big 1000] [--idle 8]

The baseline is another checkout of Scope with its own .venv (default: /work/baseline when it is there,
main before this round). Each figure is measured in a fresh process of one checkout and then, right after,
of the other, on the same projects on disk, the real app headless (run_test/Pilot), real tmux windows:
- a state change written to disk -> its row re-rendered (p50, p95), and a new session -> its row, N sessions;
- idle CPU of the app (% of one core, its whole process) and tmux processes per second, with 11 live
  sessions in real tmux windows: no pane shown, a live silent pane shown, a pane printing 10 lines a second;
- 1,000 sessions on disk: first full frame (fresh process, imports included) and RSS.
On a shared machine the absolute figures move with the load; the baseline beside them is the comparison.
Headless, the app renders every frame but writes none to a terminal: `../shared/anchors/scope.sh` is the
black-box figure on a real screen.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
OURS = HERE.parent.parent
PHASES = ("observe", "orient", "decide", "act")
PRINTING = "while :; do echo printing a line; sleep 0.1; done"  # 10 lines a second


# -- the child: one measure, one checkout (which may be older than this file: it uses only what both have)
def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def tmux_count() -> int:
    try:
        return len(Path(os.environ["SCOPE_TMUX_COUNTER"]).read_text().splitlines())
    except FileNotFoundError:
        return 0


def row_text(tree: Any, node: Any) -> str:
    y = node.line - int(tree.scroll_y)
    return "".join(seg.text for seg in tree.render_line(y))


async def latency(root: str, samples: int) -> dict[str, float]:
    import asyncio

    from scope_tui.store import sessions
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp

    project = Project(Path(root))
    app = ScopeApp(project, live_pane=False, sweep=False)
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 60)) as pilot:
        await app.loaded.wait()
        await pilot.pause()
        tree = app.query_one("#tree")
        shown = [sid for sid, node in app.nodes.items() if 0 <= node.line < tree.size.height - 2]
        live = [sid for sid in shown if app.index.sessions[sid].status == "running" and "." in sid]
        times: list[float] = []
        for i in range(samples):
            sid = live[i % len(live)]
            old = app.index.sessions[sid].state.get("phase") or "observe"
            new = PHASES[(PHASES.index(old) + 1) % len(PHASES)]
            node = app.nodes[sid]
            t0 = time.perf_counter()
            sessions.update_state(project.session_dir(sid), phase=new)
            while not (new in (line := row_text(tree, node)) and old not in line):
                await asyncio.sleep(0.001)
                if time.perf_counter() - t0 > 5:
                    raise SystemExit(f"change to {sid} not seen in 5 s")
            times.append((time.perf_counter() - t0) * 1000)
        out["p50"], out["p95"] = statistics.median(times), pct(times, 0.95)
        parent = next(sid for sid in shown if "." in sid and app.index.sessions[sid].level == "tactical")
        made: list[float] = []
        for i in range(max(5, samples // 4)):
            t0 = time.perf_counter()
            s = sessions.create(project, f"A new worker {os.getpid()}.{i}", parent=parent)
            while s.id not in app.nodes:
                await asyncio.sleep(0.001)
                if time.perf_counter() - t0 > 5:
                    raise SystemExit(f"new session {s.id} not seen in 5 s")
            made.append((time.perf_counter() - t0) * 1000)
            sessions.set_status(s.dir, "done")  # recorded only: never "running" without a window
            t1 = time.perf_counter()  # seen before the next (and before quitting: a room before 2026-12-07
            while app.index.sessions[s.id].status != "done":  # died of a change arriving as it quit)
                await asyncio.sleep(0.001)
                if time.perf_counter() - t1 > 5:
                    raise SystemExit(f"session {s.id} done not seen in 5 s")
        out["new_p50"] = statistics.median(made)
    return out


async def idle(root: str, seconds: float, pane: str) -> dict[str, float]:
    """pane: "none" (a finished session selected), "silent" (a live sleeping one), "printing"."""
    import asyncio

    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp

    app = ScopeApp(Project(Path(root)))
    async with app.run_test(size=(160, 50)) as pilot:
        await app.loaded.wait()

        def wanted(s: Any) -> bool:
            live = bool(s.meta.get("tmux")) and not s.terminal
            if pane == "none":
                return not live
            return live and (s.title == "Printing worker") == (pane == "printing")

        target = next((s.id for s in app.index.sessions.values() if wanted(s)), None)
        if target is None:
            raise SystemExit(f"no session for the {pane!r} case")
        app.select(target)
        await pilot.pause()
        await asyncio.sleep(2.5)  # the client's start, the first capture, the first reconcile
        if app.selected() != target:
            raise SystemExit(f"{target} is not selected")
        c0, t0, w0 = tmux_count(), time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        c1, t1, w1 = tmux_count(), time.process_time(), time.perf_counter()
    wall = w1 - w0
    return {"cpu_pct": 100 * (t1 - t0) / wall, "tmux_per_s": (c1 - c0) / wall}


def first_frame(root: str, t_start: float) -> dict[str, float]:
    import asyncio
    import resource

    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp

    async def go() -> dict[str, float]:
        app = ScopeApp(Project(Path(root)), live_pane=False, sweep=False)
        t_app = time.perf_counter()
        async with app.run_test(size=(160, 50)) as pilot:
            await app.loaded.wait()
            await pilot.pause()
            t_frame = time.perf_counter()
            ru = resource.getrusage(resource.RUSAGE_SELF)
            assert len(app.nodes) == len(app.index.sessions)
        return {
            "from_process": t_frame - t_start,
            "from_app": t_frame - t_app,
            "cpu": ru.ru_utime + ru.ru_stime,  # steadier than the clock on a loaded machine
            "rows": len(app.nodes),
        }

    r = asyncio.run(go())
    r["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return r


def child(args: argparse.Namespace, t_start: float) -> None:
    import asyncio

    if args.child == "latency":
        r = asyncio.run(latency(args.project, args.samples))
    elif args.child == "first_frame":
        r = first_frame(args.project, t_start)
    else:
        r = asyncio.run(idle(args.project, args.idle, args.child.removeprefix("idle_")))
    print(json.dumps(r))


# -- the parent: the projects, then each measure for this checkout and the baseline, then the table
def make_project(n: int, live_windows: int = 0) -> Path:
    """`n` sessions in a tree (10 tactical parents, their workers), `live_windows` of them real tmux windows."""
    from scope_tui.store import sessions
    from scope_tui.store.project import Project

    root = Path(tempfile.mkdtemp(prefix="scope-bench-proj-"))
    project = Project.create(root / ".scope")
    top = sessions.create(project, "Bench: strategic root", level="strategic")
    sessions.set_status(top.dir, "running")
    per = max(1, (n - 1) // 10)
    made = 1
    parents: list[str] = []
    while made < n:
        if made % (per + 1) == 1 or not parents:
            s = sessions.create(project, f"Tactical pass {len(parents) + 1}", parent=top.id, level="tactical")
            parents.append(s.id)
        else:
            s = sessions.create(project, f"Worker {made}: scan a chunk of the input", parent=parents[-1])
        status = "done" if made % 5 else "running"
        sessions.set_status(s.dir, status)
        if status == "running":
            sessions.set_phase(s.dir, "observe")
        made += 1
    if live_windows:
        from scope_tui import api

        for i in range(live_windows):
            api.spawn(project, f"Live worker {i}", parent=None, driver="command", cmd="sleep 900", cwd=root)
        api.spawn(project, "Printing worker", parent=None, driver="command", cmd=PRINTING, cwd=root)
        deadline = time.time() + 60
        while any(s.status != "running" for s in api.list_sessions(project) if s.meta.get("tmux")):
            if time.time() > deadline:
                raise SystemExit("the live workers did not start in 60 s")
            time.sleep(0.2)
    return project.root


def python_of(src: Path) -> str:
    venv = src / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def measure(src: Path, what: str, project: Path, args: argparse.Namespace) -> dict[str, float]:
    counter = Path(os.environ["TMUX_TMPDIR"]) / f"count-{what}-{src.name}"
    cmd = [python_of(src), str(HERE), "--child", what, "--src", str(src), "--project", str(project)]
    cmd += ["--samples", str(args.samples), "--idle", str(args.idle)]
    env = {**os.environ, "SCOPE_TMUX_COUNTER": str(counter)}
    ran = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if ran.returncode != 0:
        raise SystemExit(f"{what} in {src} failed:\n{ran.stderr[-3000:]}")
    return dict(json.loads(ran.stdout.strip().splitlines()[-1]))


def commit_of(src: Path) -> str:
    ran = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return ran.stdout.strip() or "?"


def main() -> int:
    t_start = time.perf_counter()
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    default_base = "/work/baseline" if Path("/work/baseline/scope_tui").is_dir() else "none"
    ap.add_argument("--baseline", default=default_base, help="a Scope checkout with its .venv, or none")
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--idle", type=float, default=8.0, help="seconds of each idle window")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    ap.add_argument("--project", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.src) if args.src else OURS))  # the checkout measured
    if args.child:
        child(args, t_start)
        return 0

    os.environ.pop("TMUX", None)
    os.environ["TMUX_TMPDIR"] = tempfile.mkdtemp(prefix="scope-bench-tmux-")  # a private tmux server
    srcs = [("this checkout", OURS)]
    if args.baseline != "none":
        base = Path(args.baseline).resolve()
        if not (base / "scope_tui").is_dir():
            print(f"control_room: {base} is not a Scope checkout (--baseline none skips it)", file=sys.stderr)
            return 2
        srcs.append((f"baseline {commit_of(base)}", base))

    from scope_tui.store.project import Project
    from scope_tui.substrate.reconcile import reconcile
    from scope_tui.substrate.server import tmux_for

    proj = make_project(args.sessions, live_windows=10)
    big = make_project(args.big)
    got: dict[str, list[dict[str, float]]] = {}
    try:
        for what, project in (
            ("latency", proj),
            ("idle_none", proj),
            ("idle_silent", proj),
            ("idle_printing", proj),
            ("first_frame", big),
        ):
            if what == "idle_none":
                # The sessions recorded as running with no window are marked lost once, so idle means idle.
                reconcile(Project(proj))
            got[what] = [measure(src, what, project, args) for _, src in srcs]
    finally:
        tmux_for(Project(proj)).kill_server()
        for made in (proj, big, Path(os.environ["TMUX_TMPDIR"])):
            shutil.rmtree(made.parent if made.name == ".scope" else made, ignore_errors=True)

    n, b = args.sessions, args.big
    rows: list[tuple[str, str, str, Any]] = [
        (
            f"state change -> row re-rendered p50, {n} sessions",
            "latency",
            "<= 30 ms",
            lambda r: f"{r['p50']:.1f} ms",
        ),
        (
            f"state change -> row re-rendered p95, {n} sessions",
            "latency",
            "<= 100 ms",
            lambda r: f"{r['p95']:.1f} ms",
        ),
        (
            f"new session -> row in the tree p50, {n} sessions",
            "latency",
            "<= 40 ms",
            lambda r: f"{r['new_p50']:.1f} ms",
        ),
    ]
    for mode, goal, what in (
        ("none", "<= 0.2 %", "no pane shown"),
        ("silent", "<= 0.5 %", "a live silent pane shown"),
        ("printing", "<= 3 %", "a pane printing 10 lines/s"),
    ):
        rows.append((f"idle CPU, {what}", f"idle_{mode}", goal, lambda r: f"{r['cpu_pct']:.2f} %"))
        rows.append((f"tmux processes/s, {what}", f"idle_{mode}", "0", lambda r: f"{r['tmux_per_s']:.2f}"))
    rows.append(
        (
            f"first full frame, {b} sessions, fresh process",
            "first_frame",
            "<= 1.0 s",
            lambda r: f"{r['from_process']:.2f} s",
        )
    )
    rows.append(
        (f"  of which after imports, {b} sessions", "first_frame", "", lambda r: f"{r['from_app']:.2f} s")
    )
    rows.append(
        (f"  CPU used up to that frame, {b} sessions", "first_frame", "", lambda r: f"{r['cpu']:.2f} s")
    )
    rows.append((f"RSS, {b} sessions", "first_frame", "<= 120 MB", lambda r: f"{r['rss_mb']:.0f} MB"))

    heads = [name for name, _ in srcs]
    w = max(len(r[0]) for r in rows)
    cols = [max(12, len(h)) for h in heads]
    print(f"{'measure':<{w}}  " + "  ".join(f"{h:>{c}}" for h, c in zip(heads, cols, strict=True)) + "  goal")
    for name, what, goal, fmt in rows:
        cells = "  ".join(f"{fmt(r):>{c}}" for r, c in zip(got[what], cols, strict=True))
        print(f"{name:<{w}}  {cells}  {goal}")
    load = os.getloadavg()[0]
    print(
        f"{n} sessions (10 live sleeping windows, 1 printing), {b} recorded; idle windows of {args.idle:g} s; "
        f"load average {load:.1f} on {os.cpu_count()} cores; {time.perf_counter() - t_start:.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
