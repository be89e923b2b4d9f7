"""The built-in worker with the anthropic backend: the real SDK against the Messages-API stub, in real tmux."""

from __future__ import annotations

import json
import re

import pytest

from scope_tui.store import config
from scope_tui.store.project import Project
from tests.support.helpers import wait_until

END = ("done", "failed", "escalated", "killed")


@pytest.fixture
def api(scope, stub):
    """The project's CLI talks to the stub: key and base URL in the spawner's env, short retry waits."""
    scope.env.update(stub.env)
    scope.env["SCOPE_RETRY_CAP"] = "0.2"
    yield stub
    assert_key_nowhere(scope, stub.key)


def assert_key_nowhere(scope, key):
    for path in scope.scope_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert key.encode() not in data and key[-20:].encode() not in data, f"key leaked into {path}"


def use(name, **inp):
    return {"name": name, "input": inp}


def tool_results(req):
    """The tool_result texts in the last user message of a recorded request."""
    last = req.body["messages"][-1]
    return [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


def test_multi_turn_tool_use_spawns_a_child_and_waits(scope, api):
    def script(body):
        n = len(api.requests)
        if n == 1:
            return {
                "text": "I'll delegate.",
                "tool_use": use("spawn", task="say hi", cmd="echo hi-from-child"),
            }
        if n == 2:
            spawned = tool_results(api.requests[-1])[0]["content"]
            child = re.search(r"session ([\d.]+)", spawned).group(1)
            return {"tool_use": use("wait", ids=[child])}
        return {
            "tool_use": use("finish", result="child said: " + tool_results(api.requests[-1])[0]["content"])
        }

    api.respond_with(script)
    sid = scope.spawn("--model", "claude-test-1", "delegate a greeting")
    st = scope.wait_status(sid, *END, timeout=90)
    assert st["status"] == "done", st
    child = f"{sid}.1"
    assert scope.meta(child)["parent"] == sid and scope.status(child) == "done"
    assert len(api.requests) == 3
    assert all(r.body["model"] == "claude-test-1" for r in api.requests)
    assert {t["name"] for t in api.requests[0].body["tools"]} >= {
        "bash",
        "spawn",
        "wait",
        "finish",
        "escalate",
        "ask",
    }
    assert "hi-from-child" in (scope.session(sid) / "result.md").read_text()
    calls = [e for e in scope.events(sid) if e["type"] == "llm_call"]
    assert len(calls) == 3 and calls[0]["model"] == "claude-test-1" and calls[0]["input_tokens"] > 0
    assert st["tokens"]["input"] == sum(c["input_tokens"] for c in calls)
    assert st["model"] == "claude-test-1"


def test_redirect_mid_run_changes_the_next_action(scope, api):
    api.push(text="first look", tool_use=use("bash", command="echo looked"))
    api.respond_with(
        lambda body: (
            {"tool_use": use("finish", result="switched to PINEAPPLE")}
            if "PINEAPPLE" in json.dumps(body["messages"][-1])
            else {"tool_use": use("finish", result="carried on unchanged")}
        )
    )
    api.hold()
    sid = scope.spawn("--model", "claude-test-1", "look around")
    api.wait_requests(1)
    scope.ok("redirect", sid, "stop that and write about PINEAPPLE instead")
    assert list((scope.session(sid) / "inbox").glob("*.json")), "redirect not in the inbox"
    api.release()
    st = scope.wait_status(sid, *END, timeout=90)
    assert st["status"] == "done"
    assert "PINEAPPLE" in api.requests[1].last_user_text and "PINEAPPLE" not in api.requests[0].text
    assert (scope.session(sid) / "result.md").read_text().strip() == "switched to PINEAPPLE"
    assert any(e["type"] == "inbox" and e["kind"] == "redirect" for e in scope.events(sid))


def test_budget_stops_the_session_before_the_call_that_would_pass_it(scope, api):
    config.update(Project(scope.scope_dir).config_path, {"prices": {"claude-test-1": [1000.0, 0.0]}})
    # each reply costs $1.00 (1000 input tokens at $1000 a million); the budget is $1.50
    api.respond_with(
        lambda body: {"tool_use": use("bash", command="echo again"), "usage": {"input_tokens": 1000}}
    )
    sid = scope.spawn("--model", "claude-test-1", "--budget", "1.5", "keep going")
    st = scope.wait_status(sid, *END, timeout=90)
    assert st["status"] == "escalated" and st["reason"] == "budget", st
    assert len(api.requests) == 1  # the second call would have passed $1.50: not made
    assert st["cost"] == pytest.approx(1.0) and st["cost"] <= 1.5
    esc = [e for e in scope.events(sid) if e["type"] == "escalation"]
    assert esc and esc[0]["reason"] == "budget" and "budget" in esc[0]["details"]
    assert "budget reached" in (scope.session(sid) / "result.md").read_text()


def test_rate_limit_is_retried_then_succeeds(scope, api):
    api.push(error=429, retry_after=0.1).push(error=529).push(tool_use=use("finish", result="made it"))
    sid = scope.spawn("--model", "claude-test-1", "try hard")
    st = scope.wait_status(sid, *END, timeout=90)
    assert st["status"] == "done" and len(api.requests) == 3
    retries = [e for e in scope.events(sid) if e["type"] == "retry"]
    assert [r["why"][:3] for r in retries] == ["429", "529"]
    assert retries[0]["wait"] == pytest.approx(0.1)


def test_bad_key_fails_with_one_clear_line(scope, api):
    api.push(error=401)
    sid = scope.spawn("--model", "claude-test-1", "anything")
    st = scope.wait_status(sid, *END, timeout=90)
    assert st["status"] == "failed"
    assert "refused the key (401" in st["reason"] and "ANTHROPIC_API_KEY" in st["reason"]
    assert "\n" not in st["reason"]
    pane = scope.session(sid) / "pane.log"
    text = wait_until(lambda: pane.read_text(errors="replace") if "failed" in pane.read_text() else None)
    assert "Traceback" not in text and "failed: the API refused the key" in text
    poll = scope.ok("poll", sid)
    assert "refused the key" in poll


def test_malformed_tool_calls_end_in_a_clear_failure(scope, api):
    api.respond_with(lambda body: {"tool_use": use("bash", cmd="ls")})  # wrong field name every time
    sid = scope.spawn("--model", "claude-test-1", "list things")
    st = scope.wait_status(sid, *END, timeout=90)
    assert st["status"] == "failed" and "malformed tool calls 3 times" in st["reason"]
    errs = [e for e in scope.events(sid) if e["type"] == "error" and "missing command" in e.get("error", "")]
    assert len(errs) == 3
    assert "is_error" in json.dumps(api.requests[1].body["messages"][-1])


def test_ask_waits_for_an_answer(scope, api):
    api.push(tool_use=use("ask", question="Which colour?"))
    api.respond_with(
        lambda body: {"tool_use": use("finish", result=tool_results(api.requests[-1])[0]["content"])}
    )
    sid = scope.spawn("--model", "claude-test-1", "paint it")
    st = scope.wait_status(sid, "needs_input", *END, timeout=90)
    assert st["status"] == "needs_input" and st["reason"] == "Which colour?"
    scope.ok("redirect", sid, "teal")
    st = scope.wait_status(sid, *END, timeout=90)
    assert st["status"] == "done"
    assert "teal" in (scope.session(sid) / "result.md").read_text()


def test_killed_mid_call_keeps_a_result(scope, api):
    import threading

    killed = threading.Event()

    def script(body):
        if len(api.requests) == 1:
            return {"tool_use": use("bash", command="echo found-something")}
        killed.wait(60)  # the second model call hangs until the kill (however slow the machine)
        return {"tool_use": use("bash", command="echo more")}

    api.respond_with(script)
    sid = scope.spawn("--model", "claude-test-1", "dig")
    wait_until(lambda: any(e["type"] == "exec" for e in scope.events(sid)), what="first tool call")
    api.wait_requests(2)
    try:
        scope.ok("kill", sid)
        assert scope.wait_status(sid, *END, timeout=90)["status"] == "killed"
    finally:
        killed.set()
    result = wait_until(lambda: (scope.session(sid) / "result.md").exists(), what="result.md after the kill")
    text = (scope.session(sid) / "result.md").read_text()
    assert result and "Interrupted" in text and "found-something" in text


def test_builtin_children_call_the_model_in_parallel(scope, api):
    import threading

    both = threading.Barrier(2, timeout=80)  # each child's call waits for the other's: proof, not a stopwatch

    def script(body):
        me = re.search(r"session id is ([\d.]+);", body["system"]).group(1)
        n_mine = sum(1 for r in api.requests if f"session id is {me};" in r.body["system"])
        if "." in me:
            try:
                both.wait()
                return {"tool_use": use("finish", result=f"child {me} met its sibling")}
            except threading.BrokenBarrierError:
                return {"tool_use": use("finish", result=f"child {me} ran alone")}
        if n_mine == 1:
            return {"tool_use": [use("spawn", task="part one"), use("spawn", task="part two")]}
        if n_mine == 2:
            return {"tool_use": use("wait", ids=[f"{me}.1", f"{me}.2"])}
        return {"tool_use": use("finish", result=tool_results(api.requests[-1])[0]["content"])}

    api.respond_with(script)
    sid = scope.spawn("--model", "claude-test-1", "split in two")
    st = scope.wait_status(sid, *END, timeout=120)
    assert st["status"] == "done", st
    result = (scope.session(sid) / "result.md").read_text()
    assert f"child {sid}.1 met its sibling" in result and f"child {sid}.2 met its sibling" in result
    assert all(scope.meta(f"{sid}.{i}")["driver"] == "builtin" for i in (1, 2))
