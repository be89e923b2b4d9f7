"""Opening state files as a careful reader and writer: regular files only, never through a link, never
blocking on a FIFO, never more than a size cap, and every write whole or a clear error.

Every file under `.scope/` is read and appended through here, so a file a person, a crash or a full disk
left broken (a link to /dev/zero, a FIFO, a folder, 2 GB of NULs) costs one `CorruptFile` with its
reason, never a hang, a MemoryError or a write somewhere outside the project.
"""

from __future__ import annotations

import errno
import os
import stat

from scope_tui.store.errors import CorruptFile, ScopeError

TYPE_CHECKING = False  # typing stays unimported: every `scope` process pays for what it imports
if TYPE_CHECKING:
    from _typeshed import StrPath

# Caps: far above anything Scope writes, far below what would hurt a reader's memory.
JSON_CAP = 4 << 20  # meta.json, state.json, a patch, stats.json
TEXT_CAP = 16 << 20  # task.md, result.md, a skill
EVENTS_CAP = 256 << 20  # events.jsonl (read incrementally from an offset, so this bounds one read)

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_APPEND = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a folder, not a file"),
    (stat.S_ISFIFO, "a FIFO, not a file"),
    (stat.S_ISCHR, "a device, not a file"),
    (stat.S_ISBLK, "a device, not a file"),
    (stat.S_ISSOCK, "a socket, not a file"),
)


class WriteFailed(ScopeError):
    """A write that could not complete (a full disk, an I/O error): the caller must not carry on as if done."""

    def __init__(self, path: object, exc: OSError) -> None:
        super().__init__(f"cannot write {path}: {exc.strerror or exc}")
        self.path, self.errno = path, exc.errno

    @classmethod
    def after(cls, exc: Exception, done: str) -> WriteFailed:
        """The same failure, told after what was done anyway (`killed 3 3.1, but cannot write ...`)."""
        out = cls.__new__(cls)
        ScopeError.__init__(out, f"{done} {exc}")
        out.path, out.errno = getattr(exc, "path", None), getattr(exc, "errno", None)
        return out


def _why_not_regular(mode: int) -> str | None:
    for test, why in _KINDS:
        if test(mode):
            return why
    return None if stat.S_ISREG(mode) else "not a regular file"


def _name(path: StrPath) -> str:
    return os.path.basename(os.fspath(path))


def open_regular(path: StrPath, flags: int = _READ, mode: int = 0o600) -> int:
    """A descriptor on `path` when it is a regular file reached without a link; CorruptFile otherwise.

    FileNotFoundError passes through: a missing file means different things to different callers.
    """
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorruptFile(_name(path), "a symbolic link (not followed)") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO):  # a folder opened for writing, a FIFO with no reader
            raise CorruptFile(
                _name(path), "a folder, not a file" if exc.errno == errno.EISDIR else "a FIFO, not a file"
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise CorruptFile(
                _name(os.path.dirname(os.fspath(path))), "a file where a folder should be"
            ) from None
        raise
    why = _why_not_regular(os.fstat(fd).st_mode)
    if why is not None:
        os.close(fd)
        raise CorruptFile(_name(path), why)
    return fd


def read_bytes(path: StrPath, cap: int = JSON_CAP, offset: int = 0) -> bytes:
    """The file's bytes from `offset` (at most `cap` of them); CorruptFile for a link, a non-file or a
    file bigger than the cap. FileNotFoundError passes through."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size - offset > cap:
            raise CorruptFile(_name(path), f"too big ({size} bytes; at most {cap} are read)")
        chunks = []
        want = size - offset
        while want > 0:  # a file may shrink or grow while read: stop at its end or at the size seen
            chunk = os.pread(fd, min(want, 1 << 20), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            want -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: StrPath, cap: int = TEXT_CAP) -> str:
    """The file as UTF-8 text; CorruptFile when it is not UTF-8 (or not a plain file, or too big)."""
    raw = read_bytes(path, cap)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFile(_name(path), f"not UTF-8 text (byte {exc.start})") from None


def read_text_or_none(path: StrPath, cap: int = TEXT_CAP) -> str | None:
    try:
        return read_text(path, cap)
    except FileNotFoundError:
        return None


def refuse_link(path: StrPath) -> None:
    """CorruptFile when `path` is a symbolic link: an atomic write replaces the link, so refuse it first."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise CorruptFile(_name(path), "a symbolic link (not followed)")
    if stat.S_ISDIR(st.st_mode):
        raise CorruptFile(_name(path), "a folder, not a file")


def open_append(path: StrPath, mode: int = 0o600) -> int:
    """An O_APPEND descriptor on a regular file (created when missing); CorruptFile for a link or a
    non-file, so an appender never writes through a link planted in `.scope/`."""
    return open_regular(path, _APPEND, mode)


def write_all(fd: int, data: bytes, path: StrPath) -> None:
    """Write all of `data`: a short write is retried; what cannot be written raises WriteFailed."""
    view = memoryview(data)
    try:
        while view:
            n = os.write(fd, view)
            if n <= 0:  # pragma: no cover - write(2) returns 0 only for a zero-length buffer
                raise OSError(errno.EIO, "write returned 0")
            view = view[n:]
    except OSError as exc:
        raise WriteFailed(_name(path), exc) from None
