"""`.scope/outbox/`: alerts waiting to reach a person, one JSON file each, written atomically.

The process that writes a status (store/sessions.set_status) queues an alert when a session needs
input, escalates or fails, or a top-level run finishes, and only when config.toml has a `[notify]`
table (one small read; a project with none pays nothing more). It then starts a detached `scope notify`
when none is running (the sender holds `outbox/.lock`; a writer only tries it, never waits) and goes
on: it never waits for a sender, a network or a person. The sender (substrate/notify.py) is the one
that reads the channels, rate limits and quiet hours; an open room sends from the same folder.
"""

from __future__ import annotations

import os
import time

from scope_tui.store.atomic import write_json

OUTBOX = "outbox"
LOCK = ".lock"
ALERTING = frozenset({"needs_input", "escalated", "failed"})
FINISHED = frozenset({"done", "killed"})  # an alert only for a top-level run


def folder(root: str) -> str:
    return os.path.join(root, OUTBOX)


def wanted(root: str) -> bool:
    """config.toml has a `[notify]` table: the one read a status write pays when none is set."""
    try:
        with open(os.path.join(root, "config.toml"), "rb") as f:
            return b"[notify" in f.read(1 << 20)
    except OSError:
        return False


def alert_for(sid: str, status: str) -> bool:
    return status in ALERTING or (status in FINISHED and "." not in sid)


def queue(session_dir: str, status: str, reason: str | None = None, title: str = "") -> str | None:
    """Queue an alert for a status just written (when it is one and `[notify]` is set); start a sender."""
    d = os.path.abspath(session_dir)
    sid, root = os.path.basename(d), os.path.dirname(os.path.dirname(d))
    if not alert_for(sid, status) or not wanted(root):
        return None
    out = folder(root)
    os.makedirs(out, mode=0o700, exist_ok=True)
    now = time.time()
    path = os.path.join(out, f"{time.time_ns()}-{os.getpid()}-{sid}.json")
    write_json(path, {"id": sid, "status": status, "reason": reason or "", "title": title, "at": now})
    kick(root)
    return path


def sender_running(root: str) -> bool:
    import fcntl

    try:
        fd = os.open(os.path.join(folder(root), LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this call took
    return False


def kick(root: str) -> None:
    """Start a detached `scope notify` for this project unless one is running. Never raises."""
    import subprocess
    import sys

    if sender_running(root):
        return
    try:
        subprocess.Popen(
            [sys.executable, "-m", "scope_tui", "notify", "--root", root],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not in the writer's process group: a kill of the worker spares it
            close_fds=True,
        )
    except OSError:
        pass  # the next alert or an open room sends what is queued
