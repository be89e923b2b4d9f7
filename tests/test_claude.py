"""The Claude Code driver end to end: real `claude` in a private tmux server, talking to the Messages stub.

Skips outside CI only when the `claude` CLI is absent; with CI=1 a missing CLI is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import wait_until

TASK = "Compute the answer to the great question.\nReply with one line."
USER_SETTINGS = b'{\n  "theme": "dark",\n  "permissions": {"allow": ["Bash(ls:*)"]}\n}\n'


@pytest.fixture
def claude_home(home, scope, stub) -> Path:
    """A private HOME that has answered Claude Code's first-use questions, with user settings to keep intact."""
    if shutil.which("claude") is None:
        if os.environ.get("CI"):
            pytest.fail("the claude CLI is missing in CI: npm install -g @anthropic-ai/claude-code")
        pytest.skip("the claude CLI is not installed (npm install -g @anthropic-ai/claude-code)")
    trusted = {str(scope.root): {"hasTrustDialogAccepted": True}}
    trusted[str(scope.root.resolve())] = {"hasTrustDialogAccepted": True}
    cfg = {
        "hasCompletedOnboarding": True,
        "customApiKeyResponses": {"approved": [stub.key[-20:]], "rejected": []},
        "projects": trusted,
    }
    (home / ".claude.json").write_text(json.dumps(cfg))
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_bytes(USER_SETTINGS)
    scope.env.update(stub.env)
    return home


def scripted(*replies: Any):
    """A stub callable: Claude Code's side requests (titles, no tools) get a short text; the agent's turns
    (requests with tools) get `replies` in order, then a plain text."""
    queue = list(replies)

    def answer(body: dict[str, Any]) -> Any:
        if not body.get("tools"):
            return {"text": "Scope test"}
        return queue.pop(0) if queue else {"text": "(no more script)"}

    return answer


def agent_requests(stub) -> list[Any]:
    return [r for r in stub.requests if r.body.get("tools")]


def choose(scope, pane: str, choice: str) -> None:
    """Pick `choice` in the list Claude Code shows, as a person does: arrows until the cursor is on it, Enter.
    Versions differ in the order, the default and the numbers (2.1.197: "❯ 1. Yes, I trust this folder"
    first; 2.1.332: "❯ No, exit" first, no numbers), so neither Enter alone nor a digit will do."""

    def lines() -> list[str]:
        return scope.tmux("capture-pane", "-p", "-t", pane).stdout.splitlines()

    def label(line: str) -> str:
        return re.sub(r"^\d+\.\s+", "", line.strip().lstrip("\u276f").strip())

    def where() -> tuple[int, int] | None:
        ls = lines()
        cursor = [i for i, ln in enumerate(ls) if ln.strip().startswith("\u276f")]
        target = [i for i, ln in enumerate(ls) if label(ln) == choice]
        return (cursor[-1], target[-1]) if cursor and target else None

    cursor, target = wait_until(where, 30, what=f"the choice {choice!r} on the screen")
    if target != cursor:
        scope.tmux("send-keys", "-t", pane, *["Down" if target > cursor else "Up"] * abs(target - cursor))
        wait_until(lambda: (w := where()) and w[0] == w[1], 30, what=f"the cursor on {choice!r}")
    scope.tmux("send-keys", "-t", pane, "Enter")


def test_claude_session_runs_the_task_to_done(scope, claude_home, stub):
    stub.respond_with(scripted({"text": "The answer is 42."}))
    sid = scope.spawn("--driver", "claude", TASK)
    st = scope.wait_status(sid, "done", "failed", "needs_input", timeout=90)
    assert st["status"] == "done", (st, scope.events(sid)[-8:])
    assert (scope.session(sid) / "result.md").read_text() == "The answer is 42.\n"
    assert st["tokens"]["output"] >= 10 and st["tokens"]["input"] > 0  # summed from claude's transcript
    types = [e["type"] for e in scope.events(sid)]
    for t in ("claude_session", "task_pasted", "prompt", "result"):
        assert t in types, (t, types)
    # the task went in as one prompt; Scope's instructions went in through the system prompt
    req = agent_requests(stub)[0]
    assert "Compute the answer to the great question." in req.last_user_text
    assert "Reply with one line." in req.last_user_text
    assert f"Scope session {sid}" in json.dumps(req.body.get("system"))
    # the person's own Claude Code settings are never written
    assert (claude_home / ".claude" / "settings.json").read_bytes() == USER_SETTINGS
    settings = json.loads((scope.session(sid) / "claude-settings.json").read_text())
    assert settings["permissions"]["defaultMode"] == "default"
    # claude is ended once the session is done; the pane's log keeps what it showed
    wait_until(
        lambda: "claude ended by Scope" in (scope.session(sid) / "pane.log").read_text(errors="replace"), 30
    )
    assert stub.key not in (scope.session(sid) / "pane.log").read_text(errors="replace")
    assert stub.key not in (scope.session(sid) / "events.jsonl").read_text()


