"""The found rows of the state issue, one test each: writes that never glue or lie, statuses a script can
act on, links refused by writers as by readers, and bad files refused up front with `file:line: key:`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from scope_tui.store import events, sessions
from scope_tui.store.errors import CorruptFile
from scope_tui.store.project import Project


def test_an_event_after_a_torn_line_is_not_glued_onto_it(tmp_path):
    p = Project.create(tmp_path / ".scope")
    s = sessions.create(p, "t", driver="command", cmd="true")
    with open(Path(s.path) / "events.jsonl", "ab") as fh:
        fh.write(b'{"seq": 2, "t": 1, "ty')  # a crash mid-write
    events.append(s.path, "phase", phase="act")
    got = events.read_all(s.path)
    assert got[-1]["type"] == "phase" and got[-1]["seq"] == 2
    assert [e["type"] for e in got] == ["spawn", "corrupt_event", "phase"]


def test_an_appender_refuses_a_link_and_writes_nothing_through_it(tmp_path):
    p = Project.create(tmp_path / ".scope")
    s = sessions.create(p, "t", driver="command", cmd="true")
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    ev = Path(s.path) / "events.jsonl"
    ev.unlink()
    ev.symlink_to(outside)
    try:
        events.append(s.path, "phase", phase="act")
    except CorruptFile as exc:
        assert "symbolic link" in str(exc)
    else:
        raise AssertionError("append followed a link")
    assert outside.read_text() == "mine\n"
    st = Path(s.path) / "state.json"
    st.unlink()
    st.symlink_to(outside)
    assert sessions.load_dir(s.path).corrupt == "state.json: a symbolic link (not followed)"
    assert sessions.update_state(s.path, status="done") is None
    assert outside.read_text() == "mine\n"


def test_lost_is_provisional_the_workers_own_final_write_wins(tmp_path):
    p = Project.create(tmp_path / ".scope")
    s = sessions.create(p, "t", driver="command", cmd="true")
    assert sessions.set_status(s.path, "failed", reason="lost")
    assert sessions.set_status(s.path, "done", exit_code=0)
    assert sessions.load_dir(s.path).status == "done"
    assert not sessions.set_status(s.path, "failed", reason="late")  # done stays done


def test_a_reader_with_another_tmux_tmpdir_marks_nothing_and_says_so(scope, tmp_path):
    sid = scope.spawn("wait a while", "--cmd", "sleep 30")
    scope.wait_status(sid, "running")
    other = tmp_path / "other-tmux"
    other.mkdir()
    p = scope.run("poll", env={"TMUX_TMPDIR": str(other)})
    assert p.returncode == 0 and "server unreachable" in p.stderr and p.stderr.count("unreachable") == 1
    assert scope.status(sid) == "running"
    scope.ok("kill", sid, "--yes")


def test_wait_on_a_corrupt_session_exits_1_with_the_reason(scope):
    s = sessions.create(Project(scope.scope_dir), "t", driver="command", cmd="true")
    (Path(s.path) / "state.json").write_text('{"status": "done", "cost": "x"}')
    p = scope.run("wait", s.id, "--timeout", "5")
    assert p.returncode == 1 and "corrupt" in p.stdout and "cost" in p.stdout


def test_wait_on_a_subtree_with_no_children_returns_at_once_with_2(scope):
    s = sessions.create(Project(scope.scope_dir), "t", driver="command", cmd="true")
    p = scope.run("wait", f"{s.id}.*", timeout=10)
    assert p.returncode == 2 and f"no sessions match {s.id}.*" in p.stderr


def test_a_task_on_stdin_that_is_not_utf8_is_refused_and_leaves_no_folder(scope):
    p = scope.run("spawn", "-", "--cmd", "true", input=b"fix \xff\xfe this")
    assert p.returncode == 2 and "not UTF-8" in p.stderr and "Traceback" not in p.stderr
    assert not list((scope.scope_dir / "sessions").iterdir())


def test_a_bad_config_value_is_refused_at_spawn_with_file_line_key(scope):
    (scope.scope_dir / "config.toml").write_text('theme = "scope-dark"\n\n[worker]\nmax_turns = "lots"\n')
    p = scope.run("spawn", "do it")
    assert p.returncode == 2
    assert (
        p.stderr.strip()
        == 'scope: config.toml:4: worker.max_turns: expected a whole number, 1 or more, got "lots"'
    )
    (scope.scope_dir / "config.toml").write_text('bell = true\nauto_approve = "no"\n')
    p = scope.run("spawn", "do it")
    assert 'config.toml:2: auto_approve: expected a boolean, got "no"' in p.stderr
    assert not list((scope.scope_dir / "sessions").iterdir())


def test_a_dag_with_a_bad_type_or_unknown_skill_is_refused_at_spawn(scope, tmp_path):
    dag = tmp_path / "d.toml"
    dag.write_text("[tasks.a]\ncmd = 5\n")
    p = scope.run("spawn", "x", "--skill", "dag", "--dag", str(dag))
    assert p.returncode == 2 and "d.toml:2: tasks.a.cmd: expected a string, got 5" in p.stderr
    dag.write_text('[tasks.a]\ntask = "go"\nskill = "nope"\n')
    p = scope.run("spawn", "x", "--skill", "dag", "--dag", str(dag))
    assert p.returncode == 2 and "nope" in p.stderr
    assert not list((scope.scope_dir / "sessions").iterdir())


def test_the_config_table_marks_the_same_keys_as_trust(tmp_path):
    from scope_tui.store import config, trust

    named = {k.name for k in config.KEYS}
    assert {k.name for k in config.KEYS if k.trust} == set(trust.GATED) & named


def test_an_older_scope_folder_still_reads(tmp_path):
    p = Project.create(tmp_path / ".scope")
    d = p.sessions / "1"
    d.mkdir()
    (d / "meta.json").write_text(
        json.dumps({"id": "1", "title": "old", "created_at": 1.0, "tmux": {"socket": "s", "window": "@1"}})
    )
    (d / "state.json").write_text(json.dumps({"status": "done", "cost": 0}))
    s = sessions.load_dir(d)
    assert s.corrupt is None and s.status == "done" and s.title == "old"
    assert os.path.exists(d)


def test_patches_edit_with_front_matter_of_the_wrong_type_is_refused_and_stays_pending(scope):
    import sys

    from scope_tui.gepa import patches
    from scope_tui.patterns import skill_files

    project = Project(scope.scope_dir)
    p = patches.propose_rule(project, "dag", "ALWAYS name each task's inputs.", signature="w")
    editor = scope.root / "ed.py"
    editor.write_text(
        "import re, sys\np = sys.argv[1]\nt = open(p).read()\n"
        "open(p, 'w').write(re.sub(r'(?ms)^when\\s*=\\s*\\[.*?\\]\\s*$', 'when = 5', t, count=1))\n"
    )
    r = scope.run("patches", "edit", p["id"], env={"EDITOR": f"{sys.executable} {editor}"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "when" in r.stderr and "dag.md:" in r.stderr
    assert patches.load_patch(project, p["id"])["status"] == "pending"
    assert not (project.skills / "dag").exists() or not list((project.skills / "dag").glob("v*.md"))
    assert skill_files.load(project, "dag").version == 1


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MB tmpfs (needs root: skipped with the reason otherwise), filled but for a few bytes."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 2 MB tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_on_a_full_disk_writes_fail_loudly_and_leave_nothing_torn_or_half_made(full_disk):
    from scope_tui.store.files import WriteFailed

    p = Project.create(full_disk / ".scope")
    s = sessions.create(p, "t", driver="command", cmd="true")
    before = (Path(s.path) / "events.jsonl").read_bytes()
    _fill(full_disk)
    with pytest.raises(WriteFailed, match="No space left"):
        events.append(s.path, "phase", phase="act", why="x" * 100_000)
    assert (Path(s.path) / "events.jsonl").read_bytes() == before  # no torn line left
    with pytest.raises(WriteFailed):
        sessions.set_status(s.path, "done", note="y" * 100_000)
    assert sessions.load_dir(s.path).status == "pending"  # the old state.json stands whole
    with pytest.raises((WriteFailed, OSError)):
        sessions.create(p, "z" * 200_000, driver="command", cmd="true")
    assert [d.name for d in p.sessions.iterdir()] == [s.id]  # the failed spawn left no folder


def test_an_escalation_is_final_before_the_parent_hears_of_it(tmp_path, monkeypatch):
    from scope_tui.ooda import escalation

    p = Project.create(tmp_path / ".scope")
    parent = sessions.create(p, "parent", driver="command", cmd="true")
    child = sessions.create(p, "child", parent=parent.id, driver="command", cmd="true")
    sessions.set_status(child.path, "running")
    seen = []
    real = sessions.put_message

    def heard(d, kind, text, **fields):  # the moment a supervisor could act on it (kill the child)
        seen.append(sessions.load_dir(child.path).status)
        return real(d, kind, text, **fields)

    monkeypatch.setattr(escalation.sessions, "put_message", heard)
    escalation.escalate(Path(child.path), "task_too_big", "split it")
    assert seen == ["escalated"]
    assert sessions.load_dir(child.path).status == "escalated"
