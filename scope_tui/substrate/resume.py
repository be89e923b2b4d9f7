"""`scope resume ID|--all`: a session marked lost (its tmux server or window went, e.g. a reboot) continued.

A final status stays final: resuming starts a new session with `resumed_from: ID` in its meta, under
the old one's parent, and the old one's meta gets `resumed_as: NEW`, which `scope wait` on the old id
follows and the trees show in the old one's place (store/succession.py). How each kind continues:

- built-in: from its transcript (store/transcript.py), copied to the new session with a result for each
  tool call that was cut short and a note that says what happened;
- Claude Code: `claude --resume <its session id>` (recorded from its SessionStart hook), told to go on;
- pattern and orchestrator: from the old session's children: its engine runs again and each child it
  starts is matched with the old one's (`earlier`): a finished one is kept, a lost one resumed under the
  new session, anything else started again;
- command: restarted only when asked (`--rerun`: a command may not be safe to run twice).
"""

from __future__ import annotations

from typing import Any

from scope_tui.store import events, sessions, transcript
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project

RESUMABLE = ("builtin", "claude", "pattern", "orchestrator", "command")
# meta.json fields the new session does not take over: its own identity and the old run's bookkeeping
_OWN = (
    "id",
    "parent",
    "level",
    "driver",
    "created_at",
    "tmux",
    "resumed_as",
    "resumed_from",
    "claude_resume",
)
_SPAWN_ARGS = ("cmd", "skill", "model", "budget", "agent", "cwd", "env")

CONTINUE = (
    "[resumed] This session was lost (its tmux server went, e.g. a reboot) while it worked, and Scope has "
    "resumed it as session {new}. Tool calls that were still running when it went did not finish; "
    "children it started may have ended with it (look before you start one again). Go on with the task "
    "from where you were, and finish it."
)


def lost(s: sessions.Session) -> bool:
    return s.status == "failed" and s.state.get("reason") == "lost" and not s.meta.get("resumed_as")


def follow(project: Project, sid: str) -> str:
    """The session that carries `sid` on now: itself, or the end of its `resumed_as` chain."""
    seen = {sid}
    while True:
        nxt = sessions.load_dir(project.session_dir(sid)).meta.get("resumed_as")
        if not nxt or nxt in seen:
            return sid
        seen.add(str(nxt))
        sid = str(nxt)


def resume(
    project: Project, sid: str, *, rerun: bool = False, parent: str | None = None, launch_now: bool = True
) -> sessions.Session:
    """Continue lost session `sid` as a new session (under `parent`, default the old one's) and start it.

    Raises UsageError (exit 2) for a session that is not lost, was resumed already, or runs a command
    without `rerun`; UnknownSession for an id with no session.
    """
    from scope_tui.substrate.spawn import launch, spawn

    s = sessions.load(project, sid)
    if s.meta.get("resumed_as"):
        raise UsageError(f"session {sid} was resumed already, as {s.meta['resumed_as']}")
    if not lost(s):
        raise UsageError(f"session {sid} is {s.status}, not lost: only a lost session resumes")
    driver = str(s.meta.get("driver") or "builtin")
    if driver not in RESUMABLE:
        raise UsageError(f"session {sid} ({driver}): a {driver} session does not resume yet")
    if driver == "command" and not rerun:
        raise UsageError(f"session {sid} runs a command: it is restarted only with --rerun")
    extra: dict[str, Any] = {k: v for k, v in s.meta.items() if k not in _OWN and k not in _SPAWN_ARGS}
    if driver == "claude":
        claude_id = s.state.get("claude_session")
        if not claude_id:
            raise UsageError(
                f"session {sid}: Claude Code never said its session id, so there is nothing to resume"
            )
        extra["claude_resume"] = str(claude_id)
    new = spawn(
        project,
        s.task(),
        parent=parent or s.meta.get("parent") or None,
        driver=driver,
        level=str(s.meta.get("level") or "operational"),
        launch_now=False,
        resumed_from=sid,
        **{k: s.meta[k] for k in _SPAWN_ARGS if s.meta.get(k) is not None},
        **extra,
    )
    prompt = s.dir / sessions.PROMPT
    if prompt.is_file():  # an agent's identity and memory as the conversation had them (not prepared anew)
        write_text(new.dir / sessions.PROMPT, prompt.read_text())
    if driver == "builtin":
        _carry_transcript(s, new)
    s.meta["resumed_as"] = new.id
    write_json(s.dir / sessions.META, s.meta)
    events.append(s.dir, "resumed", resumed_as=new.id)
    return launch(project, new) if launch_now else new


