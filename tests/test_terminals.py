"""Terminals (#13 item 6), through the real CLI and real tmux: what Scope prints from state cannot drive
the person's terminal, and what it pastes into a pane cannot end a paste or interrupt the worker."""

from __future__ import annotations

import json

from scope_tui.tmux import pasteable

TITLE = "\x1b]0;OWNED\x07"


def test_tree_poll_wait_and_log_escape_control_characters_from_state(scope):
    sid = scope.spawn("--cmd", r"printf 'out \033[2J\033]0;OWNED\007 \302\233 end\n'", f"task {TITLE} here")
    wait = scope.run("wait", sid, "--timeout", "30")
    assert wait.returncode == 0
    for out in (
        wait.stdout,
        scope.ok("tree"),
        scope.ok("poll"),
        scope.ok("poll", "--json"),
        scope.ok("log", sid),
    ):
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out, repr(out)
    assert "task \\x1b]0;OWNED\\x07 here" in scope.ok("tree")
    assert "out \\x1b[2J\\x1b]0;OWNED\\x07 \\x9b end" in wait.stdout
    # JSON stays JSON: its own escapes, decoded back to the task as it was written
    row = json.loads(scope.ok("poll", "--json").splitlines()[0])
    assert row["title"] == f"task {TITLE} here"


def test_a_redirect_cannot_end_the_paste_or_interrupt_the_worker(scope):
    sid = scope.spawn("--cmd", 'read line; echo "got:$line"', "wait for a line")
    scope.wait_status(sid, "running")
    scope.ok("redirect", sid, "hello\x1b[201~\x03 world\x04")
    st = scope.wait_status(sid, "done", "failed", "killed", timeout=30)
    assert st["status"] == "done", st
    assert (scope.session(sid) / "result.md").read_text().strip().endswith("got:hello world")


def test_pasteable_keeps_text_and_drops_what_a_terminal_acts_on():
    assert pasteable("line one\n\tline two\r\n") == "line one\n\tline two\n"
    assert pasteable("a\x1b[201~b\x9b201~c\x1b[31md\x00\x7f") == "abc[31md"
