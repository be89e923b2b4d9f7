"""Starting processes without `subprocess`: importing it (signal, threading, selectors, ...) cost every
`scope spawn` and every worker about 10 ms, more than their own work. Only the hot paths use this (tmux
commands, a command session's command); everything else uses subprocess.
"""

from __future__ import annotations

import os

try:  # the C module behind `signal`: its Python face builds enums, and enum costs every process ~3 ms
    from _signal import SIGPIPE, SIGXFSZ
except ImportError:  # not CPython
    from signal import SIGPIPE, SIGXFSZ

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# shlex.quote's safe characters (it tests them with a regex: re and enum are imported for it)
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def quote(s: str) -> str:
    """`s` as one word of a POSIX shell line; the same text shlex.quote gives."""
    if s and all(c in _SAFE for c in s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


def _inherited_fds() -> list[int]:
    """This process's inheritable descriptors above stderr (what it was handed, e.g. a CI step's pipe)."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return []
    out = []
    for fd in fds:
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    out.append(fd)
            except OSError:  # the listing's own descriptor, closed already
                continue
    return out


def spawn(
    argv: list[str], actions: Sequence[tuple[int, ...]] = (), env: Mapping[str, str] | None = None
) -> int:
    """posix_spawn `argv` (a path as argv[0]) with `actions`, the way subprocess would: descriptors this
        process inherited are not passed on (close_fds; a long-lived tmux server would otherwise hold a
        caller's pipe open for good), and SIGPIPE and SIGXFSZ are back at their defaults (Python ignores
        them, and `yes | head -1` in a command would complain of a broken pipe). `env` defaults to this
    process's environment. Returns the pid."""
    closes = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()]
    return os.posix_spawn(
        argv[0],
        argv,
        os.environ if env is None else env,
        file_actions=[*actions, *closes],
        setsigdef=(SIGPIPE, SIGXFSZ),
    )


class Ran:
    """What `run_captured` returns: the exit code and both outputs, as subprocess.run would."""

    __slots__ = ("returncode", "stdout", "stderr")

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __repr__(self) -> str:
        return f"Ran({self.returncode}, stdout={self.stdout[:200]!r}, stderr={self.stderr[:200]!r})"


def run_captured(argv: list[str], input: bytes | None = None, env: Mapping[str, str] | None = None) -> Ran:
    """Run `argv` to its end, feeding it `input` and collecting stdout and stderr.

    subprocess.run's job, done with `spawn` and poll.
    """
    import select

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if input is not None else (-1, -1)
    actions = [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
    if input is not None:
        actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
    try:
        pid = spawn(argv, actions, env)
    except BaseException:
        for fd in (out_r, err_r, in_w):
            if fd >= 0:
                os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, in_r):  # the child's ends (os.pipe's fds are not inherited)
            if fd >= 0:
                os.close(fd)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    pending = memoryview(input or b"")
    poller = select.poll()
    for fd in chunks:
        poller.register(fd, select.POLLIN)
    if in_w >= 0:
        os.set_blocking(in_w, False)  # write what fits, read meanwhile: neither side waits on the other
        poller.register(in_w, select.POLLOUT)
    open_fds = len(chunks) + (in_w >= 0)
    try:
        while open_fds:
            for fd, _ in poller.poll():
                if fd == in_w:
                    try:
                        pending = pending[os.write(in_w, pending) :]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        poller.unregister(in_w)
                        os.close(in_w)
                        in_w, open_fds = -1, open_fds - 1
                    continue
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    poller.unregister(fd)
                    open_fds -= 1
    finally:
        for fd in (out_r, err_r, in_w):
            if fd >= 0:
                os.close(fd)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return Ran(code, b"".join(chunks[out_r]), b"".join(chunks[err_r]))