def _carry_transcript(old: sessions.Session, new: sessions.Session) -> None:
    """The new session's transcript: the old conversation, each call cut short answered, and the note."""
    messages = transcript.load(old.dir)
    if not messages:
        return  # nothing recorded (it was lost before its first message): it starts from its task
    for m in messages:
        transcript.append(new.dir, m)
    note = {"type": "text", "text": CONTINUE.format(new=new.id)}
    cut = [
        {
            "type": "tool_result",
            "tool_use_id": uid,
            "content": "not finished: the session was lost while this ran",
            "is_error": True,
        }
        for uid in transcript.dangling_tool_uses(messages)
    ]
    transcript.append(new.dir, {"role": "user", "content": [*cut, note]})


def carry_child(
    project: Project, parent_sid: str, parent_meta: dict[str, Any], match: dict[str, Any], taken: set[str]
) -> tuple[str, str] | None:
    """What a resumed pattern or orchestrator session does with a child it is about to start: the old
    session's child that did the same work (its task and the `match` meta fields), not yet `taken`, in
    the order they were started: ("kept", its id) when it had ended (done or not: the engine's policy
    sees that end again, so a retried part is replayed, not redone), ("resumed", the new id) when it was
    lost (continued under `parent_sid`), ("again", its id) when it must start afresh (a lost command:
    the caller starts it and calls `replaced`). None when this session resumes nothing or no child
    matches."""
    from scope_tui.store import ids

    old = parent_meta.get("resumed_from")
    if not old:
        return None
    task = match.get("task")
    for cid in sessions.list_ids(project):
        if ids.parent_of(cid) != old or cid in taken:
            continue
        c = sessions.load_dir(project.session_dir(cid))
        if c.corrupt or c.task() != task:
            continue
        if any((c.meta.get(k) or None) != (v or None) for k, v in match.items() if k != "task"):
            continue
        taken.add(cid)
        if c.terminal and not lost(c):  # its end is kept as it was: the engine decides on it again
            return "kept", cid
        if lost(c) and str(c.meta.get("driver") or "builtin") != "command":
            return "resumed", resume(project, cid, parent=parent_sid).id
        return "again", cid
    return None


def replaced(project: Project, old: str, new: str) -> None:
    """`new` was started afresh in `old`'s place: `scope wait` on `old` follows it, the trees show it there."""
    s = sessions.load(project, old)
    s.meta["resumed_as"] = new
    write_json(s.dir / sessions.META, s.meta)
    events.append(s.dir, "resumed", resumed_as=new, again=True)


def resume_all(project: Project, *, rerun: bool = False) -> list[tuple[str, str]]:
    """(old id, new id or why not) for every lost session, except the children of a lost pattern or
    orchestrator session (resuming it resumes them)."""
    out = []
    listed = sessions.list_all(project)
    by_id = {s.id: s for s in listed}
    for s in listed:
        up = by_id.get(str(s.meta.get("parent") or ""))
        if up is not None and lost(up) and up.meta.get("driver") in ("pattern", "orchestrator"):
            continue
        if lost(s):
            try:
                out.append((s.id, resume(project, s.id, rerun=rerun).id))
            except UsageError as exc:
                out.append((s.id, str(exc)))
    return out
