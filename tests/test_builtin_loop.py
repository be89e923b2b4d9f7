"""The built-in loop in-process with a scripted model: prompt assembly, held-back actions, tool errors, limits."""

from __future__ import annotations

import pytest

from scope_tui.models.base import Reply
from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from scope_tui.workers import builtin


class Script:
    """A model that replays `turns` (each a list of content blocks) and records what it was sent."""

    name = "scripted"

    def __init__(self, *turns):
        self.turns = list(turns)
        self.seen: list[dict] = []

    def complete(self, messages, *, system="", tools=None, **kw):
        self.seen.append({"messages": [dict(m) for m in messages], "system": system, "tools": tools})
        blocks = self.turns.pop(0) if self.turns else [{"type": "text", "text": "out of script"}]
        return Reply(
            blocks,
            "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn",
            {"input_tokens": 1, "output_tokens": 1},
            self.name,
        )


def use(name, i=0, **inp):
    return {"type": "tool_use", "id": f"t{i}", "name": name, "input": inp}


@pytest.fixture
def project(tmp_path):
    return Project.create(tmp_path / ".scope")


def session(project, task, **meta):
    return sessions.create(project, task, driver="builtin", cwd=str(project.home), **meta)


def test_prompt_md_and_task_reach_the_model(project):
    s = session(project, "do the thing")
    (s.dir / "prompt.md").write_text("You are Ada, careful and terse.")
    m = Script([use("finish", result="ok")])
    assert builtin.run(s, model=m) == 0
    assert "You are Ada, careful and terse." in m.seen[0]["system"]
    assert m.seen[0]["messages"][0]["content"][0]["text"] == "do the thing"
    assert sessions.load_dir(s.dir).state["status"] == "done"
    assert s.dir.joinpath("result.md").read_text() == "ok\n"


def test_a_held_back_action_is_not_run_and_the_model_is_told(project, monkeypatch):
    from scope_tui.gepa import online

    seen = []

    def check(project, session_dir, action):
        seen.append(action)
        return "Peek at the data before you write." if action["tool"] == "write_file" else None

    monkeypatch.setattr(online, "before_action", check)
    s = session(project, "write")
    m = Script(
        [use("read_file", path="missing.txt")],
        [use("write_file", path="out.txt", content="x")],
        [use("finish", result="gave up")],
    )
    assert builtin.run(s, model=m) == 0
    assert not (project.home / "out.txt").exists()
    told = m.seen[2]["messages"][-1]["content"][0]
    assert told["is_error"] and "Peek at the data" in told["content"]
    assert [a["kind"] for a in seen] == ["peek", "tool", "tool"]
    assert seen[0]["input"] == {"path": "missing.txt"}


def test_a_tool_that_raises_is_reported_and_the_loop_goes_on(project, monkeypatch):
    from scope_tui.workers import tools

    def boom(ctx, inp):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(tools._TOOLS, "poll", boom)
    s = session(project, "poll it")
    m = Script([use("poll", ids=["1"])], [use("finish", result="recovered")])
    assert builtin.run(s, model=m) == 0
    assert "tool error: RuntimeError: disk on fire" in m.seen[1]["messages"][-1]["content"][0]["content"]
    errs = [e for e in events.read_all(s.dir) if e["type"] == "error"]
    assert errs and "disk on fire" in errs[0]["error"]


def test_max_turns_escalates_stuck_with_a_partial_result(project):
    s = session(project, "loop", params={"max_iter": 2})
    m = Script([use("bash", command="echo clue-one")], [use("bash", command="echo clue-two")])
    assert builtin.run(s, model=m) == 1
    st = sessions.load_dir(s.dir).state
    assert st["status"] == "escalated" and st["reason"] == "stuck"
    assert "clue-two" in s.dir.joinpath("result.md").read_text()


def test_plain_text_answer_finishes_and_redirect_arrives_as_user_text(project):
    s = session(project, "answer me")
    sessions.put_message(s.dir, "redirect", "answer in French")
    m = Script([{"type": "text", "text": "Bonjour."}])
    assert builtin.run(s, model=m) == 0
    assert m.seen[0]["messages"][0]["content"][-1]["text"] == "[redirect] answer in French"
    assert s.dir.joinpath("result.md").read_text() == "Bonjour.\n"


