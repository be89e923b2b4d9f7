"""Substrate benchmark: spawn throughput, poll latency, idle tmux process rate. Prints a table.

    .venv/bin/python bench/substrate.py [--spawns 100] [--poll-sessions 200] [--baseline /work/baseline]

Each figure is compared with a floor measured in the same run on the same machine (what the bare
tools cost), so a slow machine shows as a slow floor rather than a failed goal. With `--baseline DIR` (a
checkout with its own .venv) the spawn measures run for that Scope too, in turns with this one, with a key
in the environment (so this Scope's key handover is in the figure).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PY = sys.executable
# What a person runs: the `scope` script installed beside this Python (`python -m scope_tui` also
# imports runpy, a few milliseconds more per process)
SCOPE = Path(PY).with_name("scope")
SCOPE_ARGV = [str(SCOPE)] if SCOPE.is_file() else [PY, "-m", "scope_tui"]


def scope(
    env: dict[str, str], *args: str, argv: list[str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*(argv or SCOPE_ARGV), *args], env=env, capture_output=True)


def project(tmp: Path, name: str) -> tuple[dict[str, str], Path]:
    home = tmp / name
    (home / ".scope").mkdir(parents=True)
    env = dict(os.environ, SCOPE_DIR=str(home / ".scope"))
    env.pop("SCOPE_SESSION_ID", None)
    return env, home


def kill_server(home: Path) -> None:
    from scope_tui.tmux import socket_for

    subprocess.run(["tmux", "-L", socket_for(home), "kill-server"], capture_output=True)


def spawn_and_wait(tmp: Path, name: str, n: int, concurrency: int, argv: list[str] | None = None) -> float:
    """`n` command sessions spawned `concurrency` at a time, then waited on; seconds in all."""
    env, home = project(tmp, name)
    scope(env, "spawn", "--cmd", "true", "warm-up", argv=argv)  # start the tmux server outside the timing
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outs = list(
            pool.map(lambda i: scope(env, "spawn", "--cmd", f"echo {i}", f"bench {i}", argv=argv), range(n))
        )
    ids = [o.stdout.decode().strip() for o in outs]
    assert all(o.returncode == 0 for o in outs), [o.stderr for o in outs if o.returncode]
    w = scope(env, "wait", *ids, "--timeout", "120", argv=argv)
    total = time.perf_counter() - t0
    assert w.returncode == 0, w.stderr
    kill_server(home)
    return total


def spawn_one(tmp: Path, name: str, n: int, argv: list[str] | None = None) -> list[float]:
    """CPU seconds (user + system, the spawner and its tmux client) of each of `n` `scope spawn`
    processes, one at a time, of built-in (offline) sessions: the spawner hands them the key in its
    environment. CPU, not wall time: on a shared machine the wall clock mostly measures the others."""
    import resource

    env, home = project(tmp, name)
    env["ANTHROPIC_API_KEY"] = "sk-ant-bench-0000000000000000000000000000"
    scope(env, "spawn", "--model", "offline", "warm-up", argv=argv)
    times = []
    for i in range(n):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = scope(env, "spawn", "--model", "offline", f"bench {i}", argv=argv)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        assert out.returncode == 0, out.stderr
    scope(env, "wait", "--timeout", "120", *[str(i) for i in range(1, n + 2)], argv=argv)
    kill_server(home)
    return times


def bench_spawn(tmp: Path, n: int, concurrency: int) -> tuple[float, float]:
    total = spawn_and_wait(tmp, "spawn", n, concurrency)
    # floor: per session, two bare Python starts (a spawner, a worker) and one tmux window, on a plain
    # server of its own (no hooks), at the same concurrency
    sock = "scope-bench-floor"
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "_scope"], capture_output=True)
    t1 = time.perf_counter()

    def bare(i: int) -> None:
        subprocess.run([PY, "-c", "pass"])
        subprocess.run(["tmux", "-L", sock, "new-window", "-d", "-t", "_scope:", f"{PY} -c pass"])

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(bare, range(n)))
    floor = time.perf_counter() - t1
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    return total, floor


def bench_poll(tmp: Path, n: int) -> tuple[float, float]:
    from scope_tui.store import sessions
    from scope_tui.store.project import Project

    env, home = project(tmp, "poll")
    p = Project(home / ".scope")
    for i in range(n):  # finished sessions written straight to disk: poll must read 200 folders
        s = sessions.create(p, f"session {i}", driver="command", cmd="true")
        sessions.set_status(s.dir, "done", exit_code=0)
    live = scope(env, "spawn", "--cmd", "sleep 60", "one live session")  # so poll must ask tmux once
    assert live.returncode == 0
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        out = scope(env, "poll", "--all")
        times.append(time.perf_counter() - t0)
        assert out.returncode == 0 and out.stdout.count(b"\n") == n + 2
    floors = []
    for _ in range(15):
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", "import json"], capture_output=True)
        floors.append(time.perf_counter() - t0)
    kill_server(home)
    return statistics.median(times), statistics.median(floors)


def bench_idle_tmux(tmp: Path, n: int, seconds: float) -> tuple[float, float]:
    """tmux processes per second started by Scope while n sessions sit idle and a `scope wait` watches
    them, and that wait's CPU (% of a core)."""
    env, home = project(tmp, f"idle{n}")
    ids = [scope(env, "spawn", "--cmd", "sleep 120", f"idle {i}").stdout.decode().strip() for i in range(n)]
    counter = tmp / f"counter{n}"
    counter.write_text("")
    wenv = dict(env, SCOPE_TMUX_COUNTER=str(counter))
    proc = subprocess.Popen(
        [*SCOPE_ARGV, "wait", *ids, "--timeout", str(seconds + 1)],
        env=wenv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # past its start-up
    count0, cpu0, t0 = len(counter.read_text().splitlines()), _cpu_s(proc.pid), time.perf_counter()
    time.sleep(seconds)
    count1, cpu1, t1 = len(counter.read_text().splitlines()), _cpu_s(proc.pid), time.perf_counter()
    proc.wait()
    kill_server(home)
    return (count1 - count0) / (t1 - t0), 100 * (cpu1 - cpu0) / (t1 - t0)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _worker_pid(root: Path, sid: str) -> int | None:
    """The pid of session `sid`'s worker (the child of its window's shell that runs `scope.worker(`)."""
    meta = json.loads((root / "sessions" / sid / "meta.json").read_text())
    pane = (meta.get("tmux") or {}).get("pane")
    if not pane:
        return None
    from scope_tui.tmux import socket_for

    shell = subprocess.run(
        ["tmux", "-L", socket_for(root.parent), "display", "-p", "-t", pane, "#{pane_pid}"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    for proc in Path("/proc").iterdir():
        try:
            ppid = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[1]
            cmd = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == shell and b"scope.worker(" in cmd:
            return int(proc.name)
    return None


def bench_crash(tmp: Path, n: int) -> tuple[float, float]:
    """kill -9 of a running worker -> its state.json says failed: median and worst over n sessions."""
    env, home = project(tmp, "crash")
    root = home / ".scope"
    ids = [scope(env, "spawn", "--cmd", "sleep 120", f"crash {i}").stdout.decode().strip() for i in range(n)]
    times = []
    for sid in ids:
        state = root / "sessions" / sid / "state.json"
        deadline = time.monotonic() + 20
        pid = None
        while pid is None or b'"running"' not in state.read_bytes():
            pid = _worker_pid(root, sid)
            if time.monotonic() > deadline:
                raise SystemExit(f"session {sid} never ran")
            time.sleep(0.02)
        t0 = time.perf_counter()
        os.kill(pid, 9)
        while b'"failed"' not in state.read_bytes():  # the file, not `scope poll` (which reconciles)
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f"session {sid}: kill -9 not detected in 10 s")
            time.sleep(0.005)
        times.append(time.perf_counter() - t0)
    kill_server(home)
    return statistics.median(times), max(times)


def bench_against(
    tmp: Path, baseline: Path, n: int, concurrency: int, rounds: int
) -> list[tuple[str, str, str, str, bool]]:
    """The spawn measures for this Scope and the baseline's, in turns (noise on a shared machine hits both)."""
    base_argv = [str(baseline / ".venv" / "bin" / "scope")]
    # both compiled first: with PYTHONDONTWRITEBYTECODE a tree whose sources changed compiles at every start
    for py, tree in (
        (PY, Path(__file__).resolve().parents[1]),
        (str(baseline / ".venv/bin/python"), baseline),
    ):
        subprocess.run([py, "-m", "compileall", "-q", str(tree / "scope_tui")], capture_output=True)
    ours: dict[str, list[float]] = {"all": [], "one": []}
    theirs: dict[str, list[float]] = {"all": [], "one": []}
    for r in range(rounds):
        for label, argv, into in (("ours", None, ours), ("base", base_argv, theirs)):
            into["all"].append(spawn_and_wait(tmp, f"all-{label}-{r}", n, concurrency, argv))
            into["one"] += spawn_one(tmp, f"one-{label}-{r}", 10, argv)
    all_o, all_b = statistics.median(ours["all"]), statistics.median(theirs["all"])
    one_o, one_b = statistics.median(ours["one"]), statistics.median(theirs["one"])
    return [
        (
            f"{n} spawns + wait, median of {rounds}, vs baseline",
            f"{all_o:.2f} s",
            f"{all_b:.2f} s",
            "<= +10 %",
            all_o <= all_b * 1.10,
        ),
        (
            f"CPU of one scope spawn with a key, median of {10 * rounds}",
            f"{one_o * 1000:.0f} ms",
            f"{one_b * 1000:.0f} ms",
            "<= +10 %",
            one_o <= one_b * 1.10,
        ),
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spawns", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--poll-sessions", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=5.0)
    ap.add_argument("--baseline", type=Path, help="a checkout of Scope with its own .venv, measured in turns")
    ap.add_argument("--rounds", type=int, default=3, help="with --baseline: turns of the spawn measures")
    a = ap.parse_args()
    os.environ.setdefault("TMUX_TMPDIR", tempfile.mkdtemp(prefix="scb-"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="scope-bench-") as d:
        tmp = Path(d)
        if a.baseline is not None:
            rows += bench_against(tmp, a.baseline, a.spawns, a.concurrency, a.rounds)
        total, floor = bench_spawn(tmp, a.spawns, a.concurrency)
        rows.append(
            (
                f"{a.spawns} spawns (separate processes) + wait",
                f"{total:.2f} s",
                f"{floor:.2f} s",
                "<= 5 s",
                total <= 5,
            )
        )
        med, pfloor = bench_poll(tmp, a.poll_sessions)
        rows.append(
            (
                f"scope poll --all, {a.poll_sessions} sessions (median)",
                f"{med * 1000:.0f} ms",
                f"{pfloor * 1000:.0f} ms",
                "<= 150 ms",
                med <= 0.150,
            )
        )
        med_c, worst_c = bench_crash(tmp, 10)
        rows.append(
            (
                "kill -9 of a worker -> failed (median of 10)",
                f"{med_c:.2f} s",
                f"worst {worst_c:.2f} s",
                "<= 2 s",
                worst_c <= 2,
            )
        )
        small, _ = bench_idle_tmux(tmp, 20, a.idle_seconds)
        big, wait_cpu = bench_idle_tmux(tmp, a.poll_sessions, a.idle_seconds)
        rows.append(
            (
                f"tmux processes/s, {a.poll_sessions} idle sessions + scope wait",
                f"{big:.1f}/s",
                f"{small:.1f}/s at 20",
                "<= 2/s",
                big <= 2,
            )
        )
        rows.append(
            (
                f"CPU of that scope wait, {a.poll_sessions} idle sessions",
                f"{wait_cpu:.2f} %",
                "",
                "",
                True,
            )
        )
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'scope':>10}  {'floor/baseline':>16}  {'goal':>10}  ok")
    for name, val, base, goal, ok in rows:
        print(f"{name:<{w}}  {val:>10}  {base:>16}  {goal:>10}  {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
