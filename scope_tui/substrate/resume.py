"""`scope resume ID|--all`: a session marked lost (its tmux server or window went, e.g. a reboot) continued.

A final status stays final: resuming starts a new session with `resumed_from: ID` in its meta, under
the old one's parent, and the old one's meta gets `resumed_as: NEW`, which `scope wait` on the old id
follows. Built so far: a command session, restarted only when asked (`--rerun`: a command may not be
safe to run twice). Built-in, pattern and Claude Code sessions are refused with that said.
"""

from __future__ import annotations

from scope_tui.store import sessions
from scope_tui.store.atomic import write_json
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project


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


def resume(project: Project, sid: str, *, rerun: bool = False) -> sessions.Session:
    from scope_tui.substrate.spawn import spawn

    s = sessions.load(project, sid)
    if s.meta.get("resumed_as"):
        raise UsageError(f"session {sid} was resumed already, as {s.meta['resumed_as']}")
    if not lost(s):
        raise UsageError(f"session {sid} is {s.status}, not lost: only a lost session resumes")
    if not s.meta.get("cmd"):
        raise UsageError(
            f"session {sid} ({s.meta.get('driver') or 'builtin'}): resuming it is not built yet "
            "(only command sessions, with --rerun)"
        )
    if not rerun:
        raise UsageError(f"session {sid} runs a command: it is restarted only with --rerun")
    task = s.task()
    new = spawn(
        project,
        task,
        parent=s.meta.get("parent") or None,
        cmd=str(s.meta["cmd"]),
        level=str(s.meta.get("level") or "operational"),
        cwd=s.meta.get("cwd"),
        env=list(s.meta.get("env") or []) or None,
        launch_now=False,
    )
    new.meta["resumed_from"] = sid
    write_json(new.dir / sessions.META, new.meta)
    s.meta["resumed_as"] = new.id
    write_json(s.dir / sessions.META, s.meta)
    from scope_tui.substrate.spawn import launch

    return launch(project, new)


def resume_all(project: Project, *, rerun: bool = False) -> list[tuple[str, str]]:
    """(old id, new id or why not) for every lost session."""
    out = []
    for s in sessions.list_all(project):
        if lost(s):
            try:
                out.append((s.id, resume(project, s.id, rerun=rerun).id))
            except UsageError as exc:
                out.append((s.id, str(exc)))
    return out
