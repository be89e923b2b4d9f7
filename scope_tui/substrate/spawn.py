"""spawn: a new session folder and its tmux window, returning at once (fork-join, never blocking)."""

from __future__ import annotations

import os

from scope_tui.store import ids, keys, sessions
from scope_tui.store.atomic import write_json
from scope_tui.store.drivers import NAMES, SPAWNABLE
from scope_tui.store.errors import UnknownSession, UsageError
from scope_tui.store.project import Project
from scope_tui.substrate.server import ensure, tmux_for, worker_command
from scope_tui.tmux import NoServer, socket_path

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from typing import Any

    from _typeshed import StrPath

DRIVERS = NAMES  # store/drivers.py: one row a driver
_PASS_ENV_PREFIXES = ("ANTHROPIC_", "OPENAI_", "SCOPE_", "CLAUDE_", "LC_")  # keys themselves: handed_keys
_PASS_ENV = ("PATH", "HOME", "VIRTUAL_ENV", "LANG", "TERM", "PYTHONPATH", "TZ", "USER", "SHELL")


def current_session(project: Project) -> str | None:
    """The session this process runs inside, when it belongs to `project`."""
    sid = os.environ.get("SCOPE_SESSION_ID")
    here = os.environ.get("SCOPE_DIR")
    if not sid or not here:
        return None
    try:
        if os.path.realpath(here) != os.path.realpath(project.path):
            return None
        ids.validate(sid)
    except (OSError, UsageError):
        return None
    return sid if os.path.isdir(project.session_path(sid)) else None


