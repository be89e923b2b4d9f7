"""Git worktrees: a coding session gets a worktree and branch of its own, so parallel agents never collide.

`.scope/worktrees/<id>` on branch `scope/<id>`, made from the HEAD of the checkout the session was
spawned in. `diff` shows what the session changed (committed or not, new files included) without
touching the worktree's index; `remove` first commits any leftover work onto the branch, so removing
the worktree (`scope clean`) never loses what the agent did and `scope diff` still works afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project
from scope_tui.store.sessions import META, Session, set_status

WORKTREES = "worktrees"
# used only when the repository has no identity of its own, so a leftover commit never fails on it
_IDENTITY = ("-c", "user.name=Scope", "-c", "user.email=scope@localhost")


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env} if env else None,
    )


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    err = proc.stderr.strip()
    return err.splitlines()[-1] if err else f"git exited {proc.returncode}"


def repo_root(cwd: Path) -> Path:
    proc = _git(cwd, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise UsageError(
            f"--worktree needs a git repository, and {cwd} is not in one (git init, then commit)"
        )
    return Path(proc.stdout.strip())


def prepare_worktree(project: Project, s: Session) -> Path:
    """Create `.scope/worktrees/<id>` on a new branch `scope/<id>` from HEAD; record it in meta.json.

    Raises UsageError when the folder is not a git repository, has no commit yet, or the branch exists;
    the session (already on disk, not launched) is then marked failed with that reason.
    """
    try:
        return _prepare(project, s)
    except UsageError as exc:
        set_status(s.dir, "failed", reason=str(exc))
        raise


def _prepare(project: Project, s: Session) -> Path:
    repo = repo_root(Path(s.meta.get("cwd") or project.home))
    base = _git(repo, "rev-parse", "--verify", "HEAD^{commit}")
    if base.returncode != 0:
        raise UsageError(f"--worktree needs at least one commit in {repo} (git commit first)")
    branch = f"scope/{s.id}"
    start = _git(Path(s.meta.get("cwd") or project.home), "symbolic-ref", "--quiet", "--short", "HEAD")
    if _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0:
        raise UsageError(
            f"branch {branch} already exists in {repo}: delete it (git branch -D {branch}) or rename it"
        )
    folder = project.root / WORKTREES
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / ".gitignore").exists():  # keeps the worktrees out of the main checkout's `git status`
        write_text(folder / ".gitignore", "*\n")
    path = folder / s.id
    proc = _git(repo, "worktree", "add", "-b", branch, str(path), base.stdout.strip())
    if proc.returncode != 0:
        raise UsageError(f"cannot create a worktree for session {s.id}: {_last_line(proc)}")
    s.meta.update(
        {"worktree": str(path), "branch": branch, "base_commit": base.stdout.strip(), "repo": str(repo)}
    )
    if start.returncode == 0 and start.stdout.strip():  # the branch `scope merge` merges back into
        s.meta["base_branch"] = start.stdout.strip()
    write_json(s.dir / META, s.meta)
    return path


def _need_worktree(s: Session) -> None:
    if not s.meta.get("worktree"):
        raise UsageError(f"session {s.id} has no worktree (spawn it with --worktree)")


def diff(s: Session, *, color: bool = False, stat: bool = False) -> str:
    """What the session changed against the commit it started from: commits on its branch, uncommitted
    edits and new files. The worktree's own index is left as it was (a private copy is used)."""
    _need_worktree(s)
    wtp = Path(str(s.meta["worktree"]))
    base = str(s.meta.get("base_commit") or "HEAD")
    opts = ["--color=always" if color else "--color=never", *(["--stat"] if stat else [])]
    if wtp.is_dir():
        index = _git(wtp, "rev-parse", "--path-format=absolute", "--git-path", "index").stdout.strip()
        with tempfile.TemporaryDirectory(prefix="scope-diff-") as tmp:
            private = Path(tmp) / "index"
            if index and Path(index).exists():
                shutil.copyfile(index, private)
            env = {"GIT_INDEX_FILE": str(private)}
            _git(wtp, "add", "-A", env=env)
            proc = _git(wtp, "diff", *opts, "--cached", base, env=env)
    else:  # the worktree was cleaned: what it left is on the branch
        repo = Path(str(s.meta.get("repo") or s.meta.get("cwd") or "."))
        proc = _git(repo, "diff", *opts, base, str(s.meta.get("branch")))
    if proc.returncode != 0:
        raise UsageError(f"cannot diff session {s.id}: {_last_line(proc)}")
    return proc.stdout


def snapshot(s: Session) -> str | None:
    """Commit whatever the session left uncommitted in its worktree onto its branch; returns the commit, or
    None when there was nothing to commit (or no worktree)."""
    wt = s.meta.get("worktree")
    if not wt or not Path(wt).is_dir():
        return None
    wtp = Path(wt)
    if not _git(wtp, "status", "--porcelain").stdout.strip():
        return None
    _git(wtp, "add", "-A")
    ident = () if _git(wtp, "config", "user.email").stdout.strip() else _IDENTITY
    proc = _git(
        wtp, *ident, "commit", "--no-verify", "-q", "-m", f"scope: work left uncommitted by session {s.id}"
    )
    if proc.returncode != 0:
        return None
    return _git(wtp, "rev-parse", "HEAD").stdout.strip()


def remove(s: Session) -> bool:
    """Remove a finished session's worktree, keeping its branch (leftover work committed onto it first).

    True when a worktree was removed.
    """
    wt = s.meta.get("worktree")
    if not wt or not Path(wt).exists():
        return False
    snapshot(s)
    repo = str(s.meta.get("repo") or s.meta.get("cwd") or Path(wt).parent)
    proc = subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", wt], capture_output=True)
    if proc.returncode != 0:
        shutil.rmtree(wt, ignore_errors=True)
        subprocess.run(["git", "-C", repo, "worktree", "prune"], capture_output=True)
    return True
