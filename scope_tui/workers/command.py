"""The command driver: any shell command as a worker; its exit code becomes the status, its output's tail the result."""

from __future__ import annotations

import os
import sys

from scope_tui.procs import spawn
from scope_tui.store import events, keys, sessions
from scope_tui.workers.process import dying_with_parent

TAIL_LINES = 200
TAIL_BYTES = 4 * 1024 * 1024

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass


def _start(argv: list[str], cwd: str | None, env: dict[str, str]) -> tuple[int, int]:
    """Start `argv` with stdout and stderr into one pipe; returns (pid, the pipe's read end).

    procs.spawn, not subprocess: importing subprocess is a cost every command window would pay.
    """
    if cwd:
        os.chdir(cwd)  # a --worktree session works in its own; a missing folder fails the session here
    r, w = os.pipe()
    try:
        pid = spawn(argv, [(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, w, 2)], env)
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return pid, r


class Tail:
    """The end of a byte stream: its last TAIL_LINES lines, and at most TAIL_BYTES of it. Memory and work stay
    bounded whatever the command prints, a line that never ends included; one long line (a mapper's JSON)
    is kept whole up to TAIL_BYTES. A list trimmed now and then: collections costs an import."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []  # the end of the stream, oldest first
        self.size = 0  # bytes in chunks
        self.newlines = 0  # newlines in chunks

    def feed(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        self.newlines += chunk.count(b"\n")
        drop = 0  # the oldest chunks that are no longer needed, dropped together
        while drop < len(self.chunks) - 1:
            old = self.chunks[drop]
            n = old.count(b"\n")
            if self.size - len(old) < TAIL_BYTES and self.newlines - n <= TAIL_LINES:
                break
            self.size -= len(old)
            self.newlines -= n
            drop += 1
        if drop:
            del self.chunks[:drop]

    def text(self) -> str:
        data = b"".join(self.chunks)
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        return b"\n".join(lines[-TAIL_LINES:])[-TAIL_BYTES:].decode(errors="replace")


def _sandboxed(s: sessions.Session, argv: list[str], cwd: str | None) -> list[str]:
    """`argv` under bwrap when the session asked for the sandbox and bwrap runs here, else as it is."""
    from scope_tui.store import config

    project = s.project
    if not config.sandbox_wanted(s.meta.get("params"), config.load(project.config_path)):
        return argv
    from pathlib import Path

    from scope_tui.substrate import sandbox

    probe = sandbox.probe()
    if not probe.ok:
        print(f"scope: no sandbox: {probe.why}; the command runs unsandboxed", flush=True)
        events.append(s.dir, "error", where="sandbox", message=probe.why)
        return argv
    home = project.home
    work = Path(cwd) if cwd else home
    events.append(s.dir, "decision", what="sandbox", why=probe.why)
    return sandbox.wrap(
        argv,
        readonly=[home],
        writable=[s.dir] + ([work] if work != home else []),
        hidden=sandbox.hidden_paths(project.root),
        chdir=work,
    )


def run(s: sessions.Session) -> int:
    """Run session `s`'s command (as the worker read it) to its end; the command's exit code."""
    session_dir = s.path
    cmd = str(s.meta.get("cmd") or "")
    print(f"\x1b[2mscope · session {s.id} · command driver\x1b[0m", flush=True)
    print(f"\x1b[2m$ {cmd}\x1b[0m", flush=True)
    sessions.set_status(session_dir, "running")
    sessions.set_phase(session_dir, "act", "running the command")
    events.append(session_dir, "exec", cmd=cmd)
    # a killed worker takes its command with it (the death signal), even with kill -9
    cwd = s.meta.get("worktree") or s.meta.get("cwd") or None
    argv = dying_with_parent(_sandboxed(s, ["/bin/sh", "-c", cmd], cwd), "HUP")
    # no key unless the person passed it by name (--env NAME), even from a window that has one
    pid, fd = _start(argv, cwd, keys.without(os.environ, keep=s.meta.get("env") or ()))
    tail = Tail()
    out = sys.stdout.buffer
    try:
        while chunk := os.read(fd, 65536):
            out.write(chunk)
            out.flush()
            tail.feed(chunk)
    finally:
        os.close(fd)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    result = tail.text()
    sessions.write_result(session_dir, result + ("\n" if result and not result.endswith("\n") else ""))
    events.append(session_dir, "result", exit_code=code, chars=len(result))
    if code == 0:
        sessions.set_status(session_dir, "done", exit_code=0)
    else:
        sessions.set_status(session_dir, "failed", reason=f"exit {code}", exit_code=code)
    print(f"\x1b[2m[exit {code}]\x1b[0m", flush=True)
    return code
