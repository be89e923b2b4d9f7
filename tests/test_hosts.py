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

from tests.support.helpers import ScopeRunner
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
