"""Dotted session ids (3, 3.1, 3.1.2), allocated by atomic mkdir so any number of processes can spawn."""

from __future__ import annotations

import os

from scope_tui.store.errors import UsageError

MAX_DEPTH = 32  # parts in an id
MAX_DIGITS = 9  # in each part

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _typeshed import StrPath


def _well_formed(sid: object) -> bool:
    # checked by hand: `re` would cost every `scope` process its import (with enum) for this one pattern
    if not isinstance(sid, str):
        return False
    parts = sid.split(".")
    return len(parts) <= MAX_DEPTH and all(
        0 < len(p) <= MAX_DIGITS and p.isascii() and p.isdigit() and p[0] != "0" for p in parts
    )


def validate(sid: str) -> str:
    """Return `sid` when it is a well-formed dotted id (3, 3.1, 3.1.2); raise UsageError otherwise."""
    if not _well_formed(sid):
        shown = sid if sid else "(empty)"
        raise UsageError(f"bad session id {shown!r}: ids look like 3, 3.1 or 3.1.2")
    return sid


def parent_of(sid: str) -> str | None:
    return sid.rpartition(".")[0] or None


def depth(sid: str) -> int:
    return sid.count(".")


def sort_key(sid: str) -> tuple[int, ...]:
    """Numeric order; another host's `NAME:3.1` (a row the room shows) after this project's, by host name."""
    host, colon, rest = sid.rpartition(":")
    if colon:
        return (10**MAX_DIGITS, *map(ord, host), -1, *(int(p) for p in rest.split(".")))
    return tuple(int(p) for p in sid.split("."))


def is_descendant(sid: str, ancestor: str) -> bool:
    return sid == ancestor or sid.startswith(ancestor + ".")


def allocate(sessions_dir: StrPath, parent: str | None) -> tuple[str, str]:
    """Create the folder of the next free child id of `parent` (top level when None).

    mkdir is atomic: when two processes race for the same number, one gets EEXIST and tries the next.
    """
    os.makedirs(sessions_dir, exist_ok=True)
    prefix = f"{parent}." if parent else ""
    taken = [
        int(name[len(prefix) :])
        for name in os.listdir(sessions_dir)
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    ]
    n = max(taken, default=0) + 1
    while True:
        sid = f"{prefix}{n}"
        path = os.path.join(sessions_dir, sid)
        try:
            os.mkdir(path, 0o700)
            return sid, path
        except FileExistsError:
            n += 1
