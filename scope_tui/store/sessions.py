"""One folder a session: meta.json, token, task.md, state.json, events.jsonl, inbox/, prompt.md, pane.log, result.md."""

from __future__ import annotations

import fcntl
import os
import time

from scope_tui.store import events, files, ids, jsontext, keys, outbox, schema
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import CorruptFile, UnknownSession
from scope_tui.store.project import Project

TYPE_CHECKING = False  # typing and pathlib are not imported at run time (see store/project.py)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from _typeshed import StrPath

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
TOKEN = "token"  # the session's own secret (0600); its worker holds it as SCOPE_SESSION_TOKEN


def _write_secret(d: str) -> None:
    """A new random secret for the session in `d`, readable by this uid only (substrate/guard.py)."""
    fd = os.open(os.path.join(d, TOKEN), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(os.urandom(24).hex() + "\n")


def read_json(path: StrPath, cap: int = files.JSON_CAP) -> dict[str, Any]:
    """A state file's JSON object. Raises CorruptFile (with the file's name) for a file that is missing,
    empty, a link, not a regular file, too big, not UTF-8, not JSON, nested too deep or not an object."""
    name = os.path.basename(os.fspath(path))
    try:
        raw = files.read_bytes(path, cap)
    except FileNotFoundError:
        raise CorruptFile(name, "missing") from None
    if not raw.strip():
        raise CorruptFile(name, "empty (half-written?)")
    try:
        obj = jsontext.loads(raw)
    except UnicodeDecodeError:
        raise CorruptFile(name, "not UTF-8 text") from None
    except ValueError as exc:
        raise CorruptFile(name, f"not valid JSON ({str(exc.args[0]).split(':')[0]})") from None
    except RecursionError:
        raise CorruptFile(name, "nested too deep") from None
    if not isinstance(obj, dict):
        raise CorruptFile(name, "not a JSON object")
    return obj


class Session:
    """A session as read from disk. `corrupt` holds the reason when its files cannot be read.

    `path` is its folder as a str, `dir` the same as a Path (see store/project.py for why both).
    """

    __slots__ = ("id", "path", "meta", "state", "corrupt")

    def __init__(
        self,
        id: str,
        dir: StrPath,
        meta: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        corrupt: str | None = None,
    ) -> None:
        self.id, self.path, self.corrupt = id, os.fspath(dir), corrupt
        self.meta: dict[str, Any] = {} if meta is None else meta
        self.state: dict[str, Any] = {} if state is None else state

    def __repr__(self) -> str:
        return f"Session({self.id!r}, status={self.status!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Session) and (self.id, self.path, self.meta, self.state, self.corrupt) == (
            other.id,
            other.path,
            other.meta,
            other.state,
            other.corrupt,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    @property
    def project(self) -> Project:
        """The project the session belongs to: its folder is `<project>/.scope/sessions/<id>`. Every layer
        asks the session, none re-derives it from a path."""
        return Project(os.path.dirname(os.path.dirname(self.path)))

    @property
    def dir(self) -> Path:
        from pathlib import Path

        return Path(self.path)

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
        """task.md as text ('' when missing); a file that cannot be read says why, in place of the task."""
        return self._text(TASK) or ""

    def result(self) -> str | None:
        """result.md as text (None while there is none); a file that cannot be read says why instead."""
        return self._text(RESULT)

    def _text(self, name: str) -> str | None:
        path = os.path.join(self.path, name)
        try:
            raw = files.read_bytes(path, files.TEXT_CAP)
        except FileNotFoundError:
            return None
        except CorruptFile as exc:
            return f"({name} cannot be read: {exc.reason})"
        except OSError as exc:
            return f"({name} cannot be read: {exc.strerror or exc})"
        return raw.decode("utf-8", errors="replace")  # a stray byte costs one character, not the text


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
    sid, d = ids.allocate(project.sessions_path, parent)
    try:
        return _fill(project, sid, d, task, parent, level, driver, meta_fields)
    except BaseException:
        remove_half_made(d)
        raise


def remove_half_made(d: StrPath) -> None:
    """Remove the folder of a session whose spawn failed before it ran (a full disk, a refused file)."""
    import shutil

    shutil.rmtree(d, ignore_errors=True)


def _fill(
    project: Project,
    sid: str,
    d: str,
    task: str,
    parent: str | None,
    level: str,
    driver: str,
    meta_fields: dict[str, Any],
) -> Session:
    os.mkdir(os.path.join(d, INBOX), 0o700)
    _write_secret(d)
    write_text(os.path.join(d, TASK), task)
    meta = {
        "id": sid,
        "parent": parent,
        "level": level,
        "title": first_line(task) or "(no task)",
        "driver": driver,
        "created_at": round(time.time(), 3),
        **meta_fields,
    }
    write_json(os.path.join(d, META), meta)
    state = {
        "status": "pending",
        "phase": None,
        "reason": None,
        "exit_code": None,
        "tokens": {"input": 0, "output": 0},
        "cost": 0.0,
        "updated_at": meta["created_at"],
    }
    write_json(os.path.join(d, STATE), state)
    events.append(d, "spawn", id=sid, parent=parent, level=level, driver=driver, title=meta["title"])
    if parent:
        pdir = project.session_path(parent)
        if os.path.isdir(pdir):
            events.append(pdir, "spawn", child=sid, level=level, driver=driver, title=meta["title"])
    return Session(sid, d, meta, state)


def load(project: Project, sid: str) -> Session:
    """Read one session; raises UnknownSession when there is no such folder. Corruption is reported, not raised."""
    ids.validate(sid)
    d = project.session_path(sid)
    if not os.path.lexists(d):  # a file there is a corrupt session, not none
        raise UnknownSession(sid)
    return load_dir(d)


def load_dir(d: StrPath) -> Session:
    """Read one session folder; what cannot be read makes it corrupt (`.corrupt` holds why), never raises."""
    path = os.fspath(d).rstrip("/") or "/"
    s = Session(os.path.basename(path), path)
    try:
        meta = read_json(os.path.join(path, META))
        schema.check_record(META, meta, schema.META)
        s.meta = meta
        state = read_json(os.path.join(path, STATE))
        schema.check_record(STATE, state, schema.STATE)
        if state.get("status") not in STATUSES:
            raise CorruptFile(STATE, f"unknown status {schema.shown(state.get('status'))}")
        s.state = state
    except CorruptFile as exc:
        s.corrupt = f"{exc.path}: {exc.reason}"
    except OSError as exc:  # EACCES, EIO: still one corrupt row, not a failed command
        s.corrupt = f"{os.path.basename(exc.filename or path)}: cannot be read ({exc.strerror or exc})"
    return s


def list_ids(project: Project) -> list[str]:
    try:
        names = os.listdir(project.sessions_path)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise CorruptFile("sessions", "a file where the sessions folder should be") from None
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
        return time.time() - os.stat(s.path).st_mtime < CREATING_S
    except OSError:
        return False


def list_all(project: Project) -> list[Session]:
    """Every session, in id order; one whose spawn is still writing its first files is left out."""
    out = []
    for sid in list_ids(project):
        s = load_dir(project.session_path(sid))
        if not being_created(s):
            out.append(s)
    return out


def subtree(project: Project, root: str) -> list[Session]:
    """`root` and all its descendants, parents before children."""
    ids.validate(root)
    if not os.path.isdir(project.session_path(root)):
        raise UnknownSession(root)
    return [load_dir(project.session_path(s)) for s in list_ids(project) if ids.is_descendant(s, root)]


class _Lock:
    """An exclusive flock on the session's `.lock` file, for read-modify-write of state.json."""

    def __init__(self, d: StrPath) -> None:
        self.path = os.path.join(d, ".lock")

    def __enter__(self) -> None:
        self.fd = files.open_regular(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _final_over_lost(state: dict[str, Any], changes: dict[str, Any]) -> bool:
    """`lost` is a reader's guess (its pane or server looked gone): a terminal status still wins over it."""
    return state.get("reason") == "lost" and changes.get("status") in TERMINAL


def update_state(d: StrPath, *, force: bool = False, **changes: Any) -> dict[str, Any] | None:
    """Merge `changes` into state.json atomically and return the new state.

    A terminal status is sticky: unless `force` (a restart), an update to a session that is already
    done, failed, killed or escalated is dropped and None is returned (but a final status replaces a
    provisional `failed (lost)`), so a late writer never revives
    or relabels a finished session. A corrupt state.json is left as it is (None) unless `force`, so what
    a person may want to inspect is never overwritten.
    """
    with _Lock(d):
        try:
            state = read_json(os.path.join(d, STATE))
        except CorruptFile:
            if not force:
                return None
            state = {}
        if not force and state.get("status") in TERMINAL and not _final_over_lost(state, changes):
            return None
        state.update(changes)
        state["updated_at"] = round(time.time(), 3)
        write_json(os.path.join(d, STATE), state)
        return state


def set_status(
    d: StrPath, status: str, *, reason: str | None = None, force: bool = False, **extra: Any
) -> bool:
    """Set status (and reason) and record a `status` event; False when the session was already terminal."""
    assert status in STATUSES, status
    if reason:
        reason = keys.redact(reason)  # a reason is often a line of a worker's output
    new = update_state(d, force=force, status=status, reason=reason, **extra)
    if new is None:
        return False
    events.append(
        d, "status", status=status, reason=reason, **{k: v for k, v in extra.items() if k != "tokens"}
    )
    try:
        outbox.queue(os.fspath(d), status, reason)  # an alert for a person, when `[notify]` asks for one
    except OSError:
        pass  # an alert never costs a status
    return True


def set_phase(d: StrPath, phase: str, why: str = "") -> None:
    assert phase in PHASES, phase
    if update_state(d, phase=phase) is not None:
        events.append(d, "phase", phase=phase, why=why)


def write_result(d: StrPath, text: str) -> None:
    write_text(os.path.join(d, RESULT), keys.redact(text))  # a command's `env` output, a model's echo


def put_message(d: StrPath, kind: str, text: str, **fields: Any) -> str:
    """Drop a message into the session's inbox; names sort in arrival order. Returns its path."""
    inbox = os.path.join(d, INBOX)
    os.makedirs(inbox, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{kind}.json"
    path = os.path.join(inbox, name)
    write_json(path, {"kind": kind, "text": text, "t": round(time.time(), 3), **fields})
    return path


def take_messages(d: StrPath, kind: str | None = None) -> list[dict[str, Any]]:
    """Consume the inbox in order (only messages of `kind`, when given): each message is moved to
    inbox/read/ and returned."""
    inbox = os.path.join(d, INBOX)
    end = f"-{kind}.json" if kind else ".json"
    try:
        names = sorted(n for n in os.listdir(inbox) if n.endswith(end) and not n.startswith("."))
    except FileNotFoundError:
        return []
    done = os.path.join(inbox, "read")
    os.makedirs(done, mode=0o700, exist_ok=True)
    out = []
    for n in names:
        try:
            msg = read_json(os.path.join(inbox, n))
            os.replace(os.path.join(inbox, n), os.path.join(done, n))
        except (OSError, CorruptFile):
            continue
        out.append(msg)
    return out
