"""`scope merge ID`: a finished `--worktree` session's branch merged back into the branch it started from.

All or nothing. The merge is computed first without touching any checkout (`git merge-tree
--write-tree`); when it conflicts, nothing is written and the conflicting files are named. When it is
clean, the merge commit (or, with `squash`, one commit with one parent) is made from that tree, the
checkout that has the target branch checked out (if any) is moved onto it by a two-tree `read-tree -m
-u`, which refuses before writing anything when a person's uncommitted edit would be overwritten, and
only then the branch ref moves, guarded by its old value.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from scope_tui.store.errors import ScopeError, UsageError
from scope_tui.store.sessions import Session
from scope_tui.substrate.worktree import _IDENTITY, _git, _last_line, _need_worktree, snapshot


class MergeConflict(ScopeError):
    """The branch does not apply cleanly: nothing was changed."""

    def __init__(self, s: Session, target: str, files: list[str]) -> None:
        shown = ", ".join(files[:8]) + (f" and {len(files) - 8} more" if len(files) > 8 else "")
        super().__init__(
            f"session {s.id}'s branch {s.meta.get('branch')} conflicts with {target} in {shown}; "
            "nothing was merged (merge it by hand, or --pr)"
        )
        self.files = files


@dataclass
class Merged:
    target: str
    branch: str
    commit: str
    squash: bool
    files: list[str] = field(default_factory=list)


def _ok(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        raise ScopeError(f"{what}: {_last_line(proc)}")
    return proc.stdout.strip()


def target_of(s: Session, into: str | None = None) -> str:
    target = into or str(s.meta.get("base_branch") or "")
    if not target:
        raise UsageError(
            f"session {s.id} started from a detached HEAD (or before Scope recorded its branch): "
            "name the branch to merge into with --into BRANCH"
        )
    return target


def _checkout_of(repo: Path, target: str) -> Path | None:
    """The worktree (the main checkout or another) that has `target` checked out, if any."""
    path: Path | None = None
    for line in _git(repo, "worktree", "list", "--porcelain").stdout.splitlines():
        if line.startswith("worktree "):
            path = Path(line[len("worktree ") :])
        elif line == f"branch refs/heads/{target}":
            return path
    return None


def _ready(s: Session, into: str | None) -> tuple[Path, str, str]:
    _need_worktree(s)
    if not s.terminal:
        raise UsageError(f"session {s.id} is {s.status}: wait for it (scope wait {s.id}) or kill it first")
    repo = Path(str(s.meta.get("repo") or s.meta.get("cwd") or "."))
    target, branch = target_of(s, into), str(s.meta.get("branch"))
    for name in (target, branch):
        if _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}").returncode != 0:
            raise UsageError(f"no branch {name} in {repo}")
    return repo, target, branch


def merge(s: Session, *, squash: bool = False, into: str | None = None) -> Merged:
    repo, target, branch = _ready(s, into)
    snapshot(s)  # what the session left uncommitted is part of what it did
    old = _ok(_git(repo, "rev-parse", f"refs/heads/{target}"), "cannot read " + target)
    tip = _ok(_git(repo, "rev-parse", f"refs/heads/{branch}"), "cannot read " + branch)
    if _git(repo, "merge-base", "--is-ancestor", tip, old).returncode == 0:
        raise UsageError(f"{branch} has nothing {target} does not have already")
    probe = _git(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", old, tip)
    lines = probe.stdout.splitlines()
    if probe.returncode == 1 and lines:
        raise MergeConflict(s, target, sorted(set(lines[1:])))
    tree = _ok(probe, f"cannot merge {branch} into {target}").splitlines()[0]
    title = str(s.meta.get("title") or s.meta.get("task") or "")[:72]
    message = (
        f"scope session {s.id} (squashed from {branch}): {title}"
        if squash
        else f"Merge {branch} (scope session {s.id}): {title}"
    )
    ident = () if _git(repo, "config", "user.email").stdout.strip() else _IDENTITY
    parents = ["-p", old] if squash else ["-p", old, "-p", tip]
    commit = _ok(_git(repo, *ident, "commit-tree", tree, *parents, "-m", message), "cannot commit the merge")
    checkout = _checkout_of(repo, target)
    if checkout is not None:  # the person's checkout follows, or refuses before writing anything
        moved = _git(checkout, "read-tree", "-m", "-u", old, commit)
        if moved.returncode != 0:
            raise ScopeError(
                f"{target} is checked out in {checkout} with changes the merge would overwrite "
                f"({_last_line(moved)}); commit or stash them, then merge again. Nothing was merged"
            )
    ref = _git(repo, "update-ref", "-m", f"scope merge {s.id}", f"refs/heads/{target}", commit, old)
    if ref.returncode != 0:
        if checkout is not None:
            _git(checkout, "read-tree", "-m", "-u", commit, old)
        raise ScopeError(f"{target} moved while merging ({_last_line(ref)}); nothing was merged")
    files = _git(repo, "diff", "--name-only", old, commit).stdout.split()
    return Merged(target, branch, commit, squash, files)


def open_pr(s: Session, *, into: str | None = None, remote: str = "origin") -> str:
    """Push the session's branch and open a pull request with `gh`; without gh, say how. Returns what to print."""
    repo, target, branch = _ready(s, into)
    snapshot(s)
    if _git(repo, "remote", "get-url", remote).returncode != 0:
        raise UsageError(f"{repo} has no remote {remote!r} to push {branch} to (git remote add {remote} URL)")
    _ok(_git(repo, "push", "--quiet", "-u", remote, f"{branch}:{branch}"), f"cannot push {branch}")
    title = str(s.meta.get("title") or s.meta.get("task") or f"scope session {s.id}")[:72]
    if shutil.which("gh") is None:
        return (
            f"pushed {branch} to {remote}; gh is not installed, so open the pull request yourself: "
            f"{branch} into {target} at your forge, or install gh and run: "
            f"gh pr create --base {target} --head {branch} --fill"
        )
    body = f"Work of scope session {s.id}.\n\n{s.meta.get('task') or ''}"
    proc = subprocess.run(
        ["gh", "pr", "create", "--base", target, "--head", branch, "--title", title, "--body", body],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise ScopeError(f"pushed {branch}, but gh could not open the pull request: {_last_line(proc)}")
    return f"pushed {branch}; pull request: {proc.stdout.strip()}"