def test_tool_calls_are_events_and_a_question_is_needs_input(scope, claude_home, stub):
    (scope.root / "notes.txt").write_text("the secret number is 7\n")
    stub.respond_with(
        scripted(
            {
                "tool_use": {
                    "name": "Bash",
                    "input": {"command": "cat notes.txt", "description": "read notes"},
                }
            },
            {"text": "The notes say 7. Should I also double it?"},
        )
    )
    sid = scope.spawn("--driver", "claude", "Read notes.txt and tell me the number.")
    st = scope.wait_status(sid, "needs_input", "done", "failed", timeout=90)
    evs = scope.events(sid)
    assert st["status"] == "needs_input", (st, evs[-8:])
    assert st["reason"].startswith("asks: ")
    calls = [e for e in evs if e["type"] == "tool_call"]
    assert calls and calls[0]["tool"] == "Bash" and calls[0]["kind"] == "peek", calls
    assert any(e["type"] == "tool_result" and e.get("ok") for e in evs)
    # the tool really ran: its output reached the model
    wait_until(lambda: len(agent_requests(stub)) >= 2, 30)
    assert "the secret number is 7" in agent_requests(stub)[1].text
    # the person answers in the pane (a redirect pastes it): the session runs again and finishes
    stub.respond_with(scripted({"text": "Doubled: 14."}))
    scope.ok("redirect", sid, "yes please")
    st = scope.wait_status(sid, "done", "failed", timeout=60)
    assert st["status"] == "done"
    assert (scope.session(sid) / "result.md").read_text() == "Doubled: 14.\n"


def test_killed_claude_ends_failed_with_a_reason(scope, claude_home, stub):
    stub.respond_with(scripted({"text": "Which file do you mean?"}))
    sid = scope.spawn("--driver", "claude", "Fix the bug.")
    scope.wait_status(sid, "needs_input", timeout=90)
    pid = next(e["pid"] for e in scope.events(sid) if e["type"] == "claude_started")
    os.kill(pid, signal.SIGKILL)
    st = scope.wait_status(sid, "failed", timeout=30)
    assert st["reason"] == "crashed"
    assert any("signal 9" in str(e.get("error")) for e in scope.events(sid) if e["type"] == "error")


def test_a_deviating_tool_call_is_blocked_by_the_hook(scope, claude_home, stub):
    # rlm's rules say: peek at the context before spawning. Spawning first is the deviation.
    scope.env["SCOPE_REFLECT_OFFLINE"] = "1"
    stub.respond_with(
        scripted(
            {"tool_use": {"name": "Bash", "input": {"command": 'scope spawn "summarise part 1"'}}},
            {"text": "Understood, I will look first. Nothing else to do."},
        )
    )
    sid = scope.spawn("--driver", "claude", "--skill", "rlm", "Summarise the log in notes.txt.")
    st = scope.wait_status(sid, "done", "failed", "needs_input", timeout=90)
    evs = scope.events(sid)
    assert st["status"] == "done", (st, evs[-8:])
    blocked = [e for e in evs if e["type"] == "tool_call" and e.get("blocked")]
    assert blocked and blocked[0]["kind"] == "spawn", [e for e in evs if e["type"] == "tool_call"]
    assert any(e["type"] == "deviation" for e in evs)
    # the call never ran: no child session exists
    assert sorted(p.name for p in (scope.scope_dir / "sessions").iterdir()) == [sid]
    # the skill went in with the system prompt; claude got the reflection as the reason its call was refused
    assert "# Skill: rlm@v" in json.dumps(agent_requests(stub)[0].body.get("system"))
    second = agent_requests(stub)[1]
    assert blocked[0]["reason"][:60] in second.text


