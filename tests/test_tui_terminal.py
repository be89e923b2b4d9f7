"""The control room in a real terminal: a tmux pane of the test's own outer server runs `scope`, enter
attaches to a session's window (App.suspend + tmux attach), detaching brings the room back, and q
leaves the worker running."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from tests.support.helpers import wait_until


@pytest.fixture
def outer():
    sock = f"scope-test-outer-{os.getpid()}"

    def tmux(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True)

    yield tmux
    tmux("kill-server")


def test_attach_suspends_and_detach_comes_back(scope, outer):
    sid = scope.spawn("--cmd", "sleep 120", "Sleep in a window")
    scope.wait_status(sid, "running")
    env = scope.environ()
    cmd = " ".join(
        [
            "env -u TMUX",
            f"SCOPE_DIR={shlex.quote(env['SCOPE_DIR'])}",
            f"HOME={shlex.quote(env['HOME'])}",
            f"TMUX_TMPDIR={shlex.quote(env['TMUX_TMPDIR'])}",
            "TERM=xterm-256color",
            shlex.quote(sys.executable),
            "-m scope_tui",
        ]
    )
    p = outer("new-session", "-d", "-x", "150", "-y", "45", "-c", str(scope.root), cmd)
    assert p.returncode == 0, p.stderr

    def screen() -> str:
        return outer("capture-pane", "-p").stdout

    wait_until(lambda: "Sleep in a window" in screen() and "running" in screen(), 30, what="the room")
    outer("send-keys", "Enter")
    wait_until(lambda: "$ sleep 120" in screen() and "Sleep in a window" not in screen(), 20, what="attached")
    outer("send-keys", "C-b", "d")  # detach from the session's tmux: the room must come back
    wait_until(lambda: "Sleep in a window" in screen(), 20, what="the room after detaching")
    wait_until(lambda: "back from" in screen(), 10, what="the 'back from' toast")
    outer("send-keys", "q")
    wait_until(
        lambda: outer("list-panes").returncode != 0 or "Sleep in a window" not in screen(), 20, what="quit"
    )
    assert scope.status(sid) == "running"  # q leaves every worker running
