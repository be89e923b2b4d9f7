"""Finding and creating the `.scope/` folder of a project, like git finds `.git`.

The store keeps its paths as `str` and offers `pathlib.Path` views on demand: `scope spawn` and a
window's worker start by the hundred, and importing pathlib (with re, fnmatch, urllib.parse) cost each
of them about 7 ms, more than its own work. Only those start-up paths use the str forms (`path`,
`session_path`); everything else may use the Path properties.
"""

from __future__ import annotations

import os

from scope_tui.store.errors import NoProject

TYPE_CHECKING = False  # typing and pathlib are not imported at run time: see above
if TYPE_CHECKING:
    from pathlib import Path

    from _typeshed import StrPath

SCOPE = ".scope"
GITIGNORE = ".gitignore"
# What a project's `.scope/` keeps out of git: the person's sessions, patches, worktrees and logs. The
# skills and config.toml are the project's knowledge and may be committed.
IGNORED = """# written by Scope: state that is the person's, not the project's
sessions/
patches/
worktrees/
*.log
.tmp-*
.stdin-*
*.lock
"""


def _Path(p: str) -> Path:
    from pathlib import Path

    return Path(p)


def agents_home() -> Path:
    """The agents home: $SCOPE_AGENTS_DIR, else ~/.scope/agents (not created here). Persistent agents live
    there, outside every project; agents.home reads and writes it, and Claude Code sessions are kept out."""
    env = os.environ.get("SCOPE_AGENTS_DIR")
    if env:
        return _Path(os.path.expanduser(env))
    return _Path(os.path.join(os.environ.get("HOME") or os.path.expanduser("~"), SCOPE, "agents"))


def _home_scope() -> str | None:
    home = os.environ.get("HOME")
    return os.path.realpath(os.path.join(home, SCOPE)) if home else None


def find(start: StrPath | None = None) -> str | None:
    """The `.scope` folder governing `start` (default: cwd), or None. `SCOPE_DIR` overrides.

    `$HOME/.scope` is never a project: it is the parent of the agents home.
    """
    env = os.environ.get("SCOPE_DIR")
    if env:
        p = os.path.realpath(os.path.expanduser(env))
        return p if os.path.isdir(p) else None
    here = os.path.realpath(os.fspath(start) if start is not None else os.getcwd())
    skip = _home_scope()
    while True:
        cand = os.path.join(here, SCOPE)
        if os.path.isdir(cand) and os.path.realpath(cand) != skip:
            return cand
        up = os.path.dirname(here)
        if up == here:
            return None
        here = up


def _git_root(start: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


class Project:
    """A project's state folder: `root` is the `.scope` folder itself (`path`, the same as a str), `home`
    the folder it sits in.

    The store's records are plain classes, not dataclasses: `dataclasses` imports `inspect` (and `ast`,
    `dis`, `tokenize`), which every `scope spawn` and every worker would pay for at start-up.
    """

    __slots__ = ("path",)

    def __init__(self, root: StrPath) -> None:
        self.path = os.path.normpath(root)  # as Path would have it: no trailing slash, no `.` parts

    def __repr__(self) -> str:
        return f"Project({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Project) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def root(self) -> Path:
        return _Path(self.path)

    @property
    def home(self) -> Path:
        return self.root.parent

    @property
    def home_path(self) -> str:
        return os.path.dirname(self.path)

    @property
    def sessions(self) -> Path:
        return self.root / "sessions"

    @property
    def sessions_path(self) -> str:
        return os.path.join(self.path, "sessions")

    @property
    def patches(self) -> Path:
        return self.root / "patches"

    @property
    def skills(self) -> Path:
        return self.root / "skills"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    def session_dir(self, sid: str) -> Path:
        return self.sessions / sid

    def session_path(self, sid: str) -> str:
        return os.path.join(self.path, "sessions", sid)

    @classmethod
    def open(cls, start: StrPath | None = None) -> Project:
        """The project governing `start`; raises NoProject (exit 2) when there is none."""
        found = find(start)
        if found is None:
            raise NoProject()
        secure(found)
        return cls(found)

    @classmethod
    def open_or_create(cls, start: StrPath | None = None) -> Project:
        """The project governing `start`, or a new one at the git root (else at `start`)."""
        found = find(start)
        if found is not None:
            secure(found)
            return cls(found)
        env = os.environ.get("SCOPE_DIR")
        if env:
            root = os.path.expanduser(env)
        else:
            here = os.path.realpath(os.fspath(start) if start is not None else os.getcwd())
            root = os.path.join(_git_root(here) or here, SCOPE)
        return cls.create(root)

    @classmethod
    def create(cls, root: StrPath) -> Project:
        path = os.path.realpath(root)
        os.makedirs(path, 0o700, exist_ok=True)
        for sub in ("sessions", "patches", "skills"):
            os.makedirs(os.path.join(path, sub), 0o700, exist_ok=True)
        secure(path)
        return cls(path)


def secure(path: str) -> None:
    """Make a `.scope/` folder the person's alone: 0700, its files 0600, and a .gitignore that keeps the
    person's state out of git. A folder with its .gitignore is taken as done (one stat per command); one
    from before (no .gitignore) is upgraded here, once, without a word."""
    ignore = os.path.join(path, GITIGNORE)
    if os.path.lexists(ignore):
        return
    try:
        os.chmod(path, 0o700)
        for folder, dirs, files in os.walk(path):
            if folder == path:  # the worktrees are the person's checkouts: their modes are git's
                dirs[:] = [d for d in dirs if d != "worktrees"]
            for d in dirs:
                _chmod(os.path.join(folder, d), 0o700)
            for f in files:
                _chmod(os.path.join(folder, f), 0o600)
        fd = os.open(ignore, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another process upgraded it this instant
        return
    except OSError:  # not ours to change (a read-only checkout): the commands still work
        return
    try:
        os.write(fd, IGNORED.encode())
    finally:
        os.close(fd)


def _chmod(path: str, mode: int) -> None:
    try:  # a link is left alone: its target may be anything outside `.scope/`
        if not os.path.islink(path):
            os.chmod(path, mode)
    except OSError:
        pass
