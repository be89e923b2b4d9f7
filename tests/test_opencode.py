"""The OpenCode driver end to end: real `opencode serve`, driven by Scope, talking to a Chat Completions stub.

Skips outside CI only when the `opencode` CLI is absent; with CI=1 a missing CLI is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from scope_tui.store import config
from scope_tui.store.project import Project
from tests.support.helpers import wait_until

PERSON_CONFIG = b'{\n  "theme": "tokyonight",\n  "model": "anthropic/claude-sonnet-4"\n}\n'
PERSON_AUTH = b'{"anthropic": {"type": "api", "key": "sk-ant-person-own"}}\n'


@pytest.fixture
def opencode(home, scope, openai_stub) -> tuple[Path, Path]:
    """The project's opencode sessions talk to the stub; the person has OpenCode files of their own."""
    if shutil.which("opencode") is None:
        if os.environ.get("CI"):
            pytest.fail("the opencode CLI is missing in CI: npm install -g opencode-ai")
        pytest.skip("the opencode CLI is not installed (npm install -g opencode-ai)")
    conf, data = home / ".config" / "opencode", home / ".local" / "share" / "opencode"
    conf.mkdir(parents=True)
    data.mkdir(parents=True)
    (conf / "opencode.json").write_bytes(PERSON_CONFIG)
    (data / "auth.json").write_bytes(PERSON_AUTH)
    config.update(
        Project(scope.scope_dir).config_path,
        {"opencode": {"base_url": openai_stub.url + "/v1", "model": "stub-oc-1"}},
    )
    scope.ok("trust")  # [opencode] base_url names where its calls (and the key) go: a person's decision
    scope.env["OPENAI_API_KEY"] = openai_stub.key
    return conf, data


def scripted(steps):
    """OpenCode's side requests (no tools: the title) get a short text; its turns get `steps(kind, text)`."""

    def answer(body: dict[str, Any]) -> Any:
        if not body.get("tools"):
            return {"text": "Scope test"}
        last = body["messages"][-1]
        return steps(str(last["role"]), json.dumps(last.get("content")))

    return answer


def bash(cmd: str) -> dict[str, Any]:
    return {"tool_use": {"name": "bash", "input": {"command": cmd, "description": "a command"}}}


def statuses(scope, sid: str) -> list[str]:
    out: list[str] = []
    for e in scope.events(sid):
        if e["type"] == "status" and (not out or out[-1] != e["status"]):
            out.append(e["status"])
    return out


def test_opencode_asks_is_answered_by_redirect_and_finishes(scope, opencode, openai_stub):
    (scope.root / "note.txt").write_text("the word is MANGO\n")

    def steps(role: str, text: str) -> Any:
        if role == "user" and "Read note.txt" in text:
            return bash("cat note.txt")
        if role == "tool" and "the word is MANGO" in text:
            return {"text": "The word is MANGO."}
        return {"text": f"(unexpected {role}: {text[:80]})"}

    openai_stub.respond_with(scripted(steps))
    sid = scope.spawn("--driver", "opencode", "Read note.txt and tell me the word.")
    st = scope.wait_status(sid, "needs_input", "done", "failed", timeout=120)
    assert st["status"] == "needs_input" and "cat note.txt" in st["reason"], (st, scope.events(sid)[-5:])
    scope.ok("redirect", sid, "allow")
    st = scope.wait_status(sid, "done", "failed", timeout=90)
    assert st["status"] == "done", (st, scope.events(sid)[-6:])
    assert (scope.session(sid) / "result.md").read_text() == "The word is MANGO.\n"
    seq = wait_until(lambda: (q := statuses(scope, sid)) and q[-1] == "done" and q, 10, what="done event")
    assert seq[seq.index("running") :] == ["running", "needs_input", "running", "done"], seq
    agent = [r for r in openai_stub.requests if r.body.get("tools")]
    assert {r.body["model"] for r in agent} == {"stub-oc-1"}
    assert "Read note.txt and tell me the word." in json.dumps(agent[0].body["messages"])
    assert "Scope session" in json.dumps(agent[0].body)  # Scope's instructions went in (instructions file)
    assert agent[0].headers.get("authorization") == f"Bearer {openai_stub.key}"
    ran = [e for e in scope.events(sid) if e["type"] == "tool_call"]
    assert [(e["kind"], e.get("tool")) for e in ran] == [("peek", "Bash")]
    assert st["tokens"]["input"] > 0 and st["tokens"]["output"] > 0
    assert json.loads(scope.ok("poll", sid, "--json"))["status_source"] == "events"
    conf, data = opencode
    assert (conf / "opencode.json").read_bytes() == PERSON_CONFIG  # the person's own files untouched
    assert (data / "auth.json").read_bytes() == PERSON_AUTH
    assert sorted(p.name for p in conf.iterdir()) == ["opencode.json"]
    assert sorted(p.name for p in data.iterdir()) == ["auth.json"]
    copy = scope.session(sid) / "opencode-home" / "data" / "opencode" / "auth.json"
    wait_until(lambda: not copy.exists(), 20, what="the login's copy removed when OpenCode ends")


def test_a_rule_breaking_call_is_rejected_through_opencodes_permission_ask(scope, opencode, openai_stub):
    # rlm's rules say: peek at the context before spawning. Spawning first is the deviation.
    scope.env["SCOPE_REFLECT_OFFLINE"] = "1"

    def steps(role: str, text: str) -> Any:
        if role == "user":
            return bash('scope spawn "summarise part 1"')
        return {"text": "Understood, I will look first. Nothing else to do."}

    openai_stub.respond_with(scripted(steps))
    sid = scope.spawn("--driver", "opencode", "--skill", "rlm", "Summarise the log in notes.txt.")
    st = scope.wait_status(sid, "done", "failed", "needs_input", timeout=120)
    evs = scope.events(sid)
    assert st["status"] == "done", (st, evs[-8:])
    blocked = [e for e in evs if e["type"] == "tool_call" and e.get("blocked")]
    assert blocked and blocked[0]["kind"] == "spawn"
    assert sorted(p.name for p in (scope.scope_dir / "sessions").iterdir()) == [sid]  # no child was made
    agent = [r for r in openai_stub.requests if r.body.get("tools")]
    assert "# Skill: rlm@v" in json.dumps(agent[0].body)
    told = json.dumps(blocked[0]["reason"][:60])[1:-1]  # as it reads inside the JSON of the request
    assert told in json.dumps(agent[1].body["messages"])  # OpenCode told its model why the call was refused
