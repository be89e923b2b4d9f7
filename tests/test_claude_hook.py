"""`scope hook <event>` on its own (no Claude Code needed): what each hook writes, and that it never fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scope_tui.store import sessions
from scope_tui.store.project import Project
from scope_tui.workers.claude_hooks import classify, is_question, usage


@pytest.fixture
def sess(scope) -> Path:
    s = sessions.create(Project(scope.scope_dir), "do the thing", driver="claude")
    sessions.set_status(s.dir, "running")
    return s.dir


def hook(scope, d: Path, event: str, payload: dict | str) -> str:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    p = scope.run("hook", event, "--session-dir", str(d), input=raw, env=scope.secret(d.name))
    assert p.returncode == 0, p.stderr
    return p.stdout


def state(d: Path) -> dict:
    return json.loads((d / "state.json").read_text())


def types(scope, d: Path) -> list[str]:
    return [e["type"] for e in scope.events(d.name)]


def test_stop_writes_the_result_and_done(scope, sess):
    transcript = sess / "t.jsonl"
    lines = [
        {
            "type": "assistant",
            "message": {
                "id": "m1",
                "model": "claude-haiku-4-5",
                "usage": {"input_tokens": 100, "output_tokens": 20},
                "content": [{"type": "text", "text": "x"}],
            },
        },
        {
            "type": "assistant",
            "message": {
                "id": "m1",
                "model": "claude-haiku-4-5",
                "usage": {"input_tokens": 100, "output_tokens": 20},
                "content": [],
            },
        },
        {
            "type": "assistant",
            "message": {
                "id": "m2",
                "model": "claude-haiku-4-5",
                "usage": {"input_tokens": 300, "output_tokens": 30},
                "content": [],
            },
        },
    ]
    transcript.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = hook(
        scope,
        sess,
        "Stop",
        {"last_assistant_message": "All done: 3 files fixed.", "transcript_path": str(transcript)},
    )
    assert out == ""
    st = state(sess)
    assert st["status"] == "done"
    assert (sess / "result.md").read_text() == "All done: 3 files fixed.\n"
    assert st["tokens"] == {"input": 400, "output": 50}  # each message counted once
    assert st["cost"] == pytest.approx((400 * 1.0 + 50 * 5.0) / 1e6)


def test_a_question_is_needs_input_and_a_prompt_revives(scope, sess):
    hook(scope, sess, "Stop", {"last_assistant_message": "I found two configs.\nWhich one should I change?"})
    st = state(sess)
    assert st["status"] == "needs_input" and "Which one should I change?" in st["reason"]
    assert not (sess / "result.md").exists()
    hook(scope, sess, "UserPromptSubmit", {"prompt": "the second one"})
    assert state(sess)["status"] == "running"
    assert "prompt" in types(scope, sess)


def test_permission_prompt_is_needs_input_until_the_tool_runs(scope, sess):
    hook(
        scope,
        sess,
        "Notification",
        {"message": "Claude needs your permission to use Bash", "notification_type": "permission_prompt"},
    )
    st = state(sess)
    assert st["status"] == "needs_input" and "permission" in st["reason"]
    hook(scope, sess, "PostToolUse", {"tool_name": "Bash", "tool_response": {"stdout": "ok"}})
    assert state(sess)["status"] == "running"


def test_stop_with_running_children_is_blocked_then_waiting(scope, sess):
    project = Project(scope.scope_dir)
    child = sessions.create(project, "part 1", parent=sess.name, driver="command")
    out = json.loads(
        hook(scope, sess, "Stop", {"last_assistant_message": "Spawned.", "stop_hook_active": False})
    )
    assert out["decision"] == "block" and f"scope wait {child.id}" in out["reason"]
    assert state(sess)["status"] == "running"
    hook(scope, sess, "Stop", {"last_assistant_message": "Still waiting.", "stop_hook_active": True})
    st = state(sess)
    assert st["status"] == "waiting" and child.id in st["reason"]
    sessions.set_status(child.dir, "done")
    hook(scope, sess, "Stop", {"last_assistant_message": "Both parts merged."})
    assert state(sess)["status"] == "done"


def test_pre_tool_use_records_the_action(scope, sess):
    out = hook(
        scope,
        sess,
        "PreToolUse",
        {"tool_name": "Grep", "tool_input": {"pattern": "TODO"}, "tool_use_id": "t1"},
    )
    assert out == ""  # no skill, no rules: nothing to block
    ev = [e for e in scope.events(sess.name) if e["type"] == "tool_call"][-1]
    assert ev["kind"] == "grep" and ev["pattern"] == "TODO" and not ev.get("blocked")
    assert state(sess)["phase"] == "act"


def test_pre_tool_use_denies_a_deviation_with_the_reflection(scope, sess, monkeypatch):
    # in-process: the hook's answer when the detector returns a reflection
    from scope_tui.gepa import online
    from scope_tui.workers import claude_hooks

    monkeypatch.setattr(online, "before_action", lambda project, d, action: "Peek before you spawn.")
    out = claude_hooks.handle(
        "PreToolUse", {"tool_name": "Bash", "tool_input": {"command": "scope spawn 'x'"}}, sess
    )
    assert out == {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": "Peek before you spawn.",
        }
    }
    ev = [e for e in scope.events(sess.name) if e["type"] == "tool_call"][-1]
    assert ev["blocked"] is True and ev["kind"] == "spawn"


def test_hook_never_fails(scope, sess, tmp_path):
    assert hook(scope, sess, "Stop", "{not json") == ""
    assert any("bad JSON" in str(e.get("error")) for e in scope.events(sess.name))
    # no session at all: still exit 0, so claude is never stopped by Scope's bookkeeping
    p = scope.run("hook", "Stop", "--session-dir", str(tmp_path / "nope"), input="{}")
    assert p.returncode == 0
    p = scope.run("hook", "Stop", input="{}", env={"SCOPE_SESSION_ID": ""})
    assert p.returncode == 0
    # a terminal session stays as it was
    sessions.set_status(sess, "killed", reason="by a person")
    hook(scope, sess, "Stop", {"last_assistant_message": "late answer"})
    assert state(sess)["status"] == "killed" and not (sess / "result.md").exists()


@pytest.mark.parametrize(
    ("tool", "inp", "kind"),
    [
        ("Bash", {"command": 'scope spawn "part 1" --driver claude'}, "spawn"),
        ("Bash", {"command": "/x/.venv/bin/python -m scope_tui spawn task"}, "spawn"),
        ("Bash", {"command": "cd src && head -n 20 main.py"}, "peek"),
        ("Bash", {"command": "rg -n TODO ."}, "grep"),
        ("Bash", {"command": "pytest -q"}, "exec"),
        ("Bash", {"command": "sed -n 1,20p a.py"}, "peek"),
        ("Bash", {"command": "sed -i s/a/b/ a.py"}, "exec"),
        ("LS", {"path": "/a"}, "peek"),
        ("Bash", {"command": "scope wait 1.1"}, "exec"),
        ("Read", {"file_path": "/a/b"}, "peek"),
        ("Grep", {"pattern": "x"}, "grep"),
        ("Edit", {"file_path": "/a/b"}, "edit"),
        ("WebFetch", {"url": "http://x"}, "tool"),
    ],
)
def test_classify(tool, inp, kind):
    assert classify(tool, inp)["kind"] == kind


def test_is_question_and_usage_edge_cases(tmp_path):
    assert is_question("Shall I go on?") and is_question("Which one?**\n\n")
    assert not is_question("Done. Why? Because it works.") and not is_question("")
    assert usage(None) is None and usage(str(tmp_path / "missing.jsonl")) is None


def test_settings_file_hooks_every_event_and_never_bypasses(tmp_path):
    import sys

    from scope_tui.workers.claude_settings import HOOK_EVENTS, settings

    s = settings(tmp_path / "sessions" / "3", ["Bash(pytest:*)"])
    assert (
        set(s["hooks"])
        == set(HOOK_EVENTS)
        == {
            "SessionStart",
            "UserPromptSubmit",
            "PreToolUse",
            "PostToolUse",
            "Stop",
            "Notification",
        }
    )
    for ev, entries in s["hooks"].items():
        cmd = entries[0]["hooks"][0]["command"]
        assert cmd.startswith(sys.executable) and f"hook {ev} --session-dir" in cmd
    assert s["hooks"]["PreToolUse"][0]["matcher"] == "*"
    assert s["permissions"]["defaultMode"] == "default" and "bypass" not in json.dumps(s).lower()
    assert {"Bash(scope:*)", "Read", "Grep", "Glob", "Edit", "Write", "Bash(pytest:*)"} <= set(
        s["permissions"]["allow"]
    )


def test_missing_claude_cli_fails_with_what_to_do(scope):
    (scope.scope_dir / "config.toml").write_text('[claude]\nbin = "/nonexistent/claude"\n')
    scope.ok("trust")  # a program named in config.toml runs only in a trusted project
    sid = scope.spawn("--driver", "claude", "hello")
    st = scope.wait_status(sid, "failed", timeout=30)
    assert "not installed" in st["reason"] and "npm install -g @anthropic-ai/claude-code" in st["reason"]