def test_a_first_use_question_is_needs_input_not_a_hang(scope, claude_home, stub):
    # this folder was never trusted: Claude Code asks before it takes any input
    cfg = json.loads((claude_home / ".claude.json").read_text())
    cfg["projects"] = {}
    (claude_home / ".claude.json").write_text(json.dumps(cfg))
    stub.respond_with(scripted({"text": "Trusted and done."}))
    sid = scope.spawn("--driver", "claude", "Say done.")
    st = scope.wait_status(sid, "needs_input", "done", "failed", timeout=90)
    assert st["status"] == "needs_input" and "first-use" in st["reason"], st
    assert f"scope attach {sid} and choose 'Yes, I trust this folder'" in st["reason"], st
    assert not agent_requests(stub)  # nothing was typed into the question
    # the person answers it as the reason says; the task then goes in by itself
    choose(scope, scope.meta(sid)["tmux"]["pane"], "Yes, I trust this folder")
    st = scope.wait_status(sid, "done", "failed", timeout=90)
    assert st["status"] == "done"
    assert (scope.session(sid) / "result.md").read_text() == "Trusted and done.\n"


def test_stop_with_a_running_child_waits_and_wakes_when_it_finishes(scope, claude_home, stub):
    spawn_child = "scope spawn --cmd 'while [ ! -f go ]; do sleep 0.1; done; echo child-result' 'part one'"
    stub.respond_with(
        scripted(
            {"tool_use": {"name": "Bash", "input": {"command": spawn_child}}},
            {"text": "Started the child."},  # Stop: a child runs -> blocked, claude goes on
            {"text": "Still waiting for it."},  # Stop again: waiting; the driver wakes claude later
            {"text": "Merged: child-result."},
        )
    )
    # a session starts a shell command only when the person's trusted config allows it
    (scope.scope_dir / "config.toml").write_text("[sessions]\nallow_command_workers = true\n")
    scope.ok("trust")
    sid = scope.spawn("--driver", "claude", "Do it in a child.")
    scope.wait_status(sid, "waiting", "done", "failed", timeout=90)
    st = scope.state(sid)
    assert st["status"] == "waiting", (st, scope.events(sid)[-8:])
    child = f"{sid}.1"
    assert scope.status(child) in ("pending", "running")  # under load its worker may not have started yet
    assert "stop_blocked" in [e["type"] for e in scope.events(sid)]
    (scope.root / "go").write_text("")
    st = scope.wait_status(sid, "done", "failed", timeout=90)
    assert st["status"] == "done"
    assert scope.status(child) == "done"
    assert (scope.session(sid) / "result.md").read_text() == "Merged: child-result.\n"
    woke = agent_requests(stub)[-1].last_user_text
    assert "child sessions have finished" in woke and f"{child} done" in woke


