"""Finding and creating the `.scope/` folder of a project, like git finds `.git`."""

from __future__ import annotations

import os
from pathlib import Path

from scope_tui.store.errors import NoProject

SCOPE = ".scope"


def _home_scope() -> Path | None:
    home = os.environ.get("HOME")
    return (Path(home) / SCOPE).resolve() if home else None


def find(start: Path | None = None) -> Path | None:
    """The `.scope` folder governing `start` (default: cwd), or None. `SCOPE_DIR` overrides.

    `$HOME/.scope` is never a project: it is the parent of the agents home.
    """
    env = os.environ.get("SCOPE_DIR")
    if env:
        p = Path(env).expanduser().resolve()
        return p if p.is_dir() else None
    here = (start or Path.cwd()).resolve()
    skip = _home_scope()
    for d in (here, *here.parents):
        cand = d / SCOPE
        if cand.is_dir() and cand.resolve() != skip:
            return cand
    return None


def _git_root(start: Path) -> Path | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


class Project:
    """A project's state folder; `root` is the `.scope` folder itself, `home` the folder it sits in.

    The store's records are plain classes, not dataclasses: `dataclasses` imports `inspect` (and `ast`,
    `dis`, `tokenize`), which every `scope spawn` and every worker would pay for at start-up.
    """

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"Project({self.root!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Project) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    @property
    def home(self) -> Path:
        return self.root.parent

    @property
    def sessions(self) -> Path:
        return self.root / "sessions"

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

    @classmethod
    def open(cls, start: Path | None = None) -> Project:
        """The project governing `start`; raises NoProject (exit 2) when there is none."""
        found = find(start)
        if found is None:
            raise NoProject()
        return cls(found)

    @classmethod
    def open_or_create(cls, start: Path | None = None) -> Project:
        """The project governing `start`, or a new one at the git root (else at `start`)."""
        found = find(start)
        if found is not None:
            return cls(found)
        env = os.environ.get("SCOPE_DIR")
        if env:
            root = Path(env).expanduser().resolve()
        else:
            here = (start or Path.cwd()).resolve()
            root = (_git_root(here) or here) / SCOPE
        return cls.create(root)

    @classmethod
    def create(cls, root: Path) -> Project:
        root = root.resolve()
        for sub in ("sessions", "patches", "skills"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return cls(root)
