"""Chaos: 200 sessions running, then in turn a worker kill -9, the control room kill -9 and restarted,
the tmux server killed, a 2 MB tmpfs filled, and 10 processes x 20 concurrent spawns. Prints a table:
sessions lost, statuses wrong, events lost and crashes (tracebacks) for each step, and the time until
every status is right again. Not a test: it takes a minute and wants a quiet machine.

    .venv/bin/python bench/chaos.py [--sessions 200]

The tmpfs step needs root (mount); without it the step is skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PY = sys.executable
ROOM = (
    "import asyncio, sys\n"
    "from scope_tui.store.project import Project\n"
    "from scope_tui.tui.app import ScopeApp\n"
    "async def main():\n"
    "    app = ScopeApp(Project(sys.argv[1]))\n"
    "    async with app.run_test(size=(140, 40)) as pilot:\n"
    "        await app.settled.wait()\n"
    "        print('up', flush=True)\n"
    "        while True:\n"
    "            await pilot.pause(0.5)\n"
    "asyncio.run(main())\n"
)


class Run:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / ".scope").mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, SCOPE_DIR=str(root / ".scope"))
        self.env.pop("SCOPE_SESSION_ID", None)
        self.crashes = 0

    def scope(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            [PY, "-m", "scope_tui", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        self.crashes += "Traceback" in p.stderr
        return p

    def spawn(self, cmd: str) -> str | None:
        p = self.scope("spawn", "chaos", "--cmd", cmd)
        return p.stdout.strip() if p.returncode == 0 else None

    def poll(self) -> dict[str, dict]:
        p = self.scope("poll", "--json")
        return {r["id"]: r for r in map(json.loads, p.stdout.splitlines())} if p.returncode == 0 else {}

    def events_ok(self, sid: str) -> bool:
        """Every line of the session's events is whole JSON, and seqs run 1..n with no gap."""
        try:
            lines = (self.root / ".scope" / "sessions" / sid / "events.jsonl").read_bytes().splitlines()
            seqs = [json.loads(x)["seq"] for x in lines if x.strip()]
        except (OSError, ValueError, KeyError):
            return False
        return seqs == list(range(1, len(seqs) + 1))

    def kill_server(self) -> None:
        from scope_tui.tmux import socket_for

        subprocess.run(["tmux", "-L", socket_for(self.root), "kill-server"], capture_output=True)


def settle(run: Run, want: dict[str, set[str]], deadline: float = 60.0) -> tuple[int, int, float]:
    """Poll until every session in `want` has one of its statuses; (lost, wrong, seconds)."""
    t0 = time.monotonic()
    while True:
        rows = run.poll()
        lost = sum(1 for sid in want if sid not in rows)
        wrong = sum(1 for sid, ok in want.items() if sid in rows and rows[sid]["status"] not in ok)
        if (lost == 0 and wrong == 0) or time.monotonic() - t0 > deadline:
            return lost, wrong, time.monotonic() - t0
        time.sleep(0.2)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=200)
    args = ap.parse_args()
    rows: list[tuple[str, str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        run = Run(Path(tmp) / "proj")
        with ThreadPoolExecutor(8) as pool:
            ids = [s for s in pool.map(lambda _: run.spawn("sleep 300"), range(args.sessions)) if s]
        lost, wrong, took = settle(run, dict.fromkeys(ids, {"running"}))
        rows.append(
            (f"{args.sessions} sessions running", str(lost), str(wrong), "-", str(run.crashes), f"{took:.1f}")
        )

        # a worker kill -9: its session ends failed (crashed), the others run on
        victim = ids[0]
        pane = json.loads((run.root / ".scope" / "sessions" / victim / "meta.json").read_text())["tmux"][
            "pane"
        ]
        from scope_tui.tmux import socket_for

        shell = subprocess.run(
            ["tmux", "-L", socket_for(run.root), "display", "-p", "-t", pane, "#{pane_pid}"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        for child in subprocess.run(
            ["ps", "-o", "pid=", "--ppid", shell], capture_output=True, text=True
        ).stdout.split():
            os.kill(int(child), signal.SIGKILL)
        want = dict.fromkeys(ids, {"running"})
        want[victim] = {"failed"}
        lost, wrong, took = settle(run, want)
        rows.append(("worker kill -9", str(lost), str(wrong), "-", str(run.crashes), f"{took:.1f}"))

        # the control room kill -9 and restarted: nothing it shows changes on disk
        before = {sid: r["status"] for sid, r in run.poll().items()}
        for _ in range(2):
            room = subprocess.Popen(
                [PY, "-c", ROOM, str(run.root / ".scope")],
                env=run.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            t0 = time.monotonic()
            assert room.stdout is not None
            up = room.stdout.readline().strip() == "up"
            room.kill()
            _, err = room.communicate()
            run.crashes += "Traceback" in err or not up
        took = time.monotonic() - t0
        after = {sid: r["status"] for sid, r in run.poll().items()}
        changed = sum(1 for sid in before if after.get(sid) != before[sid])
        rows.append(
            (
                "room kill -9, restart",
                str(len(set(before) - set(after))),
                str(changed),
                "-",
                str(run.crashes),
                f"{took:.1f}",
            )
        )

        # the tmux server killed: every running session is marked lost, none corrupt, events whole
        run.kill_server()
        want = {sid: {"failed"} for sid in ids}
        lost, wrong, took = settle(run, want)
        bad_events = sum(1 for sid in ids if not run.events_ok(sid))
        rows.append(
            ("tmux server killed", str(lost), str(wrong), str(bad_events), str(run.crashes), f"{took:.1f}")
        )

        # 10 processes x 20 concurrent spawns: 200 distinct ids, each readable, its events whole
        with ThreadPoolExecutor(10) as pool:
            got = [s for s in pool.map(lambda _: run.spawn("true"), range(200)) if s]
        lost = 200 - len(set(got))
        lost2, wrong, took = settle(run, dict.fromkeys(got, {"done", "running", "pending"}))
        bad_events = sum(1 for sid in got if not run.events_ok(sid))
        rows.append(
            (
                "10 x 20 concurrent spawns",
                str(lost + lost2),
                str(wrong),
                str(bad_events),
                str(run.crashes),
                f"{took:.1f}",
            )
        )
        run.kill_server()

        # a 2 MB tmpfs filled: spawns fail with one line, nothing torn, no half-made folder
        if os.geteuid() != 0:
            rows.append(("2 MB tmpfs filled", "skipped: mounting a tmpfs needs root", "", "", "", ""))
        else:
            mnt = Path(tmp) / "tiny"
            mnt.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
            try:
                full = Run(mnt / "proj")
                made, refused = [], 0
                for _ in range(400):
                    sid = full.spawn("true")
                    if sid:
                        made.append(sid)
                    else:
                        refused += 1
                        if refused > 20:
                            break
                rows_now = full.poll()
                corrupt = sum(1 for r in rows_now.values() if r["status"] == "corrupt")
                bad_events = sum(1 for sid in made if not full.events_ok(sid))
                lost = sum(1 for sid in made if sid not in rows_now)
                rows.append(
                    (
                        f"2 MB tmpfs filled ({len(made)} made, {refused} refused)",
                        str(lost),
                        str(corrupt),
                        str(bad_events),
                        str(full.crashes),
                        "-",
                    )
                )
                full.kill_server()
            finally:
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True)

    head = ("step", "sessions lost", "statuses wrong", "events lost", "crashes", "recover s")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
