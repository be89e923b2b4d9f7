"""One folder a session: meta.json, task.md, state.json, events.jsonl, inbox/, prompt.md, pane.log, result.md."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from scope_tui.store import events, ids
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import CorruptFile, UnknownSession
from scope_tui.store.project import Project

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from typing import Any

STATUSES = ("pending", "running", "waiting", "needs_input", "done", "failed", "killed", "escalated")
TERMINAL = frozenset({"done", "failed", "killed", "escalated"})
PHASES = ("observe", "orient", "decide", "act")
LEVELS = ("strategic", "tactical", "operational")
REASONS = (
    "task_too_big",
    "missing_context",
    "wrong_approach",
    "budget",
    "stuck",
    "restart_intensity",
    "crashed",
    "lost",
)

META, TASK, STATE, INBOX, PROMPT, PANE_LOG, RESULT = (
    "meta.json",
    "task.md",
    "state.json",
    "inbox",
    "prompt.md",
    "pane.log",
    "result.md",
)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorruptFile(path.name, "missing") from None
    if not raw.strip():
        raise CorruptFile(path.name, "empty (half-written?)")
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise CorruptFile(path.name, f"not valid JSON ({exc.args[0].split(':')[0]})") from None
    if not isinstance(obj, dict):
        raise CorruptFile(path.name, "not a JSON object")
    return obj


class Session:
    """A session as read from disk. `corrupt` holds the reason when its files cannot be read."""

    __slots__ = ("id", "dir", "meta", "state", "corrupt")

    def __init__(
        self,
        id: str,
        dir: Path,
        meta: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        corrupt: str | None = None,
    ) -> None:
        self.id, self.dir, self.corrupt = id, dir, corrupt
        self.meta: dict[str, Any] = {} if meta is None else meta
        self.state: dict[str, Any] = {} if state is None else state

    def __repr__(self) -> str:
        return f"Session({self.id!r}, status={self.status!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Session) and (self.id, self.dir, self.meta, self.state, self.corrupt) == (
            other.id,
            other.dir,
            other.meta,
            other.state,
            other.corrupt,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    @property
    def parent(self) -> str | None:
        return ids.parent_of(self.id)

    @property
    def status(self) -> str:
        return "corrupt" if self.corrupt else str(self.state.get("status", "pending"))

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def level(self) -> str:
        return str(self.meta.get("level", "operational"))

    @property
    def title(self) -> str:
        return str(self.meta.get("title", ""))

    def task(self) -> str:
        try:
            return (self.dir / TASK).read_text()
        except FileNotFoundError:
            return ""

    def result(self) -> str | None:
        try:
            return (self.dir / RESULT).read_text()
        except FileNotFoundError:
            return None


def first_line(text: str, width: int = 80) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def create(
    project: Project,
    task: str,
    *,
    parent: str | None = None,
    level: str = "operational",
    driver: str = "command",
    **meta_fields: Any,
) -> Session:
    """Allocate an id under `parent`, write meta.json, task.md, state.json (pending) and a spawn event."""
    sid, d = ids.allocate(project.sessions, parent)
    (d / INBOX).mkdir()
    write_text(d / TASK, task)
    meta = {
        "id": sid,
        "parent": parent,
        "level": level,
        "title": first_line(task) or "(no task)",
        "driver": driver,
        "created_at": round(time.time(), 3),
        **meta_fields,
    }
    write_json(d / META, meta)
    state = {
        "status": "pending",
        "phase": None,
        "reason": None,
        "exit_code": None,
        "tokens": {"input": 0, "output": 0},
        "cost": 0.0,
        "updated_at": meta["created_at"],
    }
    write_json(d / STATE, state)
    events.append(d, "spawn", id=sid, parent=parent, level=level, driver=driver, title=meta["title"])
    if parent:
        pdir = project.session_dir(parent)
        if pdir.is_dir():
            events.append(pdir, "spawn", child=sid, level=level, driver=driver, title=meta["title"])
    return Session(sid, d, meta, state)


def load(project: Project, sid: str) -> Session:
    """Read one session; raises UnknownSession when there is no such folder. Corruption is reported, not raised."""
    ids.validate(sid)
    d = project.session_dir(sid)
    if not d.is_dir():
        raise UnknownSession(sid)
    return load_dir(d)


def load_dir(d: Path) -> Session:
    s = Session(d.name, d)
    try:
        s.meta = _read_json(d / META)
        s.state = _read_json(d / STATE)
        if s.state.get("status") not in STATUSES:
            raise CorruptFile(STATE, f"unknown status {s.state.get('status')!r}")
    except CorruptFile as exc:
        s.corrupt = f"{exc.path}: {exc.reason}"
    return s


def list_ids(project: Project) -> list[str]:
    try:
        names = os.listdir(project.sessions)
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        try:
            out.append(ids.validate(n))
        except Exception:
            continue
    return sorted(out, key=ids.sort_key)


CREATING_S = 10.0  # a folder this young without meta.json or state.json is a spawn mid-way


def being_created(s: Session) -> bool:
    """True for a folder `create` has claimed but not yet filled: not corrupt, just not there yet."""
    if not s.corrupt or not s.corrupt.endswith(": missing"):
        return False
    try:
        return time.time() - s.dir.stat().st_mtime < CREATING_S
    except OSError:
        return False


def list_all(project: Project) -> list[Session]:
    """Every session, in id order; one whose spawn is still writing its first files is left out."""
    out = []
    for sid in list_ids(project):
        s = load_dir(project.session_dir(sid))
        if not being_created(s):
            out.append(s)
    return out


def subtree(project: Project, root: str) -> list[Session]:
    """`root` and all its descendants, parents before children."""
    ids.validate(root)
    if not project.session_dir(root).is_dir():
        raise UnknownSession(root)
    return [load_dir(project.session_dir(s)) for s in list_ids(project) if ids.is_descendant(s, root)]


class _Lock:
    """An exclusive flock on the session's `.lock` file, for read-modify-write of state.json."""

    def __init__(self, d: Path) -> None:
        self.path = d / ".lock"

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def update_state(d: Path, *, force: bool = False, **changes: Any) -> dict[str, Any] | None:
    """Merge `changes` into state.json atomically and return the new state.

    A terminal status is sticky: unless `force` (a restart), an update to a session that is already
    done, failed, killed or escalated is dropped and None is returned, so a late writer never revives
    or relabels a finished session. A corrupt state.json is left as it is (None) unless `force`, so what
    a person may want to inspect is never overwritten.
    """
    with _Lock(d):
        try:
            state = _read_json(d / STATE)
        except CorruptFile:
            if not force:
                return None
            state = {}
        if not force and state.get("status") in TERMINAL:
            return None
        state.update(changes)
        state["updated_at"] = round(time.time(), 3)
        write_json(d / STATE, state)
        return state


