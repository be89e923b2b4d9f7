"""The append-only events.jsonl of a session: one JSON object a line, seq assigned under flock.

Several processes write one events file (the worker, hooks, redirects, the detector), so `seq` is taken
under an exclusive flock on the file itself and the line goes out in one O_APPEND write.
"""

from __future__ import annotations

import fcntl
import os
import time

from scope_tui.store import files, jsontext, keys, schema
from scope_tui.store.errors import CorruptFile

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from _typeshed import StrPath

EVENTS = "events.jsonl"
_LOOK_BACK = 16 << 20  # bytes searched from the end for the last good seq (a file of garbage ends the search)


def _last_seq(fd: int) -> int:
    """Read the seq of the file's last complete line, looking back from the end."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    block = 4096
    pos = size
    tail = b""
    while pos > 0 and size - pos < _LOOK_BACK:
        step = min(block, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or pos == 0:
            for line in reversed(lines):
                try:
                    return int(jsontext.loads(line)["seq"])
                except (ValueError, KeyError, TypeError, RecursionError):
                    continue
            if pos == 0:
                return 0
        block *= 2
    return 0


def append(session_dir: StrPath, type: str, **fields: Any) -> dict[str, Any]:
    """Append one event to the session's stream and return it (with its seq and time).

    The line goes out in one write (retried when short) under the file's flock; a torn last line left by a
    crash or a full disk is terminated first, so the new event is never glued onto it. Raises CorruptFile
    when events.jsonl is a link or not a file (nothing is written through it) and WriteFailed when the
    line cannot be written whole (the file is cut back to where it was).
    """
    path = os.path.join(session_dir, EVENTS)
    fd = files.open_append(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        seq = _last_seq(fd) + 1
        event = {"seq": seq, "t": round(time.time(), 3), "type": type, **fields}
        line = (keys.redact(jsontext.dumps(event)) + "\n").encode()  # no key ever reaches the stream
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        try:
            files.write_all(fd, line, path)
        except files.WriteFailed:
            try:
                os.ftruncate(fd, size)  # no torn line of ours left behind
            except OSError:
                pass
            raise
        return event
    finally:
        os.close(fd)  # closing releases the flock


EVENT = (schema.Key("seq", "int?"), schema.Key("t", "num?"), schema.Key("type", "str"))


def _corrupt(reason: str, raw: bytes = b"") -> dict[str, Any]:
    return {
        "seq": None,
        "t": None,
        "type": "corrupt_event",
        "reason": reason,
        "raw": raw[:200].decode(errors="replace"),
    }


class EventReader:
    """Tails one events file from a byte offset; `read_new()` returns only complete new lines.

    A half-written last line is left for the next call; a corrupt line is reported as an `error`
    event of its own (type `corrupt_event`) and skipped, so one bad line never hides the rest.
    """

    __slots__ = ("path", "offset", "_partial", "_broken")

    def __init__(self, path: StrPath, offset: int = 0) -> None:
        self.path, self.offset, self._partial = path, offset, b""
        self._broken: str | None = None

    def __repr__(self) -> str:
        return f"EventReader({self.path!r}, offset={self.offset})"

    def read_new(self) -> list[dict[str, Any]]:
        """The complete lines added since the last call. A file that cannot be read (a link, a FIFO, a
        folder, too big) gives one `corrupt_event` saying why, once, and nothing more until it changes."""
        try:
            data = files.read_bytes(self.path, files.EVENTS_CAP, self.offset)
        except FileNotFoundError:
            return []
        except CorruptFile as exc:
            if exc.reason == self._broken:
                return []
            self._broken = exc.reason
            return [_corrupt(f"{exc.path}: {exc.reason}")]
        except OSError as exc:
            return [_corrupt(f"{EVENTS}: cannot be read ({exc.strerror or exc})")]
        self._broken = None
        if self.offset and not data and os.stat(self.path).st_size < self.offset:
            self.offset, self._partial = 0, b""  # truncated or replaced: start over
            return self.read_new()
        if not data:
            return []
        self.offset += len(data)
        buf = self._partial + data
        *lines, self._partial = buf.split(b"\n")
        out: list[dict[str, Any]] = []
        for raw in lines:
            if not raw.strip():
                continue
            try:
                ev = jsontext.loads(raw)
            except RecursionError:
                out.append(_corrupt("nested too deep", raw))
                continue
            except ValueError as exc:
                out.append(_corrupt(str(exc), raw))
                continue
            if not isinstance(ev, dict):
                out.append(_corrupt("not an object", raw))
                continue
            bad = schema.problems(ev, EVENT)
            if bad:
                out.append(_corrupt(f"{bad[0][0]}: {bad[0][1]}", raw))
                continue
            out.append(ev)
        return out


def read_all(session_dir: StrPath) -> list[dict[str, Any]]:
    return EventReader(os.path.join(session_dir, EVENTS)).read_new()


def iter_type(events: list[dict[str, Any]], *types: str) -> Iterator[dict[str, Any]]:
    return (e for e in events if e.get("type") in types)
