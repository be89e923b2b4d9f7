"""Models in-process: selection, accounting and budgets, the SDK backend against the stub, the offline policy."""

from __future__ import annotations

import pytest

from scope_tui.models import accounting, select
from scope_tui.models.anthropic_model import AnthropicModel
from scope_tui.models.base import BudgetExceeded, ModelError, Reply
from scope_tui.models.offline import OfflineModel, tool_policy
from scope_tui.store import config, events, sessions
from scope_tui.store.project import Project


@pytest.fixture
def project(tmp_path, monkeypatch):
    for k in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    return Project.create(tmp_path / ".scope")


def msgs(text):
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- selection


def test_backend_auto_is_offline_without_a_key_and_anthropic_with_one(project, monkeypatch):
    s = sessions.create(project, "t", level="strategic")
    assert select.model_for(project, s.meta).name == "offline"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-abcdefgh")
    assert select.model_for(project, s.meta).name == "claude-opus-4-6"  # strategic: the strong model
    assert select.model_for(project, {}, "operational").name == "claude-haiku-4-5"
    assert select.model_for(project, {"model": "claude-x"}).name == "claude-x"  # --model wins
    assert select.model_for(project, {"model": "offline"}).name == "offline"
    config.update(project.config_path, {"models": {"backend": "offline"}})
    assert select.model_for(project, s.meta).name == "offline"


def test_forced_anthropic_without_key_is_a_clear_error(project):
    config.update(project.config_path, {"models": {"backend": "anthropic"}})
    with pytest.raises(ModelError, match="no API key"):
        select.model_for(project, {})


# ---------------------------------------------------------------- accounting and budgets


