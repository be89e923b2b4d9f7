"""File-event waiting: watchfiles, falling back to polling (said once) when inotify runs out; and `Inotify`,
a recursive inotify watcher for an event loop that costs nothing while nothing changes.

Machines like this one allow 128 inotify instances per user; a watcher that cannot get one polls instead.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from scope_tui.store.atomic import is_temp
from scope_tui.store.sessions import PANE_LOG
from scope_tui.store.transcript import TRANSCRIPT

_warned = False


def keep_path(path: str) -> bool:
    """The one file filter of every watcher: a writer's temp file or a lock is not a change anyone should see,
    and neither is a pane log growing (tmux appends each line a pane prints) nor a built-in's transcript
    (a message a turn, read only by `scope resume`): nothing's state is in them."""
    return not is_temp(path) and not path.endswith((".lock", "/" + PANE_LOG, "/" + TRANSCRIPT))


def _keep(_change: object, path: str) -> bool:  # watchfiles' filter signature
    return keep_path(path)


def _say_polling(why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(f"scope: file events unavailable ({why}); polling instead", file=sys.stderr)


def ticks(path: Path, *, tick_ms: int = 1000, stop: threading.Event | None = None) -> Iterator[bool]:
    """Yield True when something under `path` changed, False when `tick_ms` passed without a change.

    The watch begins at this call, before the caller reads anything, so nothing that happens between
    its first read and its first `next()` is missed. Runs until the caller stops iterating (or `stop` is
    set). It waits in select() on an inotify descriptor, so a `scope wait` or a supervisor that waits
    for hours costs nothing while nothing changes (watchfiles wakes every few milliseconds); watchfiles,
    and polling after it, when inotify is unavailable.
    """
    try:
        watcher = Inotify(path)
    except OSError:
        return _watchfiles_ticks(path, tick_ms=tick_ms, stop=stop)
    return _inotify_ticks(watcher, path, tick_ms=tick_ms, stop=stop)


def _inotify_ticks(
    watcher: Inotify, path: Path, *, tick_ms: int, stop: threading.Event | None
) -> Iterator[bool]:
    import select
    import time

    tick = tick_ms / 1000
    last = time.monotonic()
    try:
        while not (stop is not None and stop.is_set()):
            # the tick is counted from the last yield: files nobody cares about (temp files, locks)
            # changing all the time must not keep the caller from its deadline
            ready, _, _ = select.select([watcher.fd], [], [], max(0.0, last + tick - time.monotonic()))
            changed = [p for p in watcher.read() if keep_path(p)] if ready else []
            if watcher.error is not None:  # a new folder could not be watched (the watch limit)
                break
            if changed or watcher.overflowed:
                watcher.overflowed = False
                last = time.monotonic()
                yield True
            elif time.monotonic() >= last + tick:
                last = time.monotonic()
                yield False
        else:
            return
    finally:
        watcher.close()
    yield True  # what the unwatched folder held is news to the caller
    yield from _watchfiles_ticks(path, tick_ms=tick_ms, stop=stop)


def _watchfiles_ticks(path: Path, *, tick_ms: int, stop: threading.Event | None) -> Iterator[bool]:
    import watchfiles

    stop = stop or threading.Event()
    force = False
    while not stop.is_set():
        try:
            for changes in watchfiles.watch(
                path,
                watch_filter=_keep,
                debounce=20,
                step=10,
                rust_timeout=tick_ms,
                yield_on_timeout=True,
                stop_event=stop,
                force_polling=force,
                poll_delay_ms=100,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                yield bool(changes)
            return
        except OSError as exc:  # inotify instance or watch limit
            if force:
                raise
            force = True
            _say_polling(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


# <sys/inotify.h>
IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
IN_ISDIR = 0x40000000
# No IN_MODIFY: every writer of state closes what it wrote (events and transcripts are appended and closed,
# state files renamed into place), while a file held open and written line by line (tmux's pane.log of a
# printing pane, a CLI's own log) would wake every watcher at each line for nothing anyone shows.
_MASK = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
_EVENT = struct.Struct("iIII")


class Inotify:
    """Every file change under `root`, by inotify: wait on `fileno()` (e.g. `loop.add_reader`), then `read()`.

    watchfiles' Rust side wakes every `step` ms to look for changes, which is what an idle app spends; this
    wakes only when the kernel has something. A folder created later is watched as it appears, and the
    files already in it are reported with it. Raises OSError where inotify is missing or exhausted (the
    caller falls back to watchfiles). `overflowed` is set when the kernel dropped events: rescan then.
    """

    def __init__(self, root: Path) -> None:
        if not sys.platform.startswith("linux"):
            raise OSError(errno.ENOSYS, "inotify is Linux only")
        libc = ctypes.CDLL(None, use_errno=True)
        self._add_watch = libc.inotify_add_watch
        self._add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"inotify_init1: {os.strerror(e)}")
        self.fd: int = fd
        self.dirs: dict[int, str] = {}
        self.overflowed = False
        self.error: OSError | None = (
            None  # a folder that could not be watched (watch limit): rescan, then poll
        )
        try:
            self._walk(str(root), [])
        except OSError:
            self.close()
            raise

    def fileno(self) -> int:
        return self.fd

    def _walk(self, top: str, found: list[str]) -> None:
        wd = self._add_watch(self.fd, os.fsencode(top), _MASK | IN_ONLYDIR)
        if wd < 0:
            e = ctypes.get_errno()
            if e in (errno.ENOENT, errno.ENOTDIR):  # gone again, or not a folder
                return
            raise OSError(e, f"inotify_add_watch: {os.strerror(e)}", top)
        self.dirs[wd] = top
        try:
            entries = list(os.scandir(top))
        except OSError:
            return
        for ent in entries:
            if ent.is_dir(follow_symlinks=False):
                self._walk(ent.path, found)
            else:
                found.append(ent.path)

    def read(self) -> set[str]:
        """The paths that changed since the last read (never blocks; empty when nothing is pending)."""
        out: set[str] = set()
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            i = 0
            while i < len(buf):
                wd, mask, _cookie, n = _EVENT.unpack_from(buf, i)
                name = buf[i + _EVENT.size : i + _EVENT.size + n].rstrip(b"\0")
                i += _EVENT.size + n
                if mask & IN_Q_OVERFLOW:
                    self.overflowed = True
                    continue
                if mask & IN_IGNORED:
                    self.dirs.pop(wd, None)
                    continue
                base = self.dirs.get(wd)
                if base is None:
                    continue
                path = os.path.join(base, os.fsdecode(name)) if name else base
                out.add(path)
                if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                    found: list[str] = []
                    try:
                        self._walk(path, found)
                    except OSError as exc:
                        self.error = exc
                    out.update(found)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:  # a ticks() the caller never iterated still gives its descriptor back
        self.close()
