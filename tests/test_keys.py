"""Keys stay where they belong (#13 item 3), through the real CLI and real tmux: no key in any tmux argv,
in tmux's global environment, in a window's environment or in a command worker, unless the person passes
it by name; what Scope writes is redacted; `.scope/` is the person's alone (0700, files 0600, .gitignore)."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from pathlib import Path

import pytest

from scope_tui.store import keys
from tests.support.helpers import wait_until

KEY = "sk-ant-api03-KEYSTEST0000000000000000000000SECRET"
TOKEN = "oauth-token-KEYSTEST-7777777777"


@pytest.fixture
def tmux_argv(tmp_path, scope) -> Path:
    """Every tmux command line Scope runs, recorded (NUL-separated words, one line a call) by a tmux on
    PATH that logs its argv and then execs the real one."""
    real = subprocess.run(["sh", "-c", "command -v tmux"], capture_output=True, text=True).stdout.strip()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "tmux-argv.log"
    wrapper = bindir / "tmux"
    wrapper.write_text(f'#!/bin/sh\nprintf \'%s\\0\' "$@" >> {log}\necho >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    scope.env["PATH"] = f"{bindir}:{os.environ['PATH']}"
    return log


def pane_environ(scope, sid: str) -> bytes:
    """The environment tmux gave the session's window (its shell, the pane's first process)."""
    pane = scope.meta(sid)["tmux"]["pane"]
    pid = scope.tmux("display", "-p", "-t", pane, "#{pane_pid}").stdout.strip()
    return Path(f"/proc/{pid}/environ").read_bytes()


def test_a_command_worker_gets_no_key_and_tmux_never_holds_one(scope, tmux_argv):
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_AUTH_TOKEN": TOKEN}
    sid = scope.spawn("--cmd", "env; sleep 30", "show the environment", env=env)
    log = scope.session(sid) / "pane.log"  # tmux's pipe opens it just after the window starts
    wait_until(lambda: log.exists() and b"PATH=" in log.read_bytes(), what="env printed")

    assert KEY.encode() not in tmux_argv.read_bytes() and TOKEN.encode() not in tmux_argv.read_bytes()
    global_env = scope.tmux("show-environment", "-g").stdout
    assert "ANTHROPIC_API_KEY" not in global_env and "ANTHROPIC_AUTH_TOKEN" not in global_env
    window_env = pane_environ(scope, sid)
    assert b"ANTHROPIC_API_KEY" not in window_env and b"ANTHROPIC_AUTH_TOKEN" not in window_env
    log = (scope.session(sid) / "pane.log").read_text()
    assert "ANTHROPIC_API_KEY" not in log and "ANTHROPIC_AUTH_TOKEN" not in log and "SCOPE_DIR=" in log
    scope.ok("kill", sid, "--yes")


def test_a_server_from_before_loses_the_keys_it_was_started_with(scope):
    """A tmux server started by an older Scope holds the key in its global environment: the next spawn
    takes it out, so neither that window nor any later one inherits it."""
    old = dict(os.environ, ANTHROPIC_API_KEY=KEY)
    subprocess.run(
        ["tmux", "-L", scope.socket, "new-session", "-d", "-s", "_scope", "-n", "home", "tail -f /dev/null"],
        env=old,
        check=True,
    )
    assert KEY in scope.tmux("show-environment", "-g", "ANTHROPIC_API_KEY").stdout
    sid = scope.spawn("--cmd", "env", "after an upgrade")
    scope.ok("wait", sid, "--timeout", "30")
    assert "ANTHROPIC_API_KEY" not in scope.tmux("show-environment", "-g").stdout
    assert "ANTHROPIC_API_KEY" not in (scope.session(sid) / "result.md").read_text()


def test_env_name_passes_a_key_to_a_command_through_a_file_and_what_it_prints_is_redacted(scope, tmux_argv):
    cmd = 'printf "%s" "$ANTHROPIC_API_KEY" | wc -c; echo "key=$ANTHROPIC_API_KEY"; exit 3'
    sid = scope.spawn(
        "--env", "ANTHROPIC_API_KEY", "--cmd", cmd, "use the key", env={"ANTHROPIC_API_KEY": KEY}
    )
    assert scope.run("wait", sid, "--timeout", "30").returncode == 1
    result = (scope.session(sid) / "result.md").read_text()
    assert result.splitlines()[0].strip() == str(len(KEY))  # the command had the key
    assert "key=[redacted]" in result and KEY not in result
    assert scope.meta(sid)["env"] == ["ANTHROPIC_API_KEY"]  # the name, never the value
    assert not (scope.session(sid) / keys.HANDOVER).exists()  # read and unlinked by the worker
    assert KEY.encode() not in tmux_argv.read_bytes()
    for path in scope.scope_dir.rglob("*"):
        if path.is_file() and path.name != "pane.log":  # tmux writes pane.log: redacted as it is read
            assert KEY.encode() not in path.read_bytes(), f"the key leaked into {path}"


def test_events_and_reasons_are_redacted_as_they_are_written(scope):
    """A worker that puts a key into what Scope records (here an escalation from a command worker)."""
    sid = scope.spawn(
        "--env",
        "ANTHROPIC_API_KEY",
        "--cmd",
        'scope escalate stuck "the key is $ANTHROPIC_API_KEY and sk-ant-admin01-ANOTHERKEY0123456789abcdef"',
        "escalate with the key",
        env={"ANTHROPIC_API_KEY": KEY, "PATH": f"{Path(scope.python).parent}:{os.environ['PATH']}"},
    )
    scope.run("wait", sid, "--timeout", "30")
    events = (scope.session(sid) / "events.jsonl").read_text()
    state = (scope.session(sid) / "state.json").read_text()
    assert "[redacted]" in events, events
    for text in (events, state):
        assert KEY not in text and "ANOTHERKEY0123456789abcdef" not in text


def test_env_names_are_checked(scope):
    bad = scope.run("spawn", "--env", "A=B", "--cmd", "true", "t")
    assert (
        bad.returncode == 2
        and "--env takes a variable's name" in bad.stderr
        and "Traceback" not in bad.stderr
    )
    unset = scope.run("spawn", "--env", "SCOPE_TEST_UNSET_VAR", "--cmd", "true", "t")
    assert unset.returncode == 2 and "SCOPE_TEST_UNSET_VAR: not set" in unset.stderr


def test_a_model_worker_gets_the_key_through_its_file_and_never_by_argv(scope, stub, tmux_argv):
    scope.env.update(stub.env)
    stub.push(tool_use={"name": "finish", "input": {"result": "done with the key"}})
    sid = scope.spawn("--model", "claude-test-1", "finish at once")
    scope.ok("wait", sid, "--timeout", "30")
    sent = stub.requests[0].headers if stub.requests else {}
    assert stub.key in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))
    assert stub.key.encode() not in tmux_argv.read_bytes()
    assert b"ANTHROPIC_API_KEY" not in pane_environ(scope, sid)
    assert "ANTHROPIC_API_KEY" not in scope.tmux("show-environment", "-g").stdout
    assert not (scope.session(sid) / keys.HANDOVER).exists()


def test_the_room_redacts_a_key_in_a_pane_log(scope):
    from textual.widgets import RichLog

    from scope_tui.store import sessions
    from scope_tui.store.atomic import write_text
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp

    project = Project(scope.scope_dir)
    s = sessions.create(project, "printed its key", driver="command", cmd="env")
    sessions.set_status(s.dir, "done")
    write_text(s.dir / sessions.PANE_LOG, f"ANTHROPIC_API_KEY={KEY}\nother=sk-ant-api03-{'Z' * 40}\n")
    app = ScopeApp(project, live_pane=False, sweep=False)

    async def main() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await asyncio.wait_for(app.settled.wait(), 20)
            app.select(s.id)
            log = app.query_one("#pane", RichLog)

            def shown() -> str:
                return "\n".join(line.text for line in log.lines)

            deadline = asyncio.get_running_loop().time() + 15
            while "ANTHROPIC_API_KEY=" not in shown() and asyncio.get_running_loop().time() < deadline:
                await pilot.pause(0.05)
            assert "ANTHROPIC_API_KEY=[redacted]" in shown() and "other=[redacted]" in shown(), shown()
            assert "KEYSTEST" not in shown() and "ZZZZ" not in shown()

    asyncio.run(main())


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


def test_scope_folder_is_the_persons_alone_and_keeps_its_state_out_of_git(scope):
    subprocess.run(["git", "init", "-q", str(scope.root)], check=True)
    sid = scope.spawn("--cmd", "echo hi", "a worker")
    scope.ok("wait", sid, "--timeout", "30")
    (scope.scope_dir / "skills" / "mine.md").write_text("# a learned skill\n")
    (scope.scope_dir / "config.toml").write_text('theme = "scope-dark"\n')
    assert _mode(scope.scope_dir) == 0o700
    files = [p for p in scope.scope_dir.rglob("*") if p.is_file() and "skills" not in p.parts]
    assert any(p.name == "pane.log" for p in files) and any(p.name == "events.jsonl" for p in files)
    assert {str(p.relative_to(scope.scope_dir)): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {
        "config.toml": oct(_mode(scope.scope_dir / "config.toml"))  # written by hand here, not by Scope
    }
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=scope.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = sorted(line[3:] for line in out.splitlines())
    assert listed == [".scope/.gitignore", ".scope/config.toml", ".scope/skills/mine.md"], out


def test_an_existing_scope_folder_is_upgraded_quietly(scope):
    old = scope.scope_dir
    (old / ".gitignore").unlink()
    os.chmod(old, 0o755)
    d = old / "sessions" / "1"
    d.mkdir(mode=0o755)
    (d / "result.md").write_text("old result\n")
    os.chmod(d / "result.md", 0o644)
    out = scope.run("poll")
    assert out.returncode == 0 and out.stderr == ""
    assert _mode(old) == 0o700 and _mode(d) == 0o700 and _mode(d / "result.md") == 0o600
    assert "sessions/" in (old / ".gitignore").read_text()


def test_what_engines_write_is_the_persons_alone_too(scope):
    """Not only the store's records: an RLM's trajectory and a consumed inbox are 0600 / 0700 as well
    (`scope doctor` listed them as open to others)."""
    log = scope.root / "big.log"
    log.write_text("".join(f"line {i} {'ERROR' if i % 7 == 0 else 'INFO'}\n" for i in range(400)))
    rlm = scope.spawn("--skill", "rlm", "--context", str(log), "how many lines contain ERROR?")
    talker = scope.spawn("--cmd", "sleep 30", "a command that gets a message")
    scope.ok("redirect", talker, "look at the ERROR lines first")
    scope.ok("wait", rlm, "--timeout", "60")
    d = scope.scope_dir / "sessions" / rlm
    assert (d / "trajectory.jsonl").is_file() and _mode(d / "trajectory.jsonl") == 0o600
    from scope_tui.store.sessions import take_messages

    take_messages(scope.scope_dir / "sessions" / talker)  # what a worker does with its inbox
    read = scope.scope_dir / "sessions" / talker / "inbox" / "read"
    assert read.is_dir() and _mode(read) == 0o700
    open_to_others = [
        str(p.relative_to(scope.scope_dir)) for p in scope.scope_dir.rglob("*") if _mode(p) & 0o077
    ]
    assert [p for p in open_to_others if p != "config.toml"] == []
    scope.ok("kill", talker, "--yes")


def test_every_key_a_driver_or_provider_names_is_in_the_registry():
    """A key the registry does not know would reach no worker (and be redacted nowhere)."""
    from scope_tui.store import drivers

    named = {k for row in drivers.TABLE.values() for k in row.get("keys", ())}
    named |= {k for ks in drivers.PROVIDER_KEYS.values() for k in ks}
    assert named and named <= set(keys.KEYS), named - set(keys.KEYS)
