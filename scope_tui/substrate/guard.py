"""A session is not a person: which process is inside a session, and what it may not do.

Sessions run under the person's own uid, so these guards cannot stop a determined process (only the
sandbox can); they stop a model from turning Scope's own commands against the person, e.g. after a
prompt injection says "run `scope patches approve p3`". So they never rest on the environment alone:
`env -u SCOPE_SESSION_ID scope ...` still runs as a descendant of a pane of a Scope tmux server, and the
pane is found by walking the process's ancestors (/proc) up to that server.

- `inside(project)`: the session this process runs in (by its environment, else by its ancestry).
- `person_only(project, what)`: raises PersonOnly (exit 2) from inside any session.
- `check_secret(session_dir)`: the caller presents that session's secret (`SCOPE_SESSION_TOKEN`, the
  same as `sessions/<id>/token`), or NotThisSession (exit 2).
- `check_subtree(project, sid)`: from inside a session, `sid` is that session or one of its descendants.
"""

from __future__ import annotations

import os

from scope_tui.store import sessions
from scope_tui.store.errors import UsageError

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from typing import Any

    from scope_tui.store.project import Project

PERSON_ONLY = "a person's decision: run it outside the session"
_TMUX_SERVER = "tmux: server"  # how tmux names its server process (/proc/PID/comm)


class PersonOnly(UsageError):
    def __init__(self) -> None:
        super().__init__(PERSON_ONLY)


class NotThisSession(UsageError):
    pass