def window_env(project: Project, sid: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a worker's window gets: the spawner's, never the tmux server's stale one, and no key
    (those go through `handed_keys`: tmux's -e is an argv, and a window's environment is tmux's)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if (k in _PASS_ENV or k.startswith(_PASS_ENV_PREFIXES)) and k not in keys.KEYS
    }
    env.pop("TMUX", None)
    env.pop("SCOPE_SESSION_TOKEN", None)  # the spawner's own secret; the worker reads its session's file
    env["SCOPE_DIR"] = project.path
    env["SCOPE_SESSION_ID"] = sid
    env.update(keys.without(extra or {}))
    return env


def _env_name(name: str) -> bool:
    return (
        bool(name) and not name[0].isdigit() and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    )


def handed_keys(s: sessions.Session) -> dict[str, str]:
    """What the session's worker is handed through its 0600 file (store/keys.py): every registered key
    this process has when the worker calls a model (any driver but `command`), and the variables the
    person named with `--env NAME`."""
    named = [str(n) for n in s.meta.get("env") or ()]
    out = keys.present() if s.meta.get("driver") != "command" else {}
    out.update({n: v for n in named if (v := os.environ.get(n)) is not None})
    return out


def spawn(
    project: Project,
    task: str,
    *,
    parent: str | None | bool = True,
    driver: str | None = None,
    cmd: str | None = None,
    level: str = "operational",
    skill: str | None = None,
    model: str | None = None,
    budget: float | None = None,
    agent: str | None = None,
    cwd: StrPath | None = None,
    env: list[str] | None = None,
    launch_now: bool = True,
    **extra: Any,
) -> sessions.Session:
    """Create a session and start its worker in a new tmux window; returns as soon as the window exists.

    `parent=True` means "the session this process runs in, if any". Raises UsageError for bad input
    and UnknownSession for a parent that does not exist.
    """
    if parent is True:
        parent = current_session(project)
    elif parent is False:
        parent = None
    if parent is not None:
        ids.validate(parent)
        if not os.path.isdir(project.session_path(parent)):
            raise UnknownSession(parent)
    if level not in sessions.LEVELS:
        raise UsageError(f"bad level {level!r}: use one of {', '.join(sessions.LEVELS)}")
    if cmd is not None:
        if not cmd.strip():
            raise UsageError("--cmd needs a command")
        driver = driver or "command"
        if driver != "command":
            raise UsageError("--cmd goes with the command driver only")
    cfg: dict[str, Any] = {}
    if os.path.lexists(os.path.join(project.path, "config.toml")):  # checked here, not in every worker
        from scope_tui.store import config

        cfg = config.load(project.config_path)
    if driver is None:
        driver = str(cfg.get("driver", "builtin"))
    if driver not in DRIVERS:
        raise UsageError(f"unknown driver {driver!r}: use one of {', '.join(SPAWNABLE)}")
    if driver == "command" and cmd is None:
        raise UsageError("the command driver needs --cmd COMMAND")
    if model is not None and not model.strip():
        raise UsageError("--model needs a model name (or 'offline')")
    if budget is not None and not 0 <= budget < float("inf"):  # nan and inf too
        raise UsageError(f"--budget must be a number of dollars, 0 or more (not {budget})")
    for name in env or ():
        if not _env_name(name):
            raise UsageError(f"--env takes a variable's name (its value is read here), not {name!r}")
        if name not in os.environ:
            raise UsageError(f"--env {name}: not set in this environment")
    meta: dict[str, Any] = {
        "skill": skill,
        "model": model,
        "agent": agent,
        "budget": budget,
        "cwd": os.path.realpath(cwd if cwd is not None else os.getcwd()),
    }
    if cmd is not None:
        meta["cmd"] = cmd
    if env:
        meta["env"] = sorted(set(env))  # names only: the values go through the worker's 0600 file
    meta.update({k: v for k, v in extra.items() if v is not None})
    if agent is None and parent is not None and "works_for" not in meta:
        # a child of an agent's task works for that agent: its worker is given the agent's memory
        # (api.run_worker -> agents.lifecycle.carry); it is no task of the agent's own
        up = sessions.load_dir(project.session_path(parent)).meta
        if up.get("agent") or up.get("works_for"):
            meta["works_for"] = up.get("agent") or up.get("works_for")
            if up.get("agent_skill"):  # the agent's own skill for the task: its procedure reaches each part
                meta.setdefault("agent_skill", up["agent_skill"])
            if up.get("asks"):  # the agent's stage's monitor limits (a junior asks sooner) reach each part
                meta.setdefault("asks", up["asks"])
    s = sessions.create(project, task, parent=parent, level=level, driver=driver, **meta)
    if launch_now:
        try:
            launch(project, s)
        except BaseException:  # no window, or meta.json could not record it: nothing ran, nothing stays
            if not (s.meta.get("tmux") or {}).get("window"):
                sessions.remove_half_made(s.path)
            raise
    return s


def launch(project: Project, s: sessions.Session, *, env: dict[str, str] | None = None) -> sessions.Session:
    """Open the session's tmux window and record its target in meta.json."""
    t = tmux_for(project)
    old = (s.meta.get("tmux") or {}).get("window")
    if old:  # a restart: the dead window of the previous run would share the name
        t.kill_window(old)
    cwd = str(s.meta.get("worktree") or s.meta.get("cwd") or project.home_path)
    if not os.path.isdir(cwd):
        cwd = project.home_path

    keys.handover(s.path, handed_keys(s))

    def open_window() -> tuple[str, str]:
        return t.new_window(
            s.id,
            worker_command(project, s.id, s.path),
            env=window_env(project, s.id, env),
            cwd=cwd,
            logs=project.sessions_path,  # the window is named by the id: sessions/<id>/pane.log
            log_name=sessions.PANE_LOG,
        )

    try:
        try:  # the server is nearly always up: asking first would cost every spawn one more tmux process
            window, pane = open_window()
        except NoServer:
            ensure(project)  # not started yet (or gone): start it with its options and hook, then again
            window, pane = open_window()
    except BaseException:  # no worker will read the keys: they do not stay on disk
        keys.handover(s.path, {})
        raise
    # the socket's path too: a reader with another TMUX_TMPDIR reaches another server, and must not take
    # that server's missing windows for this session's
    target = {"socket": t.socket, "socket_path": socket_path(t.socket), "window": window, "pane": pane}
    try:
        write_json(os.path.join(s.path, sessions.META), {**s.meta, "tmux": target})
    except BaseException:  # a full disk: a worker no face could find again must not run on
        t.kill_window(window)
        raise
    s.meta["tmux"] = target
    return s
