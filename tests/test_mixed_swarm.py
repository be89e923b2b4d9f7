"""A mixed swarm in one `scope run` DAG: Claude Code, Codex CLI, Gemini CLI and OpenCode side by side (each the real
CLI against its own API stub), then a built-in agent on an OpenAI-compatible model puts their answers
together. Skips (fails in CI) like each driver's own test when a CLI is missing."""

from __future__ import annotations

from typing import Any

from scope_tui.store import config
from scope_tui.store.project import Project
from tests.test_claude import claude_home  # noqa: F401  (fixtures: each CLI's private home and stub)
from tests.test_codex import codex  # noqa: F401
from tests.test_gemini import gemini  # noqa: F401
from tests.test_opencode import opencode  # noqa: F401

PLAN = """
[tasks.claude]
task = "Say which agent you are."
driver = "claude"

[tasks.codex]
task = "Say which agent you are."
driver = "codex"

[tasks.gemini]
task = "Say which agent you are."
driver = "gemini"

[tasks.opencode]
task = "Say which agent you are."
driver = "opencode"

[tasks.report]
task = "Put the four answers together."
after = ["claude", "codex", "gemini", "opencode"]
model = "openai:qwen3:8b"
"""


def test_one_dag_runs_claude_codex_gemini_opencode_and_a_builtin_agent_on_an_openai_model(
    scope,
    claude_home,  # noqa: F811
    codex,  # noqa: F811
    gemini,  # noqa: F811
    opencode,  # noqa: F811
    stub,
    openai_stub,
    gemini_stub,
):
    stub.respond_with(lambda body: {"text": "I am Claude." if body.get("tools") else "Scope test"})
    gemini_stub.respond_with(lambda body: {"text": "I am Gemini." if body.get("tools") else "Scope test"})

    def openai(body: dict[str, Any]) -> Any:
        if body.get("model") == "stub-oc-1":  # Chat Completions: OpenCode (its title, then its turn)
            return {"text": "I am OpenCode." if body.get("tools") else "Scope test"}
        if "messages" in body:  # Chat Completions: the built-in reporter
            said = [
                ln.strip() for ln in body["messages"][-1]["content"].splitlines() if ln.startswith("I am")
            ]
            return {"tool_use": {"name": "finish", "input": {"result": " / ".join(said)}}}
        if not body.get("tools"):  # Responses: Codex's side requests (a title)
            return {"text": '{"title": "Scope test"}'}
        return {"text": "I am Codex."}

    openai_stub.respond_with(openai)
    path = Project(scope.scope_dir).config_path
    config.update(
        path, {"models": {"operational": {"provider": "openai", "base_url": openai_stub.url + "/v1"}}}
    )
    scope.ok("trust")  # every base_url above, and the CLIs' ones from their fixtures
    (scope.root / "plan.toml").write_text(PLAN)
    top = scope.ok("run", "--model", "offline", "--dag", "plan.toml", "Ask four agents who they are").strip()
    st = scope.wait_status(top, "done", "failed", "escalated", timeout=240)
    assert st["status"] == "done", st
    kids = {}
    for d in sorted((scope.scope_dir / "sessions").iterdir()):
        meta = scope.meta(d.name)
        if meta.get("key"):
            kids[meta["key"]] = (d.name, meta)
    assert {k: m["driver"] for k, (_, m) in kids.items()} == {
        "claude": "claude",
        "codex": "codex",
        "gemini": "gemini",
        "opencode": "opencode",
        "report": "builtin",
    }
    for key, (sid, _) in kids.items():
        assert scope.status(sid) == "done", (key, scope.state(sid))
    report = (scope.session(kids["report"][0]) / "result.md").read_text()
    assert report.strip() == "I am Claude. / I am Codex. / I am Gemini. / I am OpenCode."
    # each request reached its own stub, with the model its level or its task named
    chat = [r.body for r in openai_stub.requests if "messages" in r.body]
    assert [b["model"] for b in chat if b["model"] != "stub-oc-1"] == ["qwen3:8b"]
    assert any(b.get("tools") and b["model"] == "stub-oc-1" for b in chat)  # OpenCode's turn
    assert {r.body["model"] for r in openai_stub.requests if "input" in r.body and r.body.get("tools")} == {
        "stub-codex-1"
    }
    assert {r.body["model"] for r in gemini_stub.requests if r.body.get("tools")} == {"stub-gemini-1"}
    assert any(r.body.get("tools") for r in stub.requests)  # Claude Code's turn on the Messages stub