def _stat(pid: int) -> tuple[str, int] | None:
    """(comm, ppid) of `pid`, or None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read().decode(errors="replace")
    except OSError:
        return None
    lp, rp = text.find("("), text.rfind(")")
    try:
        return text[lp + 1 : rp], int(text[rp + 2 :].split()[1])
    except (IndexError, ValueError):
        return None


def _socket_of(server_pid: int) -> str | None:
    """The `-L NAME` a tmux server was started with (its argv is the first client's)."""
    try:
        with open(f"/proc/{server_pid}/cmdline", "rb") as fh:
            argv = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return None
    for i, a in enumerate(argv):
        if a == "-L" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("-L") and len(a) > 2:
            return a[2:]
    return None


def _environ(pid: int, name: str) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            env = fh.read().split(b"\0")
    except OSError:
        return None
    key = name.encode() + b"="
    for item in env:
        if item.startswith(key):
            return item[len(key) :].decode(errors="replace")
    return None


def pane_ancestor(pid: int | None = None) -> tuple[int, str] | None:
    """(pane pid, tmux socket) when `pid` (default: this process) descends from a pane of a Scope tmux
    server (`tmux -L scope-...`), else None. Reads /proc only: no tmux process is started."""
    pid = os.getpid() if pid is None else pid
    seen = 0
    while pid > 1 and seen < 64:
        st = _stat(pid)
        if st is None:
            return None
        parent = _stat(st[1]) if st[1] > 1 else None
        if parent is not None and parent[0] == _TMUX_SERVER:
            sock = _socket_of(st[1])
            if sock and sock.startswith("scope-"):
                return pid, sock
        pid, seen = st[1], seen + 1
    return None


def inside(project: Project | None = None) -> str | None:
    """The session this process runs inside: "ID" when known, "?" when it is inside one whose id cannot be
    told (a pane of another project, or one whose environment was stripped), None when it is a person's."""
    sid = os.environ.get("SCOPE_SESSION_ID")
    if sid:
        return sid
    if os.environ.get("SCOPE_SESSION_TOKEN"):
        return "?"
    found = pane_ancestor()
    if found is None:
        return None
    pane, sock = found
    if project is not None:
        from scope_tui.tmux import socket_for

        if sock == socket_for(project.home_path):
            return _environ(pane, "SCOPE_SESSION_ID") or "?"
    return "?"


def person_only(project: Project | None = None) -> None:
    """Refuse a person's decision (approve, reject or edit a patch; rate a run; trust a project; raise a
    budget) from inside a session: raises PersonOnly, exit 2."""
    if inside(project) is not None:
        raise PersonOnly()


def read_secret(session_dir: str) -> str | None:
    try:
        with open(os.path.join(session_dir, sessions.TOKEN), encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def check_secret(session_dir: str) -> None:
    """The caller holds the secret of the session in `session_dir`; else NotThisSession (exit 2)."""
    from _operator import _compare_digest  # hmac's own, without hashlib's OpenSSL load

    given = os.environ.get("SCOPE_SESSION_TOKEN") or ""
    want = read_secret(session_dir)
    if not want or not _compare_digest(given.encode(), want.encode()):
        sid = os.path.basename(session_dir.rstrip("/"))
        raise NotThisSession(
            f"session {sid}: this process does not hold its secret (SCOPE_SESSION_TOKEN); nothing done"
        )


def check_subtree(project: Project, target: str) -> None:
    """From inside a session, `target` must be that session or below it (a parent acts for its children);
    a person may act on any session."""
    me = inside(project)
    if me is None:
        return
    if me != "?" and (target == me or target.startswith(me + ".")):
        if os.environ.get("SCOPE_SESSION_ID") == me:
            check_secret(project.session_path(me))
        return
    raise NotThisSession(
        f"session {me} may act only on itself and its own children, not on {target}"
        if me != "?"
        else f"a session may act only on itself and its own children, not on {target}"
    )


def _commands_in_files(params: dict[str, Any]) -> list[str]:
    """The options whose files hold shell commands: a rubric's gates, a DAG's `cmd` tasks."""
    import tomllib

    found = []
    for key, table, field in (("rubric", "gates", "cmd"), ("dag", "tasks", "cmd")):
        path = params.get(key)
        if not path:
            continue
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue  # the engine's own check says what is wrong with it
        items = data.get(table)
        items = items.values() if isinstance(items, dict) else items if isinstance(items, list) else []
        if any(isinstance(i, dict) and i.get(field) for i in items):
            found.append(f"--{key} (its {table} run commands)")
    return found


def check_spawn(
    project: Project,
    *,
    driver: str | None,
    cmd: str | None,
    parent: str | None,
    budget: float | None,
    params: dict[str, Any],
) -> None:
    """What a session may not do through `scope spawn` (or `scope run`): start a shell command unless the
    person's trusted config allows it (`[sessions] allow_command_workers = true`); put a child under a
    session that is not its own; raise its budget. Nothing is read when no such option is given."""
    shell = [
        name
        for name, given in (
            ("--cmd", cmd is not None),
            ("--driver command", driver == "command"),
            ("--reduce-cmd", params.get("reduce_cmd") is not None),
            ("--check", bool(params.get("checks"))),  # a verifier is a command too
        )
        if given
    ]
    if not shell and not params.get("rubric") and not params.get("dag") and parent is None and budget is None:
        return
    me = inside(project)
    if me is None:
        return
    shell += _commands_in_files(params)
    if shell:
        from scope_tui.store import config

        allowed = (config.load(project.config_path).get("sessions") or {}).get("allow_command_workers")
        if allowed is not True:
            raise PersonOnlyCommand(
                f"a session may not start shell commands ({', '.join(shell)}): "
                "a person allows it with [sessions] allow_command_workers = true in .scope/config.toml, "
                "then `scope trust`"
            )
    if parent is not None:
        check_subtree(project, parent)
    if budget is not None:
        _check_budget(project, me, parent, budget)


class PersonOnlyCommand(UsageError):
    pass


def _check_budget(project: Project, me: str, parent: str | None, budget: float) -> None:
    """A child's budget may lower the nearest budget up the tree, never raise it: the nearest one counts
    (models/accounting.py), so a higher one would lift the person's limit."""
    from scope_tui.store import ids

    if me == "?":
        raise PersonOnly()
    node: str | None = parent or me
    while node:
        try:
            limit = sessions.load(project, node).meta.get("budget")
        except UsageError:
            limit = None
        if isinstance(limit, int | float) and not isinstance(limit, bool):
            if budget > float(limit):
                raise PersonOnly()
            return
        node = ids.parent_of(node)


def protected(scope_dir: str) -> tuple[list[str], list[str]]:
    """(files, folders) no session may write, whatever its tools: Scope's records (config, patches,
    skills, sessions' state), the trust store and the agents home. A `--worktree` session's own worktree
    under `.scope/worktrees/` is not among them. Claude Code's deny rules and the built-in worker's
    write tool both read this list."""
    from scope_tui.store import trust
    from scope_tui.store.project import agents_home

    root = os.path.realpath(scope_dir)
    agents = str(agents_home())
    files = [os.path.join(root, "config.toml"), os.path.join(root, ".gitignore")]
    folders = [os.path.join(root, d) for d in ("patches", "skills", "sessions")]
    folders += [os.path.dirname(trust.store_path()), os.path.realpath(os.path.expanduser(agents))]
    return files, folders


def may_write(scope_dir: str, path: str) -> bool:
    """False when `path` (followed through links) is one of `protected`'s files or inside its folders."""
    files, folders = protected(scope_dir)
    real = os.path.realpath(path)
    return real not in files and not any(real == f or real.startswith(f + os.sep) for f in folders)
