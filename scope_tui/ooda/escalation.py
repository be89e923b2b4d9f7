"""Semantic escalation: a reason, details and the events that show it, to the parent's inbox and as an event.

Reasons: task_too_big, missing_context, wrong_approach, budget, stuck, restart_intensity. The parent's
decide step acts on the reason; at the top, the person is asked (`needs_input`) and answers with
`scope redirect ID MESSAGE`, which lands in the session's inbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.store import events, sessions

REASONS = ("task_too_big", "missing_context", "wrong_approach", "budget", "stuck", "restart_intensity")

# Asked before an escalation goes to the person (session folder, reason, details): set by api.run_worker
# for an agent's task to the agents layer's `reports to` routing, which this layer cannot ask itself.
# The person is asked all the same.
before_person: Callable[[Path, str, str], Any] | None = None


def _tell_first(session_dir: Path, reason: str, details: str) -> None:
    if before_person is None:
        return
    try:
        before_person(session_dir, reason, details)
    except Exception as exc:  # routing must never stop the person from hearing it
        events.append(session_dir, "error", error=f"routing the escalation: {exc}", source="reports_to")


@dataclass
class Escalation:
    """An escalation as the parent sees it: who sent it, why, and the seqs of the events that show it."""

    source: str
    reason: str
    details: str = ""
    evidence: list[Any] = field(default_factory=list)

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> Escalation:
        return cls(
            str(msg.get("source") or msg.get("child") or "?"),  # the built-in worker says `child`
            str(msg.get("reason") or "stuck"),
            str(msg.get("text") or ""),
            list(msg.get("evidence") or []),
        )


def escalate(
    session_dir: Path,
    reason: str,
    details: str = "",
    evidence: list[Any] | None = None,
    *,
    end: bool = True,
) -> Escalation:
    """Escalate from the session in `session_dir` to its parent (or, with no parent, to the person).

    Writes an `escalation` event on the session, puts a message of kind "escalation" in the parent's
    inbox, and (with `end`) marks the session `escalated` with the reason, before the message, so its
    supervisor can never act on it while the session still looks live. A session without a parent
    is instead set to `needs_input`: the person is asked.
    """
    s = sessions.load_dir(session_dir)
    parent = s.meta.get("parent")
    pdir = session_dir.parent / str(parent) if parent else None
    to = str(parent) if pdir is not None and pdir.is_dir() else "person"
    esc = Escalation(s.id, reason, details, list(evidence or []))
    events.append(session_dir, "escalation", reason=reason, details=details, evidence=esc.evidence, to=to)
    if to == "person":
        _tell_first(session_dir, reason, details)
        sessions.set_status(session_dir, "needs_input", reason=f"{reason}: {details}" if details else reason)
        return esc
    assert pdir is not None
    if end:  # recorded before the parent hears of it: a supervisor that acts at once (a kill) finds it final
        sessions.set_status(session_dir, "escalated", reason=reason)
    sessions.put_message(pdir, "escalation", details, reason=reason, source=s.id, evidence=esc.evidence)
    return esc


def ask_person(session_dir: Path, reason: str, details: str, evidence: list[Any] | None = None) -> None:
    """The top of the tree cannot handle it: an `escalation` event to the person and status `needs_input`."""
    events.append(
        session_dir, "escalation", reason=reason, details=details, evidence=list(evidence or []), to="person"
    )
    _tell_first(session_dir, reason, details)
    sessions.set_status(session_dir, "needs_input", reason=f"{reason}: {details}" if details else reason)


def split_inbox(msgs: list[dict[str, Any]]) -> tuple[list[Escalation], list[dict[str, Any]]]:
    """Separate escalations from the other inbox messages (redirects, reflections)."""
    escs = [Escalation.from_message(m) for m in msgs if m.get("kind") == "escalation"]
    return escs, [m for m in msgs if m.get("kind") != "escalation"]
