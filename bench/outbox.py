"""What queuing an alert costs the process that writes a status (store/sessions.set_status), in one run.

    .venv/bin/python bench/outbox.py [--runs 200]

Each row is the median wall time of one `set_status(d, "failed")` on a fresh session, interleaved run
by run so load falls on every row alike:
  before       the outbox step skipped (what set_status cost before alerts; the baseline);
  no [notify]  a project without a [notify] table (the common case: one small read);
  queued       [notify] set and a sender already running (an atomic file and a lock probe);
  + sender     [notify] set and none running: also the fork/exec of a detached `scope notify`
               (its own work is not counted: it runs after set_status has returned).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from scope_tui.store import outbox, sessions  # noqa: E402
from scope_tui.store.project import Project  # noqa: E402


def one(project: Project) -> float:
    s = sessions.create(project, "bench", level="operational")
    t0 = time.perf_counter()
    sessions.set_status(s.dir, "failed", reason="bench")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CONFIG_HOME"] = os.path.join(tmp, "xdg")
        plain, notify = Project.create(Path(tmp) / "a" / ".scope"), Project.create(Path(tmp) / "b" / ".scope")
        (notify.root / "config.toml").write_text('[notify]\nwebhook = "http://127.0.0.1:1/x"\nbatch = 0\n')
        os.makedirs(outbox.folder(str(notify.root)), exist_ok=True)
        lock = os.open(os.path.join(outbox.folder(str(notify.root)), outbox.LOCK), os.O_RDWR | os.O_CREAT)
        rows: dict[str, list[float]] = {"before": [], "no [notify]": [], "queued": [], "+ sender": []}
        real = outbox.queue
        for n in range(args.runs):
            outbox.queue = lambda *a, **k: None  # type: ignore[assignment]
            rows["before"].append(one(plain))
            outbox.queue = real  # type: ignore[assignment]
            rows["no [notify]"].append(one(plain))
            fcntl.flock(lock, fcntl.LOCK_EX)  # as a running sender holds it
            rows["queued"].append(one(notify))
            fcntl.flock(lock, fcntl.LOCK_UN)
            if n % 10 == 0:  # a sender per run would be 200 interpreters; 1 in 10 is enough for a median
                rows["+ sender"].append(one(notify))
                deadline = time.monotonic() + 10
                while outbox.sender_running(str(notify.root)) or time.monotonic() < deadline - 9.7:
                    time.sleep(0.02)
                    if time.monotonic() > deadline:
                        break
        base = statistics.median(rows["before"])
        print(f"{'set_status(failed)':<20} {'median ms':>10} {'vs before':>10}  runs")
        for name, xs in rows.items():
            m = statistics.median(xs)
            print(f"{name:<20} {m * 1000:>10.3f} {(m - base) * 1000:>+9.3f}  {len(xs)}")


if __name__ == "__main__":
    main()
