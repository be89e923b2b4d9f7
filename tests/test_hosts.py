"""Hosts against a real sshd on 127.0.0.1: `scope watch --json`, `[hosts.NAME]`, `scope host add|list|setup`.

The "remote" is a second project folder reached through the test's own sshd and ssh config; its Scope is
this checkout's. sshd that cannot start skips these tests, except in CI (CI=1), where that fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.helpers import ScopeRunner, wait_until
from tests.support.sshd import SSHD, Sshd

SCOPE_BIN = str(Path(sys.executable).parent / "scope")


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "1":
        pytest.fail(f"sshd is needed in CI: {why}")
    pytest.skip(why)


@pytest.fixture
def remote(tmp_path, home) -> ScopeRunner:
    """The remote's project folder (its own .scope/), reached only through ssh in the tests."""
    d = tmp_path / "remote"
    d.mkdir()
    runner = ScopeRunner(d, python=sys.executable)
    runner.init()
    yield runner
    runner.kill_server()


@pytest.fixture
def sshd(scope, remote, monkeypatch):
    if not os.path.exists(SSHD):
        _unavailable("sshd is not installed (apt-get install openssh-server)")
    d = Path(tempfile.mkdtemp(prefix="sshd-", dir="/tmp"))
    env = {
        "TMUX_TMPDIR": os.environ["TMUX_TMPDIR"],  # the remote's tmux server is this run's too
        "XDG_CONFIG_HOME": str(d / "xdg"),
        "HOME": str(d),
    }
    server = Sshd(d, env)
    why = server.start()
    if why:
        _unavailable(why)
    monkeypatch.setenv("SCOPE_SSH_CONFIG", str(server.config))
    yield server
    _close_masters(scope)
    server.stop()


def _close_masters(scope: ScopeRunner) -> None:
    """End the master connections this test's commands left (ControlPersist)."""
    from scope_tui import api
    from scope_tui.store.project import Project

    project = Project(str(scope.scope_dir))
    for name in api.hosts(project) if (scope.scope_dir / "config.toml").exists() else {}:
        api.host_connection(project, name, "exit")


def _master(scope: ScopeRunner, name: str, op: str = "check") -> bool:
    from scope_tui import api
    from scope_tui.store.project import Project

    return api.host_connection(Project(str(scope.scope_dir)), name, op)


def _add_box(scope: ScopeRunner, remote: ScopeRunner) -> None:
    scope.ok("host", "add", "box", f"box:{remote.root}", "--scope", SCOPE_BIN)
    scope.ok("trust")


def test_watch_json_prints_state_and_events_and_resumes_from_an_offset(scope):
    w = subprocess.Popen(
        [sys.executable, "-m", "scope_tui", "watch", "--json"],
        stdout=subprocess.PIPE,
        env=scope.environ(),
        cwd=scope.root,
    )
    try:
        assert json.loads(w.stdout.readline()) == {"type": "synced"}  # an empty project
        sid = scope.spawn("--cmd", "echo hi", "say hi")
        records = []
        while not any(r["type"] == "event" and r["event"].get("status") == "done" for r in records):
            records.append(json.loads(w.stdout.readline()))
    finally:
        w.kill()
        w.wait()
    kinds = [e["event"]["type"] for e in records if e["type"] == "event"]
    assert kinds[0] == "spawn" and "result" in kinds
    offsets = [r["offset"] for r in records if r["type"] == "offset"]
    assert offsets and all(a < b for a, b in zip(offsets, offsets[1:], strict=False))
    # resuming from the first offset gives only what came after it
    first = offsets[0]
    seen_first = [
        r["event"]["seq"]
        for r in records[: records.index({"type": "offset", "id": sid, "offset": first})]
        if r["type"] == "event"
    ]
    out = scope.ok("watch", "--json", "--once", "--since", f"{sid}={first}")
    later = [json.loads(x) for x in out.splitlines()]
    seqs = [r["event"]["seq"] for r in later if r["type"] == "event"]
    assert seqs and min(seqs) == max(seen_first) + 1
    assert later[-1] == {"type": "synced"}
    assert scope.run("watch", "--since", "nonsense").returncode == 2


