"""A model worker (the built-in driver, the real SDK against the Messages-API stub) escalates with a reason,
and the levels above act on it: the supervisor passes it up, the orchestrator decomposes."""

from __future__ import annotations

from scope_tui import api
from scope_tui.store.project import Project


def test_a_model_workers_task_too_big_becomes_a_map_reduce_in_the_tree(scope, stub, monkeypatch):
    """The worker's escalation reaches the strategic level, whose configured model decides in one call
    given the subtree's summary: its decision and why are the orchestrator's `decision` event."""
    import json

    from scope_tui.store import config

    for k, v in stub.env.items():  # the spawner's env reaches every window
        monkeypatch.setenv(k, v)
    config.update(scope.scope_dir / "config.toml", {"models": {"strategic": "claude-strategic-test"}})

    def script(body):
        if body["model"] == "claude-strategic-test":
            return {"text": json.dumps({"decision": "decompose", "why": "40 GB is too much for one reader"})}
        return {
            "tool_use": {"name": "escalate", "input": {"reason": "task_too_big", "details": "40 GB of logs"}}
        }

    stub.respond_with(script)
    run = api.spawn(
        Project(scope.scope_dir),
        "find the slowest request in the logs",
        driver="orchestrator",
        level="strategic",
        params={
            # a real ralph run whose iteration is a built-in model worker
            "candidates": [{"skill": "ralph", "model": "claude-test-1"}],
            "decompose": {
                "skill": "map-reduce",
                "params": {
                    "parts": ["shard 1: 90ms", "shard 2: 120ms"],
                    "cmd": "cat {file}",
                    "reduce_cmd": "cat {results}",
                },
            },
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=60)
    assert scope.status(run.id) == "done", scope.state(run.id)
    worker = f"{run.id}.1.1"
    assert scope.meta(worker)["driver"] == "builtin" and scope.meta(worker)["role"] == "iteration"
    assert (scope.status(worker), scope.state(worker)["reason"]) == ("escalated", "task_too_big")
    assert [r.body["model"] for r in stub.requests] == ["claude-test-1", "claude-strategic-test"]
    assert "<promise>DONE</promise>" in stub.requests[0].text  # ralph's own prompt reached the model
    asked = json.loads(stub.requests[1].body["messages"][0]["content"])  # one call, with the subtree
    assert asked["trigger"] == "escalation" and asked["escalation"]["reason"] == "task_too_big"
    assert "40 GB of logs" in asked["escalation"]["details"] and asked["subtree"]["pattern"] == "ralph"
    assert "decompose" in asked["options"] and "ask_person" in asked["options"]
    sup = scope.events(f"{run.id}.1")
    [up] = [e for e in sup if e["type"] == "escalation"]
    assert up["reason"] == "task_too_big" and "40 GB of logs" in up["details"] and up["to"] == run.id
    [d] = [e for e in scope.events(run.id) if e["type"] == "decision" and e["what"] == "decompose"]
    assert (d["by"], d["model"]) == ("model", "claude-strategic-test")
    assert "40 GB is too much for one reader" in d["why"]
    mr = f"{run.id}.2"
    assert scope.meta(mr)["skill"] == "map-reduce"
    assert [scope.meta(f"{mr}.{i}")["role"] for i in (1, 2, 3)] == ["mapper", "mapper", "reducer"]
    tree = scope.ok("tree")
    assert f"{worker}  iteration 1/5  [escalated" in tree and f"{mr}.3  reduce 2 parts  [done" in tree, tree
    assert "shard 2: 120ms" in (scope.session(run.id) / "result.md").read_text()
    log = scope.ok("log", run.id, "--type", "decision")  # what a person reads: who decided, and why
    assert 'what="decompose"' in log and 'by="model"' in log and "40 GB is too much for one reader" in log
    for path in scope.scope_dir.rglob("*"):  # the key never reaches a state file, event, log or pane
        if path.is_file():
            assert stub.key[-20:].encode() not in path.read_bytes(), path


def test_a_model_worker_repeating_itself_is_nudged_and_changes_approach(scope, stub, monkeypatch):
    import json

    from tests.support.helpers import wait_until

    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)

    def nudged() -> bool:
        return any(scope.scope_dir.glob("sessions/*/inbox/*redirect.json")) or any(
            scope.scope_dir.glob("sessions/*/inbox/read/*redirect.json")
        )

    def script(body):
        if "Your supervisor sees" in json.dumps(body["messages"]):
            return {
                "tool_use": {
                    "name": "finish",
                    "input": {"result": "tried another way <promise>DONE</promise>"},
                }
            }
        if len(stub.requests) > 4:  # the same call four times: hold the fifth reply until the nudge is in
            wait_until(nudged, 30, what="the supervisor's nudge")
        return {"tool_use": {"name": "bash", "input": {"command": "echo same"}}}

    stub.respond_with(script)
    s = api.spawn(
        Project(scope.scope_dir),
        "make the build pass",
        skill="ralph",
        model="claude-test-1",
        params={"promise": "DONE", "max_iter": 1},
    )
    scope.wait_status(s.id, "done", "failed", "escalated", timeout=90)
    assert scope.status(s.id) == "done", scope.state(s.id)
    [d] = [e for e in scope.events(s.id) if e["type"] == "decision" and e.get("what") == "nudge"]
    assert "the same" in d["why"] and "4 times in a row" in d["why"]
    assert "Your supervisor sees" in stub.requests[-1].text
