"""The command driver: any shell command as a worker; its exit code becomes the status, its output's tail the result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path

from scope_tui.store import events, sessions
from scope_tui.workers.process import dying_with_parent

TAIL_LINES = 200


def run(session_dir: Path) -> int:
    s = sessions.load_dir(session_dir)
    cmd = str(s.meta.get("cmd") or "")
    print(f"\x1b[2mscope · session {s.id} · command driver\x1b[0m", flush=True)
    print(f"\x1b[2m$ {cmd}\x1b[0m", flush=True)
    sessions.set_status(session_dir, "running")
    sessions.set_phase(session_dir, "act", "running the command")
    events.append(session_dir, "exec", cmd=cmd)
    tail: deque[bytes] = deque(maxlen=TAIL_LINES)
    partial = b""
    argv, preexec = dying_with_parent(
        ["/bin/sh", "-c", cmd], signal.SIGHUP
    )  # a killed worker takes its command with it
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=s.meta.get("worktree") or s.meta.get("cwd") or None,  # a --worktree session works in its own
        preexec_fn=preexec,
    )
    assert proc.stdout is not None
    out = sys.stdout.buffer
    while True:
        chunk = (
            proc.stdout.read1(65536)
            if hasattr(proc.stdout, "read1")
            else os.read(proc.stdout.fileno(), 65536)
        )
        if not chunk:
            break
        out.write(chunk)
        out.flush()
        lines = (partial + chunk).split(b"\n")
        partial = lines.pop()
        tail.extend(lines)
    if partial:
        tail.append(partial)
    code = proc.wait()
    result = b"\n".join(tail).decode(errors="replace")
    sessions.write_result(session_dir, result + ("\n" if result and not result.endswith("\n") else ""))
    events.append(session_dir, "result", exit_code=code, chars=len(result))
    if code == 0:
        sessions.set_status(session_dir, "done", exit_code=0)
    else:
        sessions.set_status(session_dir, "failed", reason=f"exit {code}", exit_code=code)
    print(f"\x1b[2m[exit {code}]\x1b[0m", flush=True)
    return code
