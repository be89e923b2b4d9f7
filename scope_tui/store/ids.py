"""Dotted session ids (3, 3.1, 3.1.2), allocated by atomic mkdir so any number of processes can spawn."""

from __future__ import annotations

import os
import re
from pathlib import Path

from scope_tui.store.errors import UsageError

_ID = re.compile(r"^[1-9][0-9]{0,8}(\.[1-9][0-9]{0,8}){0,31}$")


def validate(sid: str) -> str:
    """Return `sid` when it is a well-formed dotted id; raise UsageError otherwise."""
    if not isinstance(sid, str) or not _ID.match(sid):
        shown = sid if sid else "(empty)"
        raise UsageError(f"bad session id {shown!r}: ids look like 3, 3.1 or 3.1.2")
    return sid


def parent_of(sid: str) -> str | None:
    return sid.rpartition(".")[0] or None


def depth(sid: str) -> int:
    return sid.count(".")


def sort_key(sid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in sid.split("."))


def is_descendant(sid: str, ancestor: str) -> bool:
    return sid == ancestor or sid.startswith(ancestor + ".")


def allocate(sessions_dir: Path, parent: str | None) -> tuple[str, Path]:
    """Create the folder of the next free child id of `parent` (top level when None).

    mkdir is atomic: when two processes race for the same number, one gets EEXIST and tries the next.
    """
    sessions_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{parent}." if parent else ""
    taken = [
        int(name[len(prefix) :])
        for name in os.listdir(sessions_dir)
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    ]
    n = max(taken, default=0) + 1
    while True:
        sid = f"{prefix}{n}"
        path = sessions_dir / sid
        try:
            path.mkdir()
            return sid, path
        except FileExistsError:
            n += 1
