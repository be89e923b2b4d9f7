"""relationships.json: how an agent works with each other agent, learned from the sessions it spawned
and the work it verified.

    {"bob": {"spawned": 3, "spawned_ok": 2, "topics": {"frontend": 2},
             "verifies": true, "verified": 2, "accepted": 1,
             "verified_by": 0, "accepted_by": 0,
             "outcomes": [{"what": "I verified", "session": "3.1", "result": "rejected",
                           "detail": "failed gate tests", "t": 1795737600.0}],
             "note": "free text a person may write", "updated_at": 1795737600.0}}
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from scope_tui.agents import home

RELATIONSHIPS = "relationships.json"
OUTCOMES = 10  # the outcomes of shared work kept a relationship (newest last)


def _blank() -> dict[str, Any]:
    return {
        "spawned": 0,
        "spawned_ok": 0,
        "topics": {},
        "verifies": False,
        "verified": 0,
        "accepted": 0,
        "verified_by": 0,
        "accepted_by": 0,
    }


def read(d: Path) -> home.Read:
    return home.read_json(d / RELATIONSHIPS, {})


def update(d: Path, other: str, problems: list[str], **changes: Any) -> bool:
    """Apply counts to the entry for `other`: numbers are added, `topics` merged, an `outcome` appended
    to `outcomes` (the last OUTCOMES), other keys set.
    A broken relationships.json is reported and left untouched (False)."""
    r = read(d)
    if r.problem:
        problems.append(r.problem)
        return False
    data = r.value
    entry = data.get(other) if isinstance(data.get(other), dict) else {}
    for k, v in _blank().items():
        entry.setdefault(k, v)
    for k, v in changes.items():
        if k == "outcome":
            got = entry.get("outcomes")
            kept: list[Any] = got if isinstance(got, list) else []
            entry["outcomes"] = (kept + [{**v, "t": round(time.time(), 3)}])[-OUTCOMES:]
        elif k == "topics":
            for w in v:
                entry["topics"][w] = int(entry["topics"].get(w, 0)) + 1
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            entry[k] = v
        else:
            entry[k] = entry.get(k, 0) + v
    entry["updated_at"] = round(time.time(), 3)
    data[other] = entry
    home.write(d / RELATIONSHIPS, data)
    return True


def describe(name: str, entry: dict[str, Any]) -> str:
    """One line a person reads: 'bob: I spawn them for frontend (2/3 ok); I verify their work (1/2 accepted)'."""
    bits = []
    if entry.get("spawned"):
        topics = sorted((entry.get("topics") or {}).items(), key=lambda kv: -kv[1])[:3]
        about = f" for {', '.join(t for t, _ in topics)}" if topics else ""
        bits.append(f"I hand them work{about} ({entry.get('spawned_ok', 0)}/{entry['spawned']} ok)")
    if entry.get("verified"):
        bits.append(f"I verify their work ({entry.get('accepted', 0)}/{entry['verified']} accepted)")
    if entry.get("verified_by"):
        bits.append(f"they verify mine ({entry.get('accepted_by', 0)}/{entry['verified_by']} accepted)")
    if entry.get("note"):
        bits.append(str(entry["note"]))
    outs = [o for o in entry.get("outcomes") or [] if isinstance(o, dict)]
    if outs:
        bits.append("last: " + outcome_line(outs[-1]))
    return f"{name}: " + ("; ".join(bits) or "no shared work yet")


def outcome_line(o: dict[str, Any]) -> str:
    """'I verified 3.1: rejected (failed gate tests)' from one entry of `outcomes`."""
    detail = f" ({o['detail']})" if o.get("detail") else ""
    return f"{o.get('what', '?')} {o.get('session', '?')}: {o.get('result', '?')}{detail}"


def verifier(d: Path, name: str) -> tuple[str, str] | None:
    """(the agent who verifies `name`'s work, why) from `name`'s relationships: the one who verified it
    most often (a hand-written note "verifies my work" counts as once), active agents only; None when
    no one does."""
    from scope_tui.agents import identity

    r = read(d)
    if r.problem:
        return None
    best: tuple[int, int, str] | None = None
    for other, e in r.value.items():
        if other == name or not isinstance(e, dict) or not home.exists(other):
            continue
        if identity.status(other) != "active":
            continue
        n = int(e.get("verified_by") or 0) or (1 if "verif" in str(e.get("note") or "").lower() else 0)
        if n and (best is None or (n, int(e.get("accepted_by") or 0)) > best[:2]):
            best = (n, int(e.get("accepted_by") or 0), other)
    if best is None:
        return None
    return best[2], f"{best[2]} has verified {name}'s work {best[0]} time(s), {best[1]} accepted"