def test_watch_json_ends_when_its_reader_goes_even_while_nothing_changes(scope):
    """A watcher on another host whose ssh dropped must not linger: a quiet stream says it is alive,
    so the write fails once the reader went, and the process ends (with no traceback)."""
    w = subprocess.Popen(
        [sys.executable, "-m", "scope_tui", "watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=scope.environ({"SCOPE_WATCH_ALIVE_S": "0.2"}),
        cwd=scope.root,
    )
    try:
        assert json.loads(w.stdout.readline()) == {"type": "synced"}
        assert json.loads(w.stdout.readline()) == {"type": "alive"}  # nothing changed: it says so
        w.stdout.close()  # the reader goes
        assert w.wait(timeout=30) == 0
        assert b"Traceback" not in w.stderr.read()
    finally:
        w.kill()
        w.wait()


def test_hosts_config_is_checked_and_trust_gated(scope, remote):
    cfg = scope.scope_dir / "config.toml"
    cfg.write_text('theme = "scope-dark"\n\n[hosts.box]\nssh = 3\npath = "/x"\n')
    p = scope.run("host", "list")
    assert p.returncode == 2 and "config.toml:4: hosts.box.ssh: expected a string" in p.stderr
    cfg.write_text('[hosts.box]\npath = "/x"\n')
    assert "hosts.box.ssh: missing" in scope.run("host", "list").stderr
    cfg.unlink()
    out = scope.ok("host", "add", "box", f"box:{remote.root}")
    assert "scope trust" in out
    assert "not trusted" in scope.ok("host", "list")
    p = scope.run("host", "setup", "box")
    assert p.returncode == 2 and "not trusted" in p.stderr
    scope.ok("trust")
    assert scope.ok("host", "list").strip() == f"box  box:{remote.root}  scope=scope"
    assert scope.run("host", "add", "b/x", "box:/p").returncode == 2
    assert scope.run("host", "add", "two", "nocolon").returncode == 2


def test_host_setup_checks_the_remote_through_sshd(scope, remote, sshd):
    _add_box(scope, remote)
    out = scope.ok("host", "setup", "box")
    assert "host box: ready" in out and "ok       Scope 0.1.0" in out and "ok       tmux" in out
    # one master connection for the host stays up (ControlPersist) for the next command to reuse
    assert _master(scope, "box")
    scope.ok("host", "add", "old", f"box:{remote.root}", "--scope", "/nowhere/scope")
    scope.ok("trust")
    p = scope.run("host", "setup", "old")
    assert p.returncode == 1 and "missing  Scope 0.1.0 (/nowhere/scope not found" in p.stdout


def test_spawn_on_a_host_and_every_id_command_takes_name_colon_id(scope, remote, sshd):
    _add_box(scope, remote)
    task = "print the answer; $(touch /tmp/never) `also never`"
    ref = scope.spawn("--host", "box", "--cmd", "echo forty-two", task)
    assert ref.startswith("box:")
    sid = ref.split(":", 1)[1]
    # it runs there: the remote project's own session, with the task byte-exact (it went on stdin)
    assert remote.wait_status(sid, "done")["status"] == "done"
    assert (remote.session(sid) / "task.md").read_text() == task
    assert not (scope.scope_dir / "sessions" / sid).exists()
    p = scope.run("wait", ref, "--timeout", "30")
    assert p.returncode == 0 and "forty-two" in p.stdout
    assert p.stdout.startswith(f"== {ref} done")  # the id as the person can type it here
    rows = [json.loads(x) for x in scope.ok("poll", ref, "--json").splitlines()]
    assert [(r["id"], r["status"]) for r in rows] == [(ref, "done")]
    assert scope.ok("poll", ref).splitlines()[1].split()[0] == ref
    assert "echo forty-two" in scope.ok("log", ref)
    assert f" {ref}  " in scope.ok("tree", ref)
    p = scope.run("resume", ref)  # resume takes NAME:ID too: the host's own scope says why not
    assert p.returncode == 2 and f"session {sid} is done, not lost" in p.stderr
    live = scope.spawn("--host", "box", "--cmd", "sleep 30", "wait a while")
    lid = live.split(":", 1)[1]
    remote.wait_status(lid, "running")
    assert scope.ok("redirect", live, "look: $(not a command)").strip() == f"redirected {lid}"
    inbox = remote.session(lid) / "inbox"
    assert any("look: $(not a command)" in f.read_text() for f in inbox.rglob("*") if f.is_file())
    assert f"killed 1: {lid}" in scope.ok("kill", live)  # no terminal here: it does not ask
    assert remote.wait_status(lid, "killed")["status"] == "killed"
    # one connection per host: the master is still there for the room and the next command
    assert _master(scope, "box")
    p = scope.run("poll", ref, "here:1")
    assert p.returncode == 2 and "different hosts" in p.stderr
    p = scope.run("spawn", "--host", "nowhere", "x")
    assert p.returncode == 2 and "no host nowhere" in p.stderr


def test_attach_to_a_session_on_a_host_goes_through_ssh_t(scope, remote, sshd, tmp_path):
    _add_box(scope, remote)
    ref = scope.spawn("--host", "box", "--cmd", "echo remote-pane-says-hi; sleep 60", "print and wait")
    remote.wait_status(ref.split(":", 1)[1], "running")
    sock = f"att{os.getpid()}"
    cmd = f"{sys.executable} -m scope_tui attach {ref}"
    env = scope.environ()
    subprocess.run(
        ["tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "30", cmd], env=env, check=True
    )
    try:

        def screen() -> str:
            p = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p"], capture_output=True, text=True)
            return p.stdout if "remote-pane-says-hi" in p.stdout else ""

        wait_until(screen, timeout=30, what="the remote pane in the local terminal")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        scope.run("kill", ref, "--yes")


def test_the_room_follows_a_host_shows_it_unreachable_when_it_drops_and_catches_up(scope, remote, sshd):
    import asyncio
    import time

    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp

    _add_box(scope, remote)
    local = scope.spawn("--cmd", "sleep 60", "a local one")
    ref = scope.spawn("--host", "box", "--cmd", "sleep 60", "a remote one")
    rid = ref.split(":", 1)[1]
    remote.wait_status(rid, "running")
    app = ScopeApp(Project(str(scope.scope_dir)), live_pane=False)

    def label(sid: str) -> str:
        node = app.session_tree.nodes.get(sid)
        return node.label.plain if node is not None else ""

    async def until(pilot, pred, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            await pilot.pause(0.05)
        raise AssertionError(f"timed out waiting for {what}: {label(ref)!r}")

    async def main() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            # one tree: this project's row and the host's, shown as NAME:ID
            await until(pilot, lambda: "running" in label(ref) and label(local), "the host's row")
            # the host drops: sshd goes, and so does the connection the stream ran over
            sshd.stop()
            assert _master(scope, "box", "exit")
            await until(pilot, lambda: "unreachable" in label(ref), "unreachable")
            assert remote.status(rid) == "running"  # a display state: nothing was written there
            assert "unreachable" not in label(local)
            remote.ok("kill", rid, "--yes")  # what happens there while it is away
            assert sshd.start() is None
            await until(pilot, lambda: "killed" in label(ref), "the catch-up", timeout=40)

    asyncio.run(main())
    scope.run("kill", local, "--yes")


def test_the_rooms_keys_work_on_a_hosts_rows_through_ssh(scope, remote, sshd):
    import asyncio
    import time

    from scope_tui import api
    from scope_tui.store import sessions
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp

    _add_box(scope, remote)
    ref = scope.spawn("--host", "box", "--cmd", "sleep 60", "a remote one")
    rid = ref.split(":", 1)[1]
    other = scope.spawn("--host", "box", "--cmd", "sleep 60", "another one there")
    oid = other.split(":", 1)[1]
    remote.wait_status(rid, "running"), remote.wait_status(oid, "running")
    attached: list[list[str]] = []
    project = Project(str(scope.scope_dir))
    app = ScopeApp(project, live_pane=False, attach_runner=attached.append)

    def label(sid: str = ref) -> str:
        node = app.session_tree.nodes.get(sid)
        return node.label.plain if node is not None else ""

    def inbox() -> list[str]:
        return [f.read_text() for f in (remote.session(rid) / "inbox").glob("*.json")]

    async def until(pilot, pred, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            await pilot.pause(0.05)
        raise AssertionError(f"timed out waiting for {what}: {label()!r}")

    async def main() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: "running" in label(), "the host's row")
            app.select(ref)
            await pilot.pause()
            await pilot.press("r")  # redirect: the message reaches the session's inbox there
            await until(pilot, lambda: app.screen.query("#text"), "the redirect prompt")
            await pilot.press(*"look: $(not run)", "enter")
            await until(pilot, lambda: any("look: $(not run)" in m for m in inbox()), "the remote inbox")
            # the session there asks the person; answer finds it among the rows and answers through ssh
            sessions.set_status(remote.session(rid), "needs_input", reason="which branch?")
            await until(pilot, lambda: "needs" in label(), "the question")
            await pilot.press("i")
            await until(pilot, lambda: app.screen.query("#text"), "the answer prompt")
            assert ref in str(app.screen.query_one(".title").render())
            await pilot.press(*"main", "enter")
            await until(pilot, lambda: any('"main"' in m for m in inbox()), "the answer there")
            await pilot.press("enter")  # attach: ssh -t NAME scope attach ID
            await until(pilot, lambda: attached, "attach")
            await pilot.press("k")  # kill: confirmed here, done there
            await until(pilot, lambda: app.screen.query("#yes"), "the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: "killed" in label(), "the row killed")
            # the host reboots (its tmux server goes): R resumes its lost row there, through ssh
            remote.kill_server()
            remote.run("poll", "--all")
            await until(pilot, lambda: "failed" in label(other), "the other row lost")
            app.select(other)
            await pilot.pause()
            await pilot.press("R")
            await until(pilot, lambda: app.screen.query("#yes"), "the --rerun confirmation")
            await pilot.press("y")
            await until(pilot, lambda: remote.meta(oid).get("resumed_as"), "resumed there")
            new = f"box:{remote.meta(oid)['resumed_as']}"
            await until(
                pilot,
                lambda: new in app.session_tree.nodes and other not in app.session_tree.nodes,
                "in place",
            )

    asyncio.run(main())
    assert remote.status(rid) == "killed"
    (argv,) = attached
    assert argv == api.host_argv(project, "box", ["attach", rid], tty=True) and "-t" in argv
