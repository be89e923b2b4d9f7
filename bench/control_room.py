"""Benchmark of the control room against its goals, with a naive full rebuild as the baseline.

    .venv/bin/python bench/control_room.py [--sessions 200] [--big 1000] [--samples 40] [--idle 10]

Measures, on a real project on disk and the real app (headless, through Pilot):
- a state change written to disk -> visible in the rendered tree (p50, p95), 200 sessions;
- the same change shown by a naive full rebuild (re-read every session, clear and refill the tree);
- idle CPU of the app (% of one core) and tmux processes per second while idle, with live sessions
  in real tmux windows: no pane shown, a live silent pane shown, a pane printing 10 lines a second;
- 1,000 sessions on disk: first full frame (fresh process, imports included) and RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COUNTER = Path(tempfile.mkdtemp(prefix="scope-bench-")) / "tmux-count"
os.environ["SCOPE_TMUX_COUNTER"] = str(COUNTER)  # read by scope_tui.tmux at import
os.environ.setdefault("TMUX_TMPDIR", str(COUNTER.parent))  # a private tmux server for the bench
os.environ.pop("TMUX", None)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scope_tui.store import ids, sessions  # noqa: E402
from scope_tui.store.project import Project  # noqa: E402

PHASES = ("observe", "orient", "decide", "act")


def tmux_count() -> int:
    try:
        return len(COUNTER.read_text().splitlines())
    except FileNotFoundError:
        return 0


def make_project(n: int, live_windows: int = 0) -> Project:
    """`n` sessions in a tree (10 tactical parents, their workers), `live_windows` of them real tmux windows."""
    root = Path(tempfile.mkdtemp(prefix="scope-bench-proj-"))
    project = Project.create(root / ".scope")
    top = sessions.create(project, "Bench: strategic root", level="strategic")
    sessions.set_status(top.dir, "running")
    per = max(1, (n - 1) // 10)
    made = 1
    parents = []
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
            api.spawn(project, f"Live worker {i}", parent=None, driver="command", cmd="sleep 600", cwd=root)
        printing = "while :; do echo printing a line; sleep 0.1; done"  # 10 lines a second
        api.spawn(project, "Printing worker", parent=None, driver="command", cmd=printing, cwd=root)
    return project


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


async def latency(project: Project, samples: int) -> dict[str, float]:
    from scope_tui.tui import labels
    from scope_tui.tui.app import ScopeApp
    from scope_tui.tui.widgets.session_tree import SessionTree

    app = ScopeApp(project, live_pane=False, sweep=False)
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 60)) as pilot:
        await app.loaded.wait()
        await pilot.pause()
        tree = app.query_one(SessionTree)
        shown = [sid for sid, node in app.nodes.items() if 0 <= node.line < tree.size.height - 2]
        live = [sid for sid in shown if app.index.sessions[sid].status == "running" and "." in sid]
        times: list[float] = []
        for i in range(samples):
            sid = live[i % len(live)]
            d = project.session_dir(sid)
            old = app.index.sessions[sid].state.get("phase") or "observe"
            new = PHASES[(PHASES.index(old) + 1) % len(PHASES)]
            node = app.nodes[sid]
            t0 = time.perf_counter()
            sessions.update_state(d, phase=new)
            while True:
                y = node.line - int(tree.scroll_y)
                line = "".join(seg.text for seg in tree.render_line(y))
                if new in line and old not in line:
                    break
                await asyncio.sleep(0.001)
                if time.perf_counter() - t0 > 5:
                    raise SystemExit(f"change to {sid} not seen in 5 s")
            times.append((time.perf_counter() - t0) * 1000)
        out["p50"], out["p95"] = statistics.median(times), pct(times, 0.95)
        # Baseline: what a polling implementation does per change: re-read all, clear, refill, render.
        base: list[float] = []
        for _ in range(max(5, samples // 4)):
            t0 = time.perf_counter()
            listed = sessions.list_all(project)
            tree.clear()
            nodes = {}
            for s in listed:
                p = nodes.get(ids.parent_of(s.id) or "", tree.root)
                nodes[s.id] = p.add(labels.row(s, app.palette, time.time()), data=s.id, expand=True)
            for y in range(tree.size.height):
                tree.render_line(y)
            await pilot.pause()
            base.append((time.perf_counter() - t0) * 1000)
        out["rebuild_p50"], out["rebuild_p95"] = statistics.median(base), pct(base, 0.95)
    return out


async def idle(project: Project, seconds: float, pane: str) -> dict[str, float]:
    """pane: "none" (a finished session selected), "silent" (a live sleeping one), "printing"."""
    from scope_tui.substrate.reconcile import reconcile
    from scope_tui.tui.app import ScopeApp

    # The latency sessions claim to run with no window: let the sweep's one-off cleanup happen before
    # measuring, so idle means idle (the ten live sessions are real tmux windows).
    reconcile(project)
    app = ScopeApp(project)
    async with app.run_test(size=(160, 50)) as pilot:
        await app.loaded.wait()

        def wanted(s: sessions.Session) -> bool:
            live = bool(s.meta.get("tmux")) and not s.terminal
            if pane == "none":
                return not live
            return live and (s.title == "Printing worker") == (pane == "printing")

        target = next((s.id for s in app.index.sessions.values() if wanted(s)), None)
        if target:
            app.select(target)
        await pilot.pause()
        await asyncio.sleep(2.5)  # let the first sweep and capture settle
        c0, t0, w0 = tmux_count(), time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        c1, t1, w1 = tmux_count(), time.process_time(), time.perf_counter()
    wall = w1 - w0
    return {"cpu_pct": 100 * (t1 - t0) / wall, "tmux_per_s": (c1 - c0) / wall}


def first_frame_child(root: str) -> None:
    """In a fresh process: start the app on `root` and report the time to its first full frame."""
    t_start = time.perf_counter()
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
            "cpu": ru.ru_utime + ru.ru_stime,
            "rows": len(app.nodes),
        }

    r = asyncio.run(go())
    r["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(r))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--first-frame", metavar="ROOT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.first_frame:
        first_frame_child(args.first_frame)
        return 0
    rows: list[tuple[str, str, str, str]] = []

    proj = make_project(args.sessions, live_windows=10)
    lat = asyncio.run(latency(proj, args.samples))
    rows.append(
        (
            f"change -> rendered tree p50, {args.sessions} sessions",
            f"{lat['p50']:.1f} ms",
            "<= 30 ms",
            f"full rebuild {lat['rebuild_p50']:.1f} ms",
        )
    )
    rows.append(
        (
            f"change -> rendered tree p95, {args.sessions} sessions",
            f"{lat['p95']:.1f} ms",
            "<= 100 ms",
            f"full rebuild {lat['rebuild_p95']:.1f} ms",
        )
    )
    for mode, cpu_goal in (("none", "<= 0.2 %"), ("silent", "<= 0.5 %"), ("printing", "<= 3 %")):
        got = asyncio.run(idle(proj, args.idle, pane=mode))
        what = {
            "none": "no pane shown",
            "silent": "a live silent pane shown",
            "printing": "a pane printing 10 lines/s",
        }
        rows.append((f"idle CPU, {what[mode]}", f"{got['cpu_pct']:.2f} %", cpu_goal, ""))
        rows.append((f"tmux processes/s, {what[mode]}", f"{got['tmux_per_s']:.2f}", "0", "11 live windows"))
    from scope_tui.substrate.server import tmux_for

    tmux_for(proj).kill_server()

    big = make_project(args.big)
    child = subprocess.run(
        [sys.executable, __file__, "--first-frame", str(big.root)],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return 1
    ff = json.loads(child.stdout.strip().splitlines()[-1])
    rows.append(
        (
            f"first full frame, {args.big} sessions (fresh process)",
            f"{ff['from_process']:.2f} s",
            "<= 1.0 s",
            f"{ff['from_app']:.2f} s after imports; {ff['cpu']:.2f} s CPU",
        )
    )
    rows.append((f"RSS, {args.big} sessions", f"{ff['rss_mb']:.0f} MB", "<= 120 MB", f"{ff['rows']} rows"))

    load = os.getloadavg()[0]
    rows.append(("machine load average (1 min), cores", f"{load:.1f}", "", f"{os.cpu_count()} cores"))
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'measured':>10}  {'goal':>12}  baseline / note")
    for name, got, goal, note in rows:
        print(f"{name:<{w}}  {got:>10}  {goal:>12}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
