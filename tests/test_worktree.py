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


def _state_of(repo: Path) -> tuple[str, str, str]:
    """What a person would look at: the branch's commit, the checkout's status and its files."""
    files = "".join(f"{p.name}={p.read_text()}" for p in sorted(repo.glob("*.txt")))
    return git(repo, "rev-parse", "main"), git(repo, "status", "--porcelain"), files


def test_merge_brings_the_branch_back_into_main(scope, repo):
    sid = scope.spawn("add f.txt", "--worktree", "--cmd", "echo x > f.txt")
    assert scope.wait_status(sid, "done", "failed")["status"] == "done"
    assert scope.meta(sid)["base_branch"] == "main"
    out = scope.ok("merge", sid)
    assert f"scope/{sid} merged into main" in out and "1 file(s)" in out
    # the person's checkout has the file, main's commit has two parents, and the checkout is clean
    assert (repo / "f.txt").read_text() == "x\n"
    assert len(git(repo, "rev-list", "--parents", "-n1", "main").split()) == 3
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    p = scope.run("merge", sid)  # nothing left to merge: said, not done twice
    assert p.returncode == 2 and "nothing main does not have" in p.stderr


def test_merge_squash_is_one_commit_with_one_parent(scope, repo):
    sid = scope.spawn("two files", "--worktree", "--cmd", "echo a > a.txt && echo b > b.txt")
    scope.wait_status(sid, "done")
    before = git(repo, "rev-parse", "main").strip()
    assert "squashed into one commit on main" in scope.ok("merge", sid, "--squash")
    assert git(repo, "rev-list", "--parents", "-n1", "main").split()[1:] == [before]
    assert git(repo, "show", "main:a.txt") == "a\n" and (repo / "b.txt").read_text() == "b\n"


def test_a_conflicting_merge_names_the_files_and_changes_nothing(scope, repo):
    sid = scope.spawn("edit", "--worktree", "--cmd", "echo theirs > same.txt && echo more >> README.md")
    scope.wait_status(sid, "done")
    (repo / "same.txt").write_text("ours\n")
    git(repo, "add", "same.txt")
    git(repo, "commit", "-q", "-m", "ours")
    (repo / "notes.txt").write_text("a person's uncommitted note\n")  # left exactly as it was
    before = _state_of(repo)
    wt_before = git(Path(scope.meta(sid)["worktree"]), "status", "--porcelain")
    p = scope.run("merge", sid)
    assert p.returncode == 1 and "same.txt" in p.stderr and "nothing was merged" in p.stderr
    assert "README.md" not in p.stderr.split("conflicts with")[1].split(";")[0]  # only the conflicting file
    assert "Traceback" not in p.stderr
    assert _state_of(repo) == before
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    # the session's worktree holds the same files (its leftover work was committed onto its branch)
    wt = Path(scope.meta(sid)["worktree"])
    assert (wt / "same.txt").read_text() == "theirs\n" and wt_before
    assert git(repo, "show", f"scope/{sid}:same.txt") == "theirs\n"


def test_merge_refuses_over_a_persons_uncommitted_edit(scope, repo):
    sid = scope.spawn("edit", "--worktree", "--cmd", "echo more >> README.md")
    scope.wait_status(sid, "done")
    (repo / "README.md").write_text("my own edit\n")
    before = _state_of(repo)
    p = scope.run("merge", sid)
    assert p.returncode == 1 and "commit or stash" in p.stderr and "Nothing was merged" in p.stderr
    assert _state_of(repo) == before and (repo / "README.md").read_text() == "my own edit\n"


def test_merge_pr_pushes_and_says_how_without_gh(scope, repo, tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    sid = scope.spawn("edit", "--worktree", "--cmd", "echo x > f.txt")
    scope.wait_status(sid, "done")
    p = scope.run("merge", sid, "--pr", env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert "gh pr create --base main" in p.stdout
    assert git(remote, "show", f"scope/{sid}:f.txt") == "x\n"
    assert not (repo / "f.txt").exists()  # a PR merges nothing locally


def test_the_rooms_m_key_merges_and_its_diff_tab_says_so(scope, repo):
    from scope_tui.store.project import Project
    from tests.test_tui import quiet, run, until

    sid = scope.spawn("add f.txt", "--worktree", "--cmd", "echo x > f.txt")
    scope.wait_status(sid, "done")
    app = quiet(Project(scope.scope_dir))

    async def body(pilot):
        app.select(sid)
        await pilot.pause()
        app.query_one("#right").active = "tab-diff"
        log = app.query_one("#diff")
        await until(pilot, lambda: "M merges" in "".join(s.text for s in log.lines), what="the key hint")
        await pilot.press("M")
        await until(pilot, lambda: app.screen.query("#yes"), what="the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: (repo / "f.txt").exists(), what="the merge in the checkout")

    run(app, body)
    assert git(repo, "show", "main:f.txt") == "x\n"
