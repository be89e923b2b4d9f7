"""--worktree sessions: their own git worktree and branch, `scope diff`, and `scope clean` keeping the branch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

GIT_ID = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(repo: Path, *args: str) -> str:
    p = subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture
def repo(scope) -> Path:
    root = scope.root
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("hello\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_worktree_session_changes_show_in_diff_and_survive_clean(scope, repo):
    sid = scope.spawn("add f.txt", "--worktree", "--cmd", "echo x > f.txt && echo more >> README.md")
    assert scope.wait_status(sid, "done", "failed")["status"] == "done"
    meta = scope.meta(sid)
    wt = Path(meta["worktree"])
    assert meta["branch"] == f"scope/{sid}" and (wt / "f.txt").read_text() == "x\n"

    out = scope.ok("diff", sid)
    assert "+++ b/f.txt" in out and "+x" in out and "+more" in out
    assert "\x1b[" not in out  # not a terminal: no colour
    assert "\x1b[" in scope.ok("diff", sid, "--color", "always")
    assert "f.txt" in scope.ok("diff", sid, "--stat")
    # the diff left the worktree's own index alone: f.txt is still untracked there
    assert "?? f.txt" in git(wt, "status", "--porcelain")

    # the main checkout is untouched and does not even see the worktree
    assert not (repo / "f.txt").exists()
    assert (repo / "README.md").read_text() == "hello\n"
    assert git(repo, "status", "--porcelain", "--", "README.md", "f.txt") == ""
    assert ".scope/worktrees" not in git(repo, "status", "--porcelain", "-uall")

    assert sid in scope.ok("clean")
    assert not wt.exists()
    assert f"scope/{sid}" in git(repo, "branch", "--list", f"scope/{sid}")
    # what the session left uncommitted was kept on its branch, so its diff still reads the same
    assert git(repo, "show", f"scope/{sid}:f.txt") == "x\n"
    after = scope.ok("diff", sid)
    assert "+x" in after and "+more" in after


def test_two_worktree_sessions_do_not_collide(scope, repo):
    a = scope.spawn("write A", "--worktree", "--cmd", "echo A > same.txt")
    b = scope.spawn("write B", "--worktree", "--cmd", "echo B > same.txt")
    for sid in (a, b):
        assert scope.wait_status(sid, "done", "failed")["status"] == "done"
    assert "+A" in scope.ok("diff", a) and "+B" not in scope.ok("diff", a)
    assert "+B" in scope.ok("diff", b)


def test_diff_and_worktree_errors_say_what_to_do(scope, tmp_path):
    sid = scope.spawn("nothing", "--cmd", "true")
    scope.wait_status(sid, "done")
    p = scope.run("diff", sid)
    assert p.returncode == 2 and "has no worktree" in p.stderr and "Traceback" not in p.stderr
    p = scope.run("diff", "99")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    # not a git repository: spawn refuses with a reason
    p = scope.run("spawn", "x", "--worktree", "--cmd", "true")
    assert p.returncode == 2 and "git" in p.stderr and "Traceback" not in p.stderr


def test_worktree_needs_a_commit(scope):
    git(scope.root, "init", "-q", "-b", "main")
    p = scope.run("spawn", "x", "--worktree", "--cmd", "true")
    assert p.returncode == 2 and "at least one commit" in p.stderr
    # the session that could not start says why, rather than looking lost
    st = scope.state("1")
    assert st["status"] == "failed" and "at least one commit" in st["reason"]
