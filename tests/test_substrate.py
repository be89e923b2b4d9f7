"""The substrate through the real CLI and a real tmux server on a private socket."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.helpers import wait_until


def test_spawn_runs_a_command_and_wait_prints_its_result(scope):
    sid = scope.spawn("--cmd", "echo hello from $SCOPE_SESSION_ID", "greet")
    assert sid == "1"
    out = scope.run("wait", sid, "--timeout", "30")
    assert out.returncode == 0, out.stderr
    assert "== 1 done ==" in out.stdout and "hello from 1" in out.stdout
    assert (scope.session(sid) / "result.md").read_text().strip() == "hello from 1"
    log = (scope.session(sid) / "pane.log").read_text()
    # the pipe is attached before the pane's first output (the worker's header) is read
    assert "scope · session 1 · command driver" in log.splitlines()[0] and "hello from 1" in log
    types = [e["type"] for e in scope.events(sid)]
    assert types[0] == "spawn" and "exec" in types and types[-1] == "status"
    assert scope.meta(sid)["tmux"]["window"].startswith("@") and scope.meta(sid)["tmux"]["pane"].startswith(
        "%"
    )


def test_result_is_the_tail_of_the_output_however_long_its_lines(scope):
    """result.md keeps the last 200 lines and at most 4 MiB: one long line (a mapper's JSON) stays whole,
    and a command that prints megabytes without a newline leaves a bounded result that ends as its
    output ended."""
    json_line = "seq 1 300; printf '[%s]\\n' \"$(seq -s, 1 40000)\""  # ~230 kB of JSON on one line
    endless = "head -c 5000000 /dev/zero | tr '\\0' x; echo END"
    a = scope.spawn("--cmd", json_line, "one long line")
    b = scope.spawn("--cmd", endless, "no newline")
    assert scope.wait_status(a, "done", "failed")["status"] == "done"
    lines = (scope.session(a) / "result.md").read_text().splitlines()
    assert len(lines) == 200 and lines[0] == "102" and lines[-2] == "300", lines[:2]
    assert json.loads(lines[-1]) == list(range(1, 40001))
    assert scope.wait_status(b, "done", "failed")["status"] == "done"
    result = (scope.session(b) / "result.md").read_text()
    assert result.endswith("xxEND\n") and len(result) == 4 * 1024 * 1024 + 1, len(result)


def test_failing_command_is_failed_with_exit_code(scope):
    sid = scope.spawn("--cmd", "echo oops; exit 7", "fail")
    out = scope.run("wait", sid, "--timeout", "30")
    assert out.returncode == 1
    st = scope.state(sid)
    assert st["status"] == "failed" and st["exit_code"] == 7 and st["reason"] == "exit 7"


def test_concurrent_spawns_from_ten_processes(scope):
    with ThreadPoolExecutor(10) as pool:
        outs = list(pool.map(lambda i: scope.run("spawn", "--cmd", f"echo n{i}", f"task {i}"), range(10)))
    assert all(o.returncode == 0 for o in outs), [o.stderr for o in outs]
    got = sorted(int(o.stdout.strip()) for o in outs)
    assert got == list(range(1, 11))
    assert scope.run("wait", *map(str, got), "--timeout", "60").returncode == 0
    for sid in map(str, got):
        seqs = [e["seq"] for e in scope.events(sid)]
        assert seqs == list(range(1, len(seqs) + 1))
        assert scope.status(sid) == "done"


def test_fork_join_runs_in_parallel(scope, tmp_path):
    """Each worker waits for the other's marker file: a serial run would deadlock and time out."""
    a_mark, b_mark = tmp_path / "a.mark", tmp_path / "b.mark"
    wait_for = "for i in $(seq 200); do [ -e {m} ] && exit 0; sleep 0.1; done; exit 9"
    a = scope.spawn("--cmd", f"touch {a_mark}; " + wait_for.format(m=b_mark), "a")
    b = scope.spawn("--cmd", f"touch {b_mark}; " + wait_for.format(m=a_mark), "b")
    out = scope.run("wait", a, b, "--timeout", "40")
    assert out.returncode == 0, out.stdout + out.stderr
    assert scope.status(a) == scope.status(b) == "done"


def test_wait_timeout_exits_3(scope):
    sid = scope.spawn("--cmd", "sleep 30", "slow")
    out = scope.run("wait", sid, "--timeout", "0.5")
    assert out.returncode == 3
    assert "timed out" in out.stderr and sid in out.stderr
    scope.ok("kill", sid, "--yes")


def test_wait_any_returns_with_the_first(scope):
    slow = scope.spawn("--cmd", "sleep 30", "slow")
    fast = scope.spawn("--cmd", "echo quick", "fast")
    out = scope.run("wait", slow, fast, "--any", "--timeout", "30")
    assert out.returncode == 0 and f"== {fast} done ==" in out.stdout
    scope.ok("kill", slow, "--yes")


def test_subtree_kill_marks_every_live_descendant_killed(scope):
    root = scope.spawn("--cmd", "sleep 60", "root")
    child = scope.spawn("--parent", root, "--cmd", "sleep 60", "child")
    grand = scope.spawn("--parent", child, "--cmd", "sleep 60", "grandchild")
    other = scope.spawn("--cmd", "sleep 60", "unrelated")
    assert (child, grand) == (f"{root}.1", f"{root}.1.1")
    for s in (root, child, grand, other):
        scope.wait_status(s, "running")
    out = scope.ok("kill", root, "--yes")
    assert "killed 3" in out
    for s in (root, child, grand):
        assert scope.status(s) == "killed"
    assert scope.status(other) == "running"
    windows = scope.tmux("list-windows", "-a", "-F", "#{window_name}").stdout.split()
    assert root not in windows and grand not in windows and other in windows
    assert scope.session(grand).is_dir()  # history is kept
    scope.ok("kill", other, "--yes")


NASTY = "quotes ' \" $(touch /tmp/pwned) `id` \\n\nnew line ünïcødé 🚀\t$HOME ${X:-y} ;|&<>"


def test_task_reaches_the_worker_byte_exact(scope, tmp_path):
    task = NASTY + "\n" + ("0123456789abcdef" * 65536)  # 1 MiB more
    digest = hashlib.sha256(task.encode()).hexdigest()
    out_file = tmp_path / "sum"
    sid = scope.spawn(
        "--task-file",
        "/dev/stdin",
        "--cmd",
        f'sha256sum "$SCOPE_DIR/sessions/$SCOPE_SESSION_ID/task.md" > {out_file}',
        input=task,
    )
    scope.wait_status(sid, "done")
    assert out_file.read_text().split()[0] == digest
    # and through stdin with '-'
    sid2 = scope.spawn("-", "--cmd", "true", input=NASTY)
    assert (scope.session(sid2) / "task.md").read_text() == NASTY


def test_redirect_is_delivered_byte_exact(scope, tmp_path):
    got = tmp_path / "got"
    # The command reads one pasted line from its terminal: the pane gets the message too.
    sid = scope.spawn("--cmd", f"IFS= read -r line; printf '%s' \"$line\" > {got}", "listen")
    scope.wait_status(sid, "running")
    msg = "change course: ' \" $(nope) `x` ünï 🚀"
    scope.ok("redirect", sid, msg)
    inbox = list((scope.session(sid) / "inbox").glob("*.json"))
    assert len(inbox) == 1 and json.loads(inbox[0].read_text())["text"] == msg
    assert [e for e in scope.events(sid) if e["type"] == "redirect"][0]["message"] == msg
    scope.wait_status(sid, "done")
    assert got.read_text() == msg


def test_redirect_to_a_finished_session_is_refused(scope):
    sid = scope.spawn("--cmd", "true", "quick")
    scope.wait_status(sid, "done")
    out = scope.run("redirect", sid, "hello")
    assert out.returncode == 2 and "done" in out.stderr and "Traceback" not in out.stderr


def test_kill_dash_nine_of_a_worker_is_detected_as_failed(scope):
    sid = scope.spawn("--cmd", "sleep 60", "victim")
    scope.wait_status(sid, "running")
    os.kill(scope.worker_pid(sid), signal.SIGKILL)
    # tmux's pane-died hook or the sweep that every `wait` runs, whichever is first
    out = scope.run("wait", sid, "--timeout", "30")
    assert out.returncode == 1, out.stderr
    st = scope.state(sid)
    assert st["status"] == "failed" and st["reason"] == "crashed"
    assert any(
        e["type"] == "error" and e.get("source") in ("pane-died", "reconcile") for e in scope.events(sid)
    )


def test_killed_tmux_server_is_reconciled_to_lost(scope):
    sid = scope.spawn("--cmd", "sleep 60", "will be lost")
    scope.wait_status(sid, "running")
    scope.kill_server()
    out = scope.ok("poll", sid)
    assert "failed" in out and "lost" in out
    assert scope.state(sid)["reason"] == "lost"
    # wait reconciles too and reports failure instead of hanging
    assert scope.run("wait", sid, "--timeout", "20").returncode == 1


def test_corrupt_state_shows_as_corrupt_while_others_poll(scope):
    good = scope.spawn("--cmd", "true", "good")
    bad = scope.spawn("--cmd", "true", "bad")
    scope.wait_status(good, "done")
    scope.wait_status(bad, "done")
    (scope.session(bad) / "state.json").write_text("{half")
    out = scope.run("poll", "--all")
    assert out.returncode == 0
    lines = {ln.split()[0]: ln for ln in out.stdout.splitlines()[1:]}
    assert "done" in lines[good] and "corrupt" in lines[bad] and "state.json" in lines[bad]
    rows = [json.loads(x) for x in scope.ok("poll", "--json").splitlines()]
    assert {r["id"]: r["status"] for r in rows} == {good: "done", bad: "corrupt"}
    assert "corrupt" in scope.ok("tree")


@pytest.mark.parametrize("bad", ["../x", "3..1", "/etc", ""])
def test_bad_ids_exit_2_with_one_line(scope, bad):
    for cmd in (
        ["poll", bad],
        ["kill", bad, "--yes"],
        ["wait", bad],
        ["redirect", bad, "m"],
        ["spawn", "--parent", bad, "--cmd", "true", "t"],
    ):
        out = scope.run(*cmd)
        assert out.returncode == 2, (cmd, out.stderr)
        assert out.stderr.startswith("scope: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_unknown_id_suggests_poll_all(scope):
    out = scope.run("poll", "42")
    assert out.returncode == 2 and "no session 42" in out.stderr and "scope poll --all" in out.stderr


def test_read_only_commands_outside_a_project_exit_2(tmp_path, home):
    env = {k: v for k, v in os.environ.items() if k != "SCOPE_DIR"}
    for cmd in (["poll"], ["tree"], ["wait", "1"]):
        p = subprocess.run(
            [sys.executable, "-m", "scope_tui", *cmd], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert p.returncode == 2 and "no Scope project here" in p.stderr, (cmd, p.stderr)


def test_usage_errors_are_one_line_exit_2(scope):
    for cmd in (
        ["spawn"],
        ["spawn", "--cmd", "", "t"],
        ["spawn", "--driver", "nope", "t"],
        ["wait"],
        ["wait", "1", "--timeout", "-1"],
        ["clean", "--older-than", "soon"],
        ["frobnicate"],
    ):
        out = scope.run(*cmd)
        assert out.returncode == 2, (cmd, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and out.stderr.startswith("scope: "), (cmd, out.stderr)


def test_nested_spawn_inside_a_session_is_its_child_and_wait_marks_it_waiting(scope, tmp_path):
    inner = (
        f"{sys.executable} -m scope_tui spawn --cmd 'echo inner done' inner > {tmp_path}/child; "
        f"{sys.executable} -m scope_tui wait $(cat {tmp_path}/child) --timeout 30"
    )
    (scope.scope_dir / "config.toml").write_text("[sessions]\nallow_command_workers = true\n")
    scope.ok("trust")  # a session starts a shell command only when the person's trusted config allows it
    parent = scope.spawn("--cmd", inner, "outer")
    scope.wait_status(parent, "done", timeout=40)
    child = (tmp_path / "child").read_text().strip()
    assert child == f"{parent}.1"
    assert scope.meta(child)["parent"] == parent
    statuses = [e["status"] for e in scope.events(parent) if e["type"] == "status"]
    assert "waiting" in statuses
    assert "inner done" in (scope.session(parent) / "result.md").read_text()
    assert any(e["type"] == "spawn" and e.get("child") == child for e in scope.events(parent))


def test_clean_closes_finished_windows_and_keeps_history(scope):
    sid = scope.spawn("--cmd", "echo bye", "short")
    scope.wait_status(sid, "done")
    assert sid in scope.tmux("list-windows", "-a", "-F", "#{window_name}").stdout.split()
    assert f"cleaned 1: {sid}" in scope.ok("clean")
    assert sid not in scope.tmux("list-windows", "-a", "-F", "#{window_name}").stdout.split()
    assert (scope.session(sid) / "pane.log").read_text().count("bye") >= 1
    assert scope.status(sid) == "done"


def test_needs_input_is_reported_once_and_is_not_terminal(scope):
    from scope_tui.store import sessions

    sid = scope.spawn("--cmd", "sleep 60", "asks")
    scope.wait_status(sid, "running")
    sessions.set_status(scope.session(sid), "needs_input", reason="which file?")
    out = scope.run("wait", sid, "--timeout", "1.5")
    assert out.returncode == 3
    assert out.stderr.count("needs input") == 1 and "which file?" in out.stderr
    scope.ok("kill", sid, "--yes")


def test_attach_command_targets_the_window_by_id(scope):
    from scope_tui.store.project import Project
    from scope_tui.substrate.control import attach_argv

    sid = scope.spawn("--cmd", "sleep 30", "look at me")
    scope.wait_status(sid, "running")
    argv = attach_argv(Project(scope.scope_dir), sid)
    assert argv[1:] == ["-L", scope.socket, "attach-session", "-t", scope.meta(sid)["tmux"]["window"]]
    scope.ok("kill", sid, "--yes")
    out = scope.run("attach", sid)
    assert out.returncode == 2 and "no tmux window" in out.stderr


def test_doctor_never_prints_the_key(scope):
    out = scope.run("doctor", env={"ANTHROPIC_API_KEY": "sk-ant-secret-value-123"})
    assert "tmux" in out.stdout and "API key present" in out.stdout
    assert "secret-value" not in out.stdout + out.stderr


def test_process_runner_feeds_and_collects_megabytes_both_ways_without_a_deadlock():
    from scope_tui.procs import run_captured

    data = bytes(range(256)) * 8192  # 2 MiB: far past a pipe's buffer in each direction
    ran = run_captured(["/bin/sh", "-c", "cat; echo done >&2; exit 3"], data)
    assert (ran.returncode, ran.stdout == data, ran.stderr) == (3, True, b"done\n")
    quiet = run_captured(["/bin/sh", "-c", "kill -9 $$"])
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (-9, b"", b"")


@pytest.mark.parametrize("inotify", [True, False])
def test_ticks_say_a_change_at_once_and_tick_when_nothing_changes(tmp_path, monkeypatch, inotify):
    from scope_tui.substrate import watch

    if not inotify:  # no inotify here: the watchfiles path must behave the same
        monkeypatch.setattr(watch, "Inotify", lambda root: (_ for _ in ()).throw(OSError(38, "no inotify")))
    (tmp_path / "s1").mkdir()
    gen = watch.ticks(tmp_path, tick_ms=200)
    assert next(gen) is False  # nothing happened within a tick
    (tmp_path / "s2").mkdir()  # a folder made after the watch began...
    assert next(gen) is True
    t0 = time.monotonic()
    (tmp_path / "s2" / "state.json").write_text("{}")  # ...and a file in it
    assert wait_until(lambda: next(gen), 5, interval=0) is True
    assert time.monotonic() - t0 < 3
    gen.close()


def test_started_processes_get_what_subprocess_would_give_them(tmp_path):
    """Default SIGPIPE (a pipeline's early reader ends the writer quietly) and none of our inherited fds."""
    from scope_tui.procs import run_captured

    r, w = os.pipe()
    os.set_inheritable(w, True)  # as a CI step's pipe would be
    try:
        ran = run_captured(
            [
                "/bin/sh",
                "-c",
                f"yes | head -1; ls /proc/$$/fd; if [ -e /proc/$$/fd/{w} ]; then echo LEAKED; fi",
            ]
        )
    finally:
        os.close(r)
        os.close(w)
    assert ran.returncode == 0 and ran.stdout.startswith(b"y\n"), ran
    assert b"LEAKED" not in ran.stdout and b"Broken pipe" not in ran.stderr, ran


def test_a_command_session_runs_with_default_sigpipe(scope):
    sid = scope.spawn("--cmd", "yes | head -2", "pipeline")
    st = scope.wait_status(sid, "done", "failed")
    assert st["status"] == "done", st
    assert (scope.session(sid) / "result.md").read_text() == "y\ny\n"


def test_ticks_keep_time_while_only_ignored_files_change(tmp_path):
    """Lock and temp files churning must not keep a waiter from its deadline."""
    import threading

    from scope_tui.substrate import watch

    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            (tmp_path / ".lock").write_text("x")
            stop.wait(0.02)

    gen = watch.ticks(tmp_path, tick_ms=200)
    t = threading.Thread(target=churn)
    t.start()
    try:
        t0 = time.monotonic()
        assert next(gen) is False
        assert next(gen) is False
        assert time.monotonic() - t0 < 3
    finally:
        stop.set()
        t.join()
        gen.close()


def test_a_pane_log_held_open_and_growing_does_not_wake_the_watcher(tmp_path):
    """tmux appends each line a printing pane prints to pane.log through one open descriptor: no watcher
    may wake for that (the room woke at every line beside a printing worker), while an event appended
    (opened, written, closed) still arrives. inotify queues at the write itself, so a zero wait is exact."""
    import select

    from scope_tui.store import events
    from scope_tui.store.sessions import PANE_LOG
    from scope_tui.substrate.watch import Inotify

    d = tmp_path / "sessions" / "1"
    d.mkdir(parents=True)
    ino = Inotify(tmp_path)
    try:
        with open(d / PANE_LOG, "ab", buffering=0) as log:
            ino.read()  # its creation
            for _ in range(20):
                log.write(b"printing a line\n")
            assert select.select([ino.fd], [], [], 0)[0] == [], ino.read()
            events.append(d, "note", text="seen")
            assert select.select([ino.fd], [], [], 0)[0] == [ino.fd]
            assert str(d / events.EVENTS) in ino.read()
    finally:
        ino.close()


def test_a_project_path_that_tmux_would_read_as_a_format(tmp_path, home, monkeypatch):
    """tmux expands formats in pipe-pane and run-shell commands (and strftime codes in pipe-pane's): a `#`
    or `%` in the project's path must reach the pane log and the pane-died hook as it is."""
    from tests.support.helpers import ScopeRunner

    proj = tmp_path / "odd #{window_name} #W #[fg=red] %Y 'q' é;"
    proj.mkdir()
    monkeypatch.chdir(proj)
    runner = ScopeRunner(proj, python=sys.executable)
    runner.init()
    try:
        sid = runner.spawn("--cmd", "echo printed; sleep 60", "odd path")
        runner.wait_status(sid, "running")
        log = runner.session(sid) / "pane.log"
        wait_until(
            lambda: log.exists() and "printed" in log.read_text(), 10, what="the pane's output in pane.log"
        )
        # the window's shell, then its worker: only tmux's pane-died hook is left to report the crash
        pane = runner.meta(sid)["tmux"]["pane"]
        shell = int(runner.tmux("display", "-p", "-t", pane, "#{pane_pid}").stdout)
        worker = runner.worker_pid(sid)
        os.kill(shell, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
        st = runner.wait_status(sid, "failed", timeout=15)
        assert st["reason"] == "crashed", st
    finally:
        runner.kill_server()


def test_a_window_finds_the_standard_library_before_what_sits_beside_scope(tmp_path):
    """A window's worker starts with -S and is told where scope_tui is: that folder (site-packages, for
    a regular install) goes after the standard library, as site would put it, so a stray module named
    like a standard one there does not replace it."""
    from scope_tui.substrate.server import FIND_SCOPE, PACKAGE_ROOT

    (tmp_path / "json.py").write_text("raise ImportError('the stray json')\n")
    (tmp_path / "scope_tui").symlink_to(os.path.join(PACKAGE_ROOT, "scope_tui"))
    code = FIND_SCOPE + "import json, scope_tui.store.sessions; print(json.dumps([1]))"
    out = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[1]", out.stderr


def test_a_session_working_in_a_folder_with_its_own_scope_tui_runs_the_installed_one(scope, tmp_path):
    """A session whose folder holds a scope_tui/ (a checkout of Scope being worked on) must not run it."""
    work = tmp_path / "checkout"
    (work / "scope_tui").mkdir(parents=True)
    (work / "scope_tui" / "__init__.py").write_text("raise ImportError('the checkout in the cwd')\n")
    script = Path(sys.executable).with_name("scope")  # as a person runs it (python -m would take the cwd's)
    out = subprocess.run(
        [str(script), "spawn", "--cmd", "echo ran", "in a checkout"],
        cwd=work,
        env=scope.environ(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    sid = out.stdout.strip()
    assert scope.wait_status(sid, "done", "failed")["status"] == "done", scope.events(sid)


def test_a_worker_dying_before_its_pane_is_recorded_is_still_reaped(scope):
    """Workers do not wait for their spawner to write the pane into meta.json: a report of a worker that
    died at once (even before it said it runs) waits a moment for it; a report about a pane the session
    has left (a supervisor's restart) is stale."""
    import threading

    from scope_tui.store import sessions
    from scope_tui.store.atomic import write_json
    from scope_tui.store.project import Project
    from scope_tui.substrate.reaper import reap

    project = Project(scope.scope_dir)

    def reap_with_pane_recorded_late(s: sessions.Session, recorded: str, reported: str) -> bool:
        late = threading.Timer(
            0.3, lambda: write_json(s.dir / "meta.json", {**s.meta, "tmux": {"pane": recorded}})
        )
        late.start()
        try:
            return reap(project.root, s.id, "137", "9", reported)
        finally:
            late.join()

    running = sessions.create(project, "dies at once", driver="command", cmd="true")
    sessions.set_status(running.dir, "running")
    assert reap_with_pane_recorded_late(running, "%9", "%9")
    assert scope.state(running.id)["status"] == "failed" and scope.state(running.id)["reason"] == "crashed"
    pending = sessions.create(project, "dies before it says it runs", driver="command", cmd="true")
    assert reap_with_pane_recorded_late(pending, "%10", "%10") and scope.status(pending.id) == "failed"
    restarted = sessions.create(project, "restarted", driver="command", cmd="true")
    assert not reap_with_pane_recorded_late(restarted, "%12", "%11")  # the old pane's report
    assert scope.status(restarted.id) == "pending"


def test_only_scopes_own_windows_get_the_pane_log_hook(scope, tmp_path):
    """The hook that pipes a window's output into its session's pane.log leaves alone a window a person
    opens on the server (its name is no session, and never reaches a shell line), and a window whose
    opener attaches its own pipe (a Scope from before the hook)."""
    sid = scope.spawn("--cmd", "true", "sets the hook")
    scope.wait_status(sid, "done")
    odd = f"x;touch {tmp_path / 'ran'}"
    scope.tmux("new-window", "-d", "-t", "_scope:", "-n", odd, "echo stray; sleep 1")
    own = scope.tmux("new-window", "-d", "-t", "_scope:", "-n", "77", "-P", "-F", "#{pane_id}",
                     "sleep 0.3; echo piped by its opener; sleep 1").stdout.strip()  # fmt: skip
    scope.tmux("pipe-pane", "-o", "-t", own, f"cat >> {tmp_path / 'own.log'}")
    wait_until(lambda: (tmp_path / "own.log").exists() and "piped" in (tmp_path / "own.log").read_text(), 10)
    assert not (tmp_path / "ran").exists()
    assert sorted(p.name for p in (scope.scope_dir / "sessions").iterdir()) == [sid]
