"""Relationships steer: agents are given parts by name (a DAG node's `agent`, the built-in `spawn` tool's
`agent`) or by strength, and the part then carries that agent's identity and memory. Through the real CLI,
real tmux, the real DAG and map-reduce engines, and the built-in driver on the real anthropic SDK against
the Messages-API stub."""

from __future__ import annotations

import json
import re

from scope_tui.agents import home
from tests.support.helpers import wait_until

END = ("done", "failed", "escalated", "killed", "needs_input")


def _carol(scope) -> None:
    scope.ok("agent", "new", "carol", "--strengths", "frontend: React components, CSS, the login page")


def _stats(name: str) -> dict:
    return json.loads((home.agents_dir() / name / "stats.json").read_text())


def _system(req) -> str:
    return json.dumps(req.body.get("system"))


# --- the DAG node schema -------------------------------------------------------------------------------
def test_a_dag_nodes_unknown_key_and_unknown_agent_are_one_line_errors_with_file_and_line(scope, tmp_path):
    _carol(scope)
    plan = tmp_path / "plan.toml"
    plan.write_text('[tasks.ui]\ntask = "style the button"\nagnet = "carol"\n')
    p = scope.run("spawn", "--skill", "dag", "--dag", str(plan), "x")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{plan}:3: tasks.ui.agnet: unknown key (known: task, cmd, after" in p.stderr
    plan.write_text('[tasks.api]\ncmd = "true"\n[tasks.ui]\ntask = "style the button"\nagent = "carlo"\n')
    for how in (("spawn", "--skill", "dag"), ("run",)):
        p = scope.run(*how, "--dag", str(plan), "x")
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert f"{plan}:5: tasks.ui.agent: no agent 'carlo'" in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    assert not list((scope.scope_dir / "sessions").iterdir()), "nothing was started"


def test_a_dag_node_given_to_an_agent_is_that_agents_task_and_its_model_hears_who_it_is(
    scope, stub, tmp_path
):
    _carol(scope)
    scope.env.update(stub.env)
    stub.respond_with(lambda body: {"text": "the button is styled"})
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[tasks.api]\ncmd = "echo api-ready"\n'
        '[tasks.ui]\ntask = "style the login button"\nafter = ["api"]\n'
        'agent = "carol"\ndriver = "builtin"\nmodel = "claude-test-1"\n'
    )
    sid = scope.spawn("--skill", "dag", "--dag", str(plan), "ship the login page")
    scope.wait_status(sid, *END, timeout=90)
    assert scope.status(sid) == "done", scope.state(sid)
    ui = f"{sid}.2"
    assert scope.meta(ui)["agent"] == "carol" and scope.meta(ui)["role"] == "node:ui"
    [req] = stub.requests
    assert "You are carol" in _system(req) and "React components" in _system(req)
    assert "api-ready" in req.text, "the node's inputs still reach it"
    wait_until(lambda: _stats("carol")["tasks"] == 1, what="carol learned from her node")


# --- the built-in spawn tool's `agent` -------------------------------------------------------------------
def _use(name, **inp):
    return {"name": name, "input": inp}


def _results(req) -> list[str]:
    last = req.body["messages"][-1]
    return [
        str(b.get("content"))
        for b in last["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]


def test_the_spawn_tool_hands_a_task_to_an_agent_who_works_as_itself(scope, stub):
    _carol(scope)
    scope.env.update(stub.env)
    scope.env["SCOPE_RETRY_CAP"] = "0.2"

    def script(body):
        system = json.dumps(body.get("system"))
        if "You are carol" in system:
            return {"tool_use": _use("finish", result="login button styled by carol")}
        req = stub.requests[-1]
        said = _results(req)
        if not said:  # the lead's first turn: an unknown agent first, then carol
            return {"tool_use": _use("spawn", task="style it", agent="zed", model="claude-test-1")}
        if "spawn failed" in said[0]:
            return {
                "tool_use": _use("spawn", task="style the login button", agent="carol", model="claude-test-1")
            }
        m = re.search(r"spawned session ([\d.]+)", said[0])
        if m:
            return {"tool_use": _use("wait", ids=[m[1]])}
        return {"tool_use": _use("finish", result="done: " + said[0])}

    stub.respond_with(script)
    sid = scope.spawn("--model", "claude-test-1", "ship the login page")
    scope.wait_status(sid, *END, timeout=90)
    assert scope.status(sid) == "done", scope.state(sid)
    refused = [r for r in stub.requests if any("spawn failed" in t for t in _results(r))]
    assert refused and "no agent 'zed'" in _results(refused[0])[0]
    [child] = [p.name for p in scope.session(sid).parent.iterdir() if p.name.startswith(f"{sid}.")]
    assert scope.meta(child)["agent"] == "carol" and not scope.meta(child).get("works_for")
    carols = [r for r in stub.requests if "You are carol" in _system(r)]
    assert len(carols) == 1 and "style the login button" in carols[0].text
    assert "styled by carol" in (scope.session(sid) / "result.md").read_text()
    wait_until(lambda: _stats("carol")["tasks"] == 1, what="carol learned from the task")