def test_every_call_is_an_llm_call_event_and_adds_to_state(project, stub, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", stub.key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.url)
    s = sessions.create(project, "t", model="claude-sonnet-4-6")
    stub.push("one", usage={"input_tokens": 1000, "output_tokens": 100})
    stub.push("two", usage={"input_tokens": 2000, "output_tokens": 200})
    m = select.model_for(project, s.meta)
    assert m.complete(msgs("a"), purpose="test").text == "one"
    assert m.complete(msgs("b")).text == "two"
    st = sessions.load_dir(s.dir).state
    assert st["tokens"] == {"input": 3000, "output": 300}
    assert st["cost"] == pytest.approx((3000 * 3 + 300 * 15) / 1e6)  # sonnet: $3 / $15 a million
    calls = [e for e in events.read_all(s.dir) if e["type"] == "llm_call"]
    assert [c["input_tokens"] for c in calls] == [1000, 2000] and calls[0]["purpose"] == "test"
    assert calls[0]["model"] == "claude-sonnet-4-6" and calls[0]["cost"] == pytest.approx(0.0045)


class Fixed:
    """A model whose every reply reports `tokens` input tokens."""

    def __init__(self, name="m", tokens=1000):
        self.name, self.tokens, self.calls = name, tokens, 0

    def complete(self, messages, **kw):
        self.calls += 1
        return Reply(
            [{"type": "text", "text": "ok"}],
            usage={"input_tokens": self.tokens, "output_tokens": 0},
            model=self.name,
        )


def test_subtree_budget_stops_a_child_and_tells_its_parent(project):
    cfg = config.load(project.config_path)
    cfg["prices"]["m"] = [1000.0, 0.0]  # $1 a call
    root = sessions.create(project, "root", budget=2.5)
    a = sessions.create(project, "a", parent=root.id)
    b = sessions.create(project, "b", parent=root.id)
    ma, mb = Fixed(), Fixed()
    accounting.Accounted(ma, project, a.dir, cfg).complete(msgs("x"))
    accounting.Accounted(mb, project, b.dir, cfg).complete(msgs("x"))
    assert accounting.subtree_cost(project, root.id) == pytest.approx(2.0)
    with pytest.raises(BudgetExceeded):
        accounting.Accounted(mb, project, b.dir, cfg).complete(msgs("x" * 4000))  # ~$1 more: over $2.50
    assert mb.calls == 1  # not made
    st = sessions.load_dir(b.dir).state
    assert st["status"] == "escalated" and st["reason"] == "budget"
    esc = [e for e in events.read_all(b.dir) if e["type"] == "escalation"]
    assert esc and "subtree of " + root.id in esc[0]["details"]
    inbox = sessions.take_messages(root.dir)
    assert inbox and inbox[0]["kind"] == "escalation" and inbox[0]["child"] == b.id


def test_session_budget_from_config(project):
    cfg = config.load(project.config_path)
    cfg["prices"]["m"] = [1000.0, 0.0]
    cfg["budgets"]["session"] = 1.5
    s = sessions.create(project, "t")
    m = Fixed()
    acc = accounting.Accounted(m, project, s.dir, cfg)
    acc.complete(msgs("x"))
    with pytest.raises(BudgetExceeded, match="budget reached"):
        acc.complete(msgs("y" * 4000))
    assert m.calls == 1 and sessions.load_dir(s.dir).status == "escalated"


def test_dated_model_names_find_their_price():
    cfg = config.load(config.Path("/nonexistent/config.toml"))
    assert accounting.price(cfg, "claude-haiku-4-5-20251001") == (1.0, 5.0)
    assert accounting.price(cfg, "unknown") == (0.0, 0.0)


# ---------------------------------------------------------------- the SDK backend


def test_sdk_backend_retries_and_caps_retry_after(stub, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", stub.key)
    waits = []
    m = AnthropicModel(
        "claude-haiku-4-5", base_url=stub.url, retry_cap=0.05, on_retry=lambda a, w, why: waits.append(w)
    )
    stub.push(error=429, retry_after=30).push(error=500).push(
        tool_use={"name": "bash", "input": {"command": "ls"}}
    )
    r = m.complete(msgs("hi"), tools=[{"name": "bash", "input_schema": {"type": "object"}}])
    assert r.tool_uses == [
        {"type": "tool_use", "id": r.tool_uses[0]["id"], "name": "bash", "input": {"command": "ls"}}
    ]
    assert waits == [0.05, 0.05] and len(stub.requests) == 3  # retry-after 30 s honoured but capped


def test_sdk_backend_gives_up_after_max_attempts(stub, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", stub.key)
    m = AnthropicModel("x", base_url=stub.url, retry_cap=0.0, max_attempts=2)
    stub.push(error=529).push(error=529).push(text="never reached")
    with pytest.raises(ModelError, match=r"after 2 attempt\(s\) \(529"):
        m.complete(msgs("hi"))


def test_bad_key_error_names_no_key(stub, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", stub.key)
    stub.push(error=401)
    with pytest.raises(ModelError) as e:
        AnthropicModel("x", base_url=stub.url).complete(msgs("hi"))
    assert "401" in e.value.reason and stub.key not in e.value.reason and stub.key[-20:] not in e.value.reason


# ---------------------------------------------------------------- offline


def test_offline_policy_intents():
    t = "Count the lines containing ERROR in logs/app.log and write the number to out/answer.txt"
    assert tool_policy.count_intent(t) == ("ERROR", "logs/app.log")
    assert tool_policy.write_intent(t) == ("the number", "out/answer.txt")
    assert tool_policy.count_intent("how many lines contain WARN in x.log?") == ("WARN", "x.log")
    assert tool_policy.write_intent('create notes.md containing "hello world"') == (
        '"hello world"',
        "notes.md",
    )
    assert tool_policy.children("Spawn a child to summarise README.md") == ["summarise README.md"]
    assert tool_policy.children("list the files") == []


def test_offline_model_is_deterministic_and_follows_the_procedure():
    m = OfflineModel()
    tools = [{"name": n} for n in ("bash", "read_file", "write_file", "spawn", "wait", "finish")]
    convo = msgs("count the lines containing ERROR in log.txt")
    r1 = m.complete(convo, tools=tools)
    assert r1.model == "offline" and r1.stop_reason == "tool_use"
    assert r1.tool_uses[0]["input"] == {"command": "ls -la"}
    assert m.complete(convo, tools=tools).content == r1.content  # same input, same reply
    convo += [
        {"role": "assistant", "content": r1.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": r1.tool_uses[0]["id"], "content": "log.txt"}],
        },
    ]
    r2 = m.complete(convo, tools=tools)
    assert r2.tool_uses[0]["input"] == {"command": "grep -c -- ERROR log.txt"}
    # a redirect with a new actionable instruction replaces the task
    convo += [
        {"role": "assistant", "content": r2.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": r2.tool_uses[0]["id"], "content": "4"},
                {"type": "text", "text": "[redirect] count the lines containing WARN in log.txt instead"},
            ],
        },
    ]
    assert m.complete(convo, tools=tools).tool_uses[0]["input"] == {"command": "grep -c -- WARN log.txt"}


def test_offline_plain_call_answers_counting_questions():
    prompt = msgs("How many lines contain ERROR?\nERROR a\nok\nERROR b\n")
    r = OfflineModel().complete(prompt)  # a plain call goes through repl_policy.plain
    assert r.model == "offline" and r.text.strip() and r.usage["input_tokens"] > 0 and r.cost == 0.0


def test_offline_map_step_counts_its_own_part_and_the_reducer_sums():
    mapper = (
        "How many lines contain ERROR in log.txt?\n\nDo this for one part only: /tmp/p/part-002.txt\n\n"
        "(Map step 2 of 3: answer for /tmp/p/part-002.txt only, briefly; a reducer combines the parts.)\n"
    )
    assert tool_policy.count_intent(mapper) == ("ERROR", "/tmp/p/part-002.txt")
    reducer = (
        "reduce 2 parts\n\nCombine the mappers' results into one answer to the task:\n\nHow many lines contain ERROR?\n\n"
        "The results (also in /x/results.json):\n\n--- part 1 (a.log) ---\n3 line(s) of a.log contain 'ERROR'.\n\n"
        "--- part 2 (b.log) ---\n4 line(s) of b.log contain 'ERROR'.\n"
    )
    r = OfflineModel().complete(msgs(reducer), tools=[{"name": "finish"}])
    assert r.tool_uses[0]["name"] == "finish"
    assert r.tool_uses[0]["input"]["result"].startswith("7 in total")


def test_a_session_budget_counts_what_its_children_spent(project):
    cfg = config.load(project.config_path)
    cfg["prices"]["m"] = [1000.0, 0.0]
    parent = sessions.create(project, "p", budget=1.5)
    child = sessions.create(project, "c", parent=parent.id)
    accounting.Accounted(Fixed(), project, child.dir, cfg).complete(msgs("x"))  # the child spends $1
    m = Fixed()
    with pytest.raises(BudgetExceeded):
        accounting.Accounted(m, project, parent.dir, cfg).complete(msgs("y" * 4000))
    assert m.calls == 0 and sessions.load_dir(parent.dir).state["reason"] == "budget"