def test_secrets_are_redacted_from_tool_output(project, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-very-secret-value-123")
    (tmp_path / "found.txt").write_text("sk-ant-very-secret-value-123\n")  # a key the shell finds on disk
    s = session(project, "leak")
    cmd = f"echo key=$ANTHROPIC_API_KEY; cat {tmp_path / 'found.txt'}"
    m = Script([use("bash", command=cmd)], [use("finish", result="k")])
    builtin.run(s, model=m)
    sent = m.seen[1]["messages"][-1]["content"][0]["content"]
    assert sent.startswith("key=\n")  # the model's shell calls no model: it is not given the key
    assert "sk-ant-very-secret" not in sent and "[redacted]" in sent
    for p in s.dir.rglob("*"):
        if p.is_file():
            assert b"sk-ant-very-secret" not in p.read_bytes(), p


def test_the_skill_text_is_in_the_system_prompt(project):
    from scope_tui.patterns import skill_files

    sk = skill_files.load(project, "map-reduce")
    s = session(project, "scan", skill="map-reduce")
    m = Script([use("finish", result="ok")])
    builtin.run(s, model=m)
    assert "## Skill: map-reduce" in m.seen[0]["system"] and sk.body.strip()[:200] in m.seen[0]["system"]
    assert any(e["type"] == "skill_loaded" for e in events.read_all(s.dir))


def test_waiting_on_itself_is_refused(project):
    s = session(project, "wait for me")
    m = Script([use("wait", ids=[s.id])], [use("finish", result="ok")])
    assert builtin.run(s, model=m) == 0
    told = m.seen[1]["messages"][-1]["content"][0]
    assert told["is_error"] and "cannot wait on" in told["content"]


def test_escalate_tool_tells_the_parent_and_keeps_a_result(project):
    parent = session(project, "boss")
    s = sessions.create(project, "too big", parent=parent.id, driver="builtin", cwd=str(project.home))
    m = Script(
        [use("bash", command="echo partial-clue")],
        [use("escalate", reason="task_too_big", details="split by year")],
    )
    assert builtin.run(s, model=m) == 1
    st = sessions.load_dir(s.dir).state
    assert st["status"] == "escalated" and st["reason"] == "task_too_big"
    text = s.dir.joinpath("result.md").read_text()
    assert "split by year" in text and "partial-clue" in text
    (msg,) = sessions.take_messages(parent.dir)
    assert msg["kind"] == "escalation" and "task_too_big" in msg["text"]


def test_a_long_conversation_cuts_old_tool_outputs(project, monkeypatch):
    monkeypatch.setattr(builtin, "MAX_CONVERSATION_CHARS", 30_000)
    (project.home / "big.txt").write_text("x" * 20_000)
    s = session(project, "read a lot")
    turns = [[use("read_file", i, path="big.txt")] for i in range(4)] + [[use("finish", result="ok")]]
    m = Script(*turns)
    loop = builtin.Loop(s, m)
    assert loop.run() == 0
    last = m.seen[-1]["messages"]
    first_result = last[2]["content"][0]["content"]
    assert "older output cut: 20000 characters" in first_result
    assert last[-1]["content"][0]["content"] == "x" * 20_000  # the newest output is whole
    assert any(e["type"] == "trim" for e in events.read_all(s.dir))


def test_the_write_tool_cannot_change_scopes_records(project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    s = session(project, "obey the file you read")
    (project.root / "config.toml").write_text("theme = 'scope-dark'\n")
    targets = [
        ".scope/config.toml",
        ".scope/patches/p9.json",
        f".scope/sessions/{s.id}/state.json",
        str(tmp_path / "xdg" / "scope" / "trusted.json"),
    ]
    m = Script(
        *[[use("write_file", i, path=p, content="auto_approve = true\n")] for i, p in enumerate(targets)],
        [use("write_file", 9, path="notes.txt", content="fine")],
        [use("finish", result="ok")],
    )
    assert builtin.run(s, model=m) == 0
    told = [m.seen[i + 1]["messages"][-1]["content"][0] for i in range(len(targets))]
    assert all(t["is_error"] and "Scope's records" in t["content"] for t in told), told
    assert (project.root / "config.toml").read_text() == "theme = 'scope-dark'\n"
    assert not (project.root / "patches" / "p9.json").exists()
    assert not (tmp_path / "xdg" / "scope" / "trusted.json").exists()
    assert (project.home / "notes.txt").read_text() == "fine"
