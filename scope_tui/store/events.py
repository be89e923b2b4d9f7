"""The append-only events.jsonl of a session: one JSON object a line, seq assigned under flock.

Several processes write one events file (the worker, hooks, redirects, the detector), so `seq` is taken
under an exclusive flock on the file itself and the line goes out in one O_APPEND write.
"""

from __future__ import annotations

import fcntl
import os
import time

from scope_tui.store import jsontext

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from _typeshed import StrPath

EVENTS = "events.jsonl"


def _last_seq(fd: int) -> int:
    """Read the seq of the file's last complete line, looking back from the end."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    block = 4096
    pos = size
    tail = b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or pos == 0:
            for line in reversed(lines):
                try:
                    return int(jsontext.loads(line)["seq"])
                except (ValueError, KeyError, TypeError):
                    continue
            if pos == 0:
                return 0
        block *= 2
    return 0


def append(session_dir: StrPath, type: str, **fields: Any) -> dict[str, Any]:
    """Append one event to the session's stream and return it (with its seq and time)."""
    path = os.path.join(session_dir, EVENTS)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        rfd = os.open(path, os.O_RDONLY)
        try:
            seq = _last_seq(rfd) + 1
        finally:
            os.close(rfd)
        event = {"seq": seq, "t": round(time.time(), 3), "type": type, **fields}
        line = (jsontext.dumps(event) + "\n").encode()
        os.write(fd, line)
        return event
    finally:
        os.close(fd)  # closing releases the flock


class EventReader:
    """Tails one events file from a byte offset; `read_new()` returns only complete new lines.

    A half-written last line is left for the next call; a corrupt line is reported as an `error`
    event of its own (type `corrupt_event`) and skipped, so one bad line never hides the rest.
    """

    __slots__ = ("path", "offset", "_partial")

    def __init__(self, path: StrPath, offset: int = 0) -> None:
        self.path, self.offset, self._partial = path, offset, b""

    def __repr__(self) -> str:
        return f"EventReader({self.path!r}, offset={self.offset})"

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:  # truncated or replaced: start over
                    self.offset, self._partial = 0, b""
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
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
                if not isinstance(ev, dict):
                    raise ValueError("not an object")
                out.append(ev)
            except ValueError as exc:
                out.append(
                    {
                        "seq": None,
                        "t": None,
                        "type": "corrupt_event",
                        "reason": str(exc),
                        "raw": raw[:200].decode(errors="replace"),
                    }
                )
        return out


def read_all(session_dir: StrPath) -> list[dict[str, Any]]:
    return EventReader(os.path.join(session_dir, EVENTS)).read_new()


def iter_type(events: list[dict[str, Any]], *types: str) -> Iterator[dict[str, Any]]:
    return (e for e in events if e.get("type") in types)