def set_status(d: Path, status: str, *, reason: str | None = None, force: bool = False, **extra: Any) -> bool:
    """Set status (and reason) and record a `status` event; False when the session was already terminal."""
    assert status in STATUSES, status
    new = update_state(d, force=force, status=status, reason=reason, **extra)
    if new is None:
        return False
    events.append(
        d, "status", status=status, reason=reason, **{k: v for k, v in extra.items() if k != "tokens"}
    )
    return True


def set_phase(d: Path, phase: str, why: str = "") -> None:
    assert phase in PHASES, phase
    if update_state(d, phase=phase) is not None:
        events.append(d, "phase", phase=phase, why=why)


def write_result(d: Path, text: str) -> None:
    write_text(d / RESULT, text)


def put_message(d: Path, kind: str, text: str, **fields: Any) -> Path:
    """Drop a message into the session's inbox; names sort in arrival order."""
    inbox = d / INBOX
    inbox.mkdir(exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{kind}.json"
    path = inbox / name
    write_json(path, {"kind": kind, "text": text, "t": round(time.time(), 3), **fields})
    return path


def take_messages(d: Path) -> list[dict[str, Any]]:
    """Consume the inbox in order: each message is moved to inbox/read/ and returned."""
    inbox = d / INBOX
    try:
        names = sorted(n for n in os.listdir(inbox) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return []
    done = inbox / "read"
    done.mkdir(exist_ok=True)
    out = []
    for n in names:
        try:
            msg = json.loads((inbox / n).read_text())
            os.replace(inbox / n, done / n)
        except (OSError, ValueError):
            continue
        out.append(msg)
    return out