def _alive(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except (FileNotFoundError, IndexError):
        return False


def test_a_killed_worker_is_reaped_and_takes_claude_with_it(scope, claude_home, stub):
    stub.respond_with(scripted({"text": "Which file do you mean?"}))
    sid = scope.spawn("--driver", "claude", "Fix the bug.")
    scope.wait_status(sid, "needs_input", timeout=90)
    claude_pid = next(e["pid"] for e in scope.events(sid) if e["type"] == "claude_started")
    worker_pid = scope.worker_pid(sid)
    os.kill(worker_pid, signal.SIGKILL)
    st = scope.wait_status(sid, "failed", timeout=30)  # the window's shell runs the reaper
    assert st["reason"] == "crashed"
    wait_until(lambda: not _alive(claude_pid), 30, what="claude to end with its worker")


def test_a_worktree_claude_session_edits_only_its_worktree(scope, claude_home, stub):
    import subprocess

    ident = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        if args[0] == "add":
            (scope.root / "app.py").write_text("print('v1')\n")
        subprocess.run(["git", "-C", str(scope.root), *ident, *args], check=True, capture_output=True)

    def write_in_cwd(body: dict[str, Any]) -> Any:
        if not body.get("tools"):
            return {"text": "Scope test"}
        if len([m for m in body["messages"] if m["role"] == "user"]) > 1:
            return {"text": "Wrote app2.py."}
        # a new file: Claude Code will not overwrite a file it has not read
        path = str(scope.scope_dir / "worktrees" / "1" / "app2.py")  # the first session is 1
        return {"tool_use": {"name": "Write", "input": {"file_path": path, "content": "print('v2')\n"}}}

    stub.respond_with(write_in_cwd)
    sid = scope.spawn("--driver", "claude", "--worktree", "Write app2.py printing v2.")
    assert sid == "1"
    st = scope.wait_status(sid, "done", "failed", "needs_input", timeout=90)
    assert st["status"] == "done", (st, scope.events(sid)[-8:])
    out = scope.ok("diff", sid)
    assert "+++ b/app2.py" in out and "+print('v2')" in out
    assert not (scope.root / "app2.py").exists()  # the main checkout is untouched


def test_a_permission_prompt_is_needs_input(scope, claude_home, stub):
    stub.respond_with(
        scripted(
            {
                "tool_use": {
                    "name": "Bash",
                    "input": {"command": "touch made-by-claude", "description": "make it"},
                }
            },
            {"text": "Made it."},
        )
    )
    sid = scope.spawn("--driver", "claude", "Create the file made-by-claude.")
    st = scope.wait_status(sid, "needs_input", "done", "failed", timeout=90)
    assert st["status"] == "needs_input" and "permission" in st["reason"].lower(), st
    assert not (scope.root / "made-by-claude").exists()
    # the person allows it in the pane: the call runs and the session finishes
    choose(scope, scope.meta(sid)["tmux"]["pane"], "Yes")
    st = scope.wait_status(sid, "done", "failed", timeout=60)
    assert st["status"] == "done" and (scope.root / "made-by-claude").exists()


def test_the_api_key_question_is_needs_input_and_no_part_of_the_key_is_logged(scope, claude_home, stub):
    cfg = json.loads((claude_home / ".claude.json").read_text())
    del cfg["customApiKeyResponses"]
    (claude_home / ".claude.json").write_text(json.dumps(cfg))
    stub.respond_with(scripted({"text": "Key approved, done."}))
    sid = scope.spawn("--driver", "claude", "Say done.")
    st = scope.wait_status(sid, "needs_input", "done", "failed", timeout=90)
    assert st["status"] == "needs_input" and "choose 'Yes' to use ANTHROPIC_API_KEY" in st["reason"], st
    pane = scope.meta(sid)["tmux"]["pane"]
    wait_until(lambda: stub.key[-20:] in scope.tmux("capture-pane", "-p", "-t", pane).stdout, 30)
    choose(scope, pane, "Yes")  # the default is "No (recommended)"
    st = scope.wait_status(sid, "done", "failed", timeout=90)
    assert st["status"] == "done"
    log = scope.session(sid) / "pane.log"
    wait_until(lambda: "claude ended by Scope" in log.read_text(errors="replace"), 30)  # the log was resumed
    assert stub.key[-20:] not in log.read_text(errors="replace")
    assert (claude_home / ".claude" / "settings.json").read_bytes() == USER_SETTINGS


def test_a_lost_claude_session_resumes_its_conversation_with_claude_resume(scope, claude_home, stub):
    import threading

    (scope.root / "notes.txt").write_text("the launch code is 4711\n")
    held = threading.Event()
    release = threading.Event()
    turns = []

    def answer(body: dict[str, Any]) -> Any:
        if not body.get("tools"):
            return {"text": "Scope test"}
        turns.append(body)
        if len(turns) == 1:
            return {"tool_use": {"name": "Read", "input": {"file_path": str(scope.root / "notes.txt")}}}
        if len(turns) == 2:  # the model is slow to answer: the machine goes down meanwhile
            held.set()
            release.wait(60)
            return {"text": "(too late)"}
        return {"text": "Resumed: the code is 4711."}

    stub.respond_with(answer)
    sid = scope.spawn("--driver", "claude", "Read notes.txt and tell me the launch code.")
    wait_until(held.is_set, 90, what="claude's second turn")
    claude_id = scope.state(sid)["claude_session"]
    scope.kill_server()
    scope.run("poll", sid)
    st = scope.wait_status(sid, "failed", "killed", "done")
    release.set()
    assert (st["status"], st["reason"]) == ("failed", "lost"), st

    out = scope.ok("resume", sid)
    new = out.split("resumed as ")[1].split()[0]
    st = scope.wait_status(new, "done", "failed", "needs_input", timeout=90)
    assert st["status"] == "done", (st, scope.events(new)[-8:])
    assert (scope.session(new) / "result.md").read_text() == "Resumed: the code is 4711.\n"
    assert scope.meta(new)["resumed_from"] == sid
    started = next(e for e in scope.events(new) if e["type"] == "claude_resumed")
    assert started["claude_session_id"] == claude_id
    # what the model was sent holds the old conversation (the task, the file read), then the word to go on
    sent = json.dumps(turns[-1]["messages"])
    assert "tell me the launch code" in sent and "the launch code is 4711" in sent
    assert "[resumed]" in agent_requests(stub)[-1].last_user_text
