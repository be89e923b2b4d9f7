"""Where a session stands in the tree once resumes have happened.

A resumed session (its meta has `resumed_as`) gives its place to the one that carries it on: the trees
(`scope tree`, the room) show the successor where the old one was, and the old one's children that were
kept (a pattern's finished parts) under the successor. Ids never change; only where rows are shown does.
"""

from __future__ import annotations

from scope_tui.store import ids

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from scope_tui.store.sessions import Session


def _on_host_of(sid: str, ref: object) -> object:
    """`ref` (an id a session's meta names) as the room keys it: another host's row's ids carry `NAME:`."""
    host, colon, _ = sid.rpartition(":")
    return f"{host}:{ref}" if colon and isinstance(ref, str) else ref


def successor(by_id: Mapping[str, Session], sid: str) -> str:
    """The session that carries `sid` on among those listed: the end of its `resumed_as` chain."""
    seen = {sid}
    while True:
        s = by_id.get(sid)
        nxt = _on_host_of(sid, s.meta.get("resumed_as")) if s is not None else None
        if not isinstance(nxt, str) or nxt not in by_id or nxt in seen:
            return sid
        seen.add(nxt)
        sid = nxt


def hidden(by_id: Mapping[str, Session], sid: str) -> bool:
    """True for a session another one (listed) took the place of."""
    return successor(by_id, sid) != sid


def parent(by_id: Mapping[str, Session], sid: str) -> str | None:
    """The row `sid` is shown under: its parent's successor (None at the top)."""
    p = ids.parent_of(sid)
    return successor(by_id, p) if p is not None else None


def place(by_id: Mapping[str, Session], sid: str) -> tuple[int, ...]:
    """The sort key of the place `sid` takes among its siblings: that of the first session it carries on."""
    seen = {sid}
    while True:
        s = by_id.get(sid)
        before = _on_host_of(sid, s.meta.get("resumed_from")) if s is not None else None
        if not isinstance(before, str) or before not in by_id or before in seen:
            return ids.sort_key(sid)
        seen.add(before)
        sid = before


def depth(by_id: Mapping[str, Session], sid: str) -> int:
    """How deep `sid`'s row is: 0 at the top."""
    n, p, seen = 0, parent(by_id, sid), {sid}
    while p is not None and p in by_id and p not in seen:
        seen.add(p)
        n, p = n + 1, parent(by_id, p)
    return n


def order(by_id: Mapping[str, Session], only: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """(id, depth) of each row to show, parents before their children, siblings in place order; a
    session whose parent is not listed is a top row. `only`: these ids (default: every one listed)."""
    shown = [s for s in (by_id if only is None else only) if s in by_id and not hidden(by_id, s)]
    kids: dict[str | None, list[str]] = {}
    for sid in shown:
        p = parent(by_id, sid)
        kids.setdefault(p if p in by_id else None, []).append(sid)
    out: list[tuple[str, int]] = []
    stack = [(sid, 0) for sid in sorted(kids.get(None, []), key=lambda x: place(by_id, x), reverse=True)]
    while stack:
        sid, d = stack.pop()
        out.append((sid, d))
        below = sorted(kids.get(sid, []), key=lambda x: place(by_id, x), reverse=True)
        stack.extend((k, d + 1) for k in below)
    return out
