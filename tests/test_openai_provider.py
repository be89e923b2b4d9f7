"""The OpenAI-compatible provider: the real `openai` SDK against a Chat Completions stub on 127.0.0.1.

The built-in agent's tool loop in real tmux; an RLM whose root is Anthropic (Messages stub) and whose
sub-calls are OpenAI-compatible (Chat Completions stub); models per level; cost per provider in `scope log`.
"""

from __future__ import annotations

import json

import pytest

from scope_tui.models import select
from scope_tui.models.base import ModelError
from scope_tui.models.openai_model import OpenAIModel
from scope_tui.patterns.rlm import engine
from scope_tui.store import config, sessions
from scope_tui.store.project import Project
from tests.test_builtin_stub import assert_key_nowhere

END = ("done", "failed", "escalated", "killed")
TOOLS = [
    {
        "name": "bash",
        "description": "run a command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
]


def use(name, **inp):
    return {"name": name, "input": inp}


@pytest.mark.parametrize("stream", [False, True])
def test_tool_turn_round_trips_through_chat_completions(openai_stub, stream):
    openai_stub.push(text="looking", tool_use=use("bash", command="ls -la"))
    openai_stub.push(text="all done")
    m = OpenAIModel("qwen3:8b", base_url=openai_stub.url + "/v1", stream=stream)
    r1 = m.complete(
        [{"role": "user", "content": "list files"}], system="be brief", tools=TOOLS, max_tokens=99
    )
    assert r1.stop_reason == "tool_use" and r1.text == "looking" and r1.provider == "openai"
    (use_block,) = r1.tool_uses
    assert use_block["name"] == "bash" and use_block["input"] == {"command": "ls -la"}
    assert r1.usage["input_tokens"] > 0 and r1.usage["output_tokens"] == 10
    history = [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": r1.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use_block["id"], "content": "a.txt\nb.txt"},
                {"type": "text", "text": "[redirect] hurry"},
            ],
        },
    ]
    r2 = m.complete(history, system="be brief", tools=TOOLS)
    assert r2.text == "all done" and r2.stop_reason == "end_turn" and not r2.tool_uses
    first, second = (r.body for r in openai_stub.requests)
    assert first["model"] == "qwen3:8b" and bool(first.get("stream")) is stream
    assert first["messages"][0] == {"role": "system", "content": "be brief"}
    assert first["tools"][0]["function"]["name"] == "bash"
    assert first["tools"][0]["function"]["parameters"]["properties"] == {"command": {"type": "string"}}
    roles = [msg["role"] for msg in second["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert second["messages"][2]["tool_calls"][0]["id"] == use_block["id"]
    assert second["messages"][3] == {
        "role": "tool",
        "tool_call_id": use_block["id"],
        "content": "a.txt\nb.txt",
    }
    # with no key set, a local server gets a placeholder, never another provider's key
    assert openai_stub.requests[0].headers["authorization"] == "Bearer unused-local"


def test_retries_are_shared_and_a_refused_key_is_one_line(openai_stub, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", openai_stub.key)
    openai_stub.push(error=429, retry_after=0).push(error=500).push(text="third time")
    told = []
    m = OpenAIModel(
        "gpt-4.1-mini", base_url=openai_stub.url + "/v1", retry_cap=0.01, on_retry=lambda *a: told.append(a)
    )
    assert m.complete([{"role": "user", "content": "x"}]).text == "third time"
    assert [a[0] for a in told] == [1, 2] and "429" in told[0][2] and "500" in told[1][2]
    openai_stub.push(error=401)
    with pytest.raises(ModelError) as e:
        m.complete([{"role": "user", "content": "x"}])
    assert "refused the key" in e.value.reason and "OPENAI_API_KEY" in e.value.reason
    assert openai_stub.key not in e.value.reason and "\n" not in e.value.reason
    assert openai_stub.requests[-1].headers["authorization"] == f"Bearer {openai_stub.key}"


def test_models_per_level_and_spawn_model_provider_name(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = config._merge(
        config.DEFAULTS,
        {
            "models": {
                "strategic": {"provider": "anthropic", "name": "claude-opus-4-6"},
                "operational": {
                    "provider": "openai",
                    "base_url": "http://127.0.0.1:9/v1",
                    "name": "qwen3:8b",
                },
                "rlm_sub": {"provider": "openai", "name": "gpt-4.1-mini"},
            }
        },
    )
    assert select.spec_for(cfg, {}, "strategic") == select.Spec("anthropic", "claude-opus-4-6")
    assert select.spec_for(cfg, {}, "tactical").name == "claude-sonnet-4-6"  # a plain string is Anthropic
    op = select.spec_for(cfg, {}, "operational")
    assert (op.provider, op.name, op.base_url) == ("openai", "qwen3:8b", "http://127.0.0.1:9/v1")
    assert select.spec_for(cfg, {}, "rlm_sub").name == "gpt-4.1-mini"
    # --model provider:name, with that provider's connection from the config; Ollama names keep their colon
    sp = select.spec_for(cfg, {"model": "openai:llama3.2:1b", "level": "strategic"}, None)
    assert (sp.provider, sp.name, sp.base_url) == ("openai", "llama3.2:1b", "http://127.0.0.1:9/v1")
    assert select.spec_for(cfg, {"model": "qwen3:8b"}, "operational").provider == "openai"
    assert select.spec_for(cfg, {"model": "offline"}, "operational").provider == "offline"
    # no key anywhere: the local base_url is reachable, the keyed vendors fall back to offline
    assert select.backend_for(cfg, None, "operational") == "openai"
    assert select.backend_for(cfg, None, "strategic") == "offline"
    assert select.backend_for(cfg, None, "rlm_sub") == "offline"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert select.backend_for(cfg, None, "rlm_sub") == "openai"
    # the default config with no key stays offline at every level
    monkeypatch.delenv("OPENAI_API_KEY")
    assert {select.backend_for(config.DEFAULTS, None, lv) for lv in select.LEVELS} == {"offline"}


def test_a_forced_provider_without_its_key_is_one_line(scope, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    project = Project(scope.scope_dir)
    config.update(project.config_path, {"models": {"backend": "openai"}})
    with pytest.raises(ModelError) as e:
        select.model_for(project, {"model": "openai:gpt-4.1"}, "operational")
    assert "OPENAI_API_KEY" in e.value.reason and "offline" in e.value.reason


def openai_levels(scope, stub, **extra):
    config.update(
        Project(scope.scope_dir).config_path,
        {
            "models": {
                "operational": {"provider": "openai", "base_url": stub.url + "/v1", "name": "qwen3:8b"},
                **extra,
            },
            "prices": {"openai:qwen3:8b": [0.0, 0.0], "gpt-4.1-mini": [0.4, 1.6]},
        },
    )
    scope.ok("trust")  # a base_url is where the calls (and the key) go: it applies once a person trusts it


def test_builtin_agent_tool_loop_on_an_openai_compatible_model(scope, openai_stub):
    def script(body):
        last = body["messages"][-1]
        if last["role"] == "tool":
            return {"tool_use": use("finish", result="the file says: " + last["content"].strip())}
        return {"text": "reading it", "tool_use": use("bash", command="cat note.txt")}

    (scope.root / "note.txt").write_text("MANGO-42\n")
    openai_stub.respond_with(script)
    openai_levels(scope, openai_stub)
    scope.env["OPENAI_API_KEY"] = openai_stub.key  # sent to the server it is meant for, and nowhere else
    sid = scope.spawn("read note.txt and tell me what it says")
    st = scope.wait_status(sid, *END, timeout=90)
    assert st["status"] == "done", st
    assert "MANGO-42" in (scope.session(sid) / "result.md").read_text()
    assert len(openai_stub.requests) == 2
    assert {r.body["model"] for r in openai_stub.requests} == {"qwen3:8b"}
    assert (
        openai_stub.requests[0].headers["authorization"] == f"Bearer {openai_stub.key}"
    )  # the key got there
    assert "finish" in {t["function"]["name"] for t in openai_stub.requests[0].body["tools"]}
    calls = [e for e in scope.events(sid) if e["type"] == "llm_call"]
    assert [c["provider"] for c in calls] == ["openai", "openai"] and calls[0]["input_tokens"] > 0
    assert st["tokens"]["input"] == sum(c["input_tokens"] for c in calls) and st["cost"] == 0.0
    log = scope.ok("log", sid)
    assert 'provider="openai"' in log and "openai: 2 calls" in log
    assert_key_nowhere(scope, openai_stub.key)


def test_rlm_root_on_anthropic_sub_calls_on_openai(scope, stub, openai_stub, monkeypatch):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("OPENAI_API_KEY", openai_stub.key)
    openai_levels(
        scope,
        openai_stub,
        tactical={"provider": "anthropic", "name": "claude-root-1"},
        rlm_sub={"provider": "openai", "base_url": openai_stub.url + "/v1", "name": "gpt-4.1-mini"},
    )
    root_turns = [
        "```repl\nparts = llm_query_batched(['colour of ' + w for w in context.split()])\nprint(parts)\n```",
        "```repl\nanswer = ' / '.join(parts)\n```\nFINAL_VAR(answer)",
    ]
    stub.respond_with(lambda body: root_turns.pop(0) if root_turns else "FINAL(exhausted)")
    openai_stub.respond_with(
        lambda body: {"text": body["messages"][-1]["content"].upper(), "usage": {"input_tokens": 1000}}
    )
    f = scope.root / "context.txt"
    f.write_text("sky grass")
    s = sessions.create(
        Project(scope.scope_dir),
        "what colours?",
        driver="pattern",
        level="tactical",
        skill="rlm",
        params={"context": [str(f)]},
    )
    assert engine.run(s.dir) == 0
    assert s.result().strip() == "COLOUR OF SKY / COLOUR OF GRASS"
    assert {r.body["model"] for r in stub.requests} == {"claude-root-1"} and len(stub.requests) == 2
    assert {r.body["model"] for r in openai_stub.requests} == {"gpt-4.1-mini"} and len(
        openai_stub.requests
    ) == 2
    assert all("```repl" in str(r.body["system"]) for r in stub.requests)
    calls = [json.loads(x) for x in (s.dir / "events.jsonl").read_text().splitlines()]
    calls = [c for c in calls if c["type"] == "llm_call"]
    by = {c["provider"]: c for c in calls}
    assert set(by) == {"anthropic", "openai"}
    assert by["openai"]["cost"] == pytest.approx(1000 * 0.4 / 1e6 + 10 * 1.6 / 1e6)
    log = scope.ok("log", s.id)
    assert "anthropic: 2 calls" in log and "openai: 2 calls" in log
    assert "$0.0008" in log  # 2 x (1000 in at $0.40/M + 10 out at $1.60/M) on the OpenAI line


def test_a_base_url_applies_only_once_the_person_trusts_the_project(scope):
    path = Project(scope.scope_dir).config_path
    url = "http://127.0.0.1:9/v1"
    config.update(
        path,
        {"models": {"operational": {"provider": "openai", "base_url": url}}, "codex": {"base_url": url}},
    )
    cfg = config.load(path)
    assert "base_url" not in cfg["models"]["operational"] and "base_url" not in cfg.get("codex", {})
    assert select.backend_for(cfg, None, "operational") == "offline"  # no key, no (trusted) URL
    out = scope.ok("trust")
    assert "models.operational.base_url" in out and "codex.base_url" in out
    cfg = config.load(path)
    assert cfg["models"]["operational"]["base_url"] == url and cfg["codex"]["base_url"] == url
    assert select.backend_for(cfg, None, "operational") == "openai"


def test_every_drivers_and_providers_key_is_in_the_one_registry():
    from scope_tui.store import drivers, keys

    used = {k for row in drivers.TABLE.values() for k in row.get("keys", ())}
    used |= {k for ks in drivers.PROVIDER_KEYS.values() for k in ks}
    assert used <= set(keys.KEYS), used - set(keys.KEYS)
    assert {"OPENAI_API_KEY", "GEMINI_API_KEY"} <= used


def test_an_agent_cli_is_asked_for_the_name_without_its_provider(tmp_path):
    from scope_tui.workers import claude_settings

    p = tmp_path / "f"
    assert claude_settings.argv("claude", p, p, "anthropic:claude-x-1")[-2:] == ["--model", "claude-x-1"]
    assert "--model" not in claude_settings.argv("claude", p, p, "offline")
    assert claude_settings.argv("claude", p, p, "claude-y")[-1] == "claude-y"
