"""Git worktrees: a coding session gets a worktree and branch of its own, so parallel agents never collide."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scope_tui.store.atomic import write_json
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project
from scope_tui.store.sessions import META, Session


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def repo_root(cwd: Path) -> Path:
    proc = _git(cwd, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise UsageError(f"--worktree needs a git repository, and {cwd} is not in one")
    return Path(proc.stdout.strip())


def prepare_worktree(project: Project, s: Session) -> Path:
    """Create `.scope/worktrees/<id>` on a new branch `scope/<id>` from HEAD; record it in meta.json."""
    repo = repo_root(Path(s.meta.get("cwd") or project.home))
    path = project.root / "worktrees" / s.id
    path.parent.mkdir(parents=True, exist_ok=True)
    branch = f"scope/{s.id}"
    proc = _git(repo, "worktree", "add", "-b", branch, str(path), "HEAD")
    if proc.returncode != 0:
        raise UsageError(
            f"cannot create a worktree: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'git failed'}"
        )
    base = _git(repo, "rev-parse", "HEAD").stdout.strip()
    s.meta.update({"worktree": str(path), "branch": branch, "base_commit": base, "repo": str(repo)})
    write_json(s.dir / META, s.meta)
    return path


def diff(s: Session) -> str:
    """What the session changed in its worktree against the commit it started from, uncommitted work included."""
    wt = s.meta.get("worktree")
    if not wt:
        raise UsageError(f"session {s.id} has no worktree (spawn it with --worktree)")
    wtp = Path(wt)
    base = str(s.meta.get("base_commit") or "HEAD")
    if wtp.is_dir():
        _git(wtp, "add", "-A", "--intent-to-add")
        return _git(wtp, "diff", base).stdout
    repo = Path(s.meta.get("repo") or s.meta.get("cwd") or ".")
    return _git(repo, "diff", base, str(s.meta.get("branch"))).stdout
