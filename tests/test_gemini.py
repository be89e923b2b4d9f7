"""The Gemini CLI driver end to end: real `gemini` in a private tmux server, talking to a Gemini-API stub.

Skips outside CI only when the `gemini` CLI is absent; with CI=1 a missing CLI is a failure.
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

PERSON_SETTINGS = b'{\n  "ui": {"theme": "GitHub"},\n  "model": {"name": "gemini-2.5-pro"}\n}\n'


@pytest.fixture
def gemini(home, scope, gemini_stub) -> Path:
    """The project's gemini sessions talk to the stub; the person has a ~/.gemini of their own to keep intact."""
    if shutil.which("gemini") is None:
        if os.environ.get("CI"):
            pytest.fail("the gemini CLI is missing in CI: npm install -g @google/gemini-cli")
        pytest.skip("the gemini CLI is not installed (npm install -g @google/gemini-cli)")
    own = home / ".gemini"
    own.mkdir()
    (own / "settings.json").write_bytes(PERSON_SETTINGS)
    config.update(
        Project(scope.scope_dir).config_path,
        {"gemini": {"base_url": gemini_stub.url, "model": "stub-gemini-1"}},
    )
    scope.ok("trust")  # [gemini] base_url names where gemini's calls (and the key) go: a person's decision
    scope.env["GEMINI_API_KEY"] = gemini_stub.key
    return own


def turn(body: dict[str, Any]) -> tuple[str, str]:
    """(kind, text) of the newest part of a generateContent request: the user's text or a tool's response."""
    part = body["contents"][-1]["parts"][-1]
    if "functionResponse" in part:
        return "tool", json.dumps(part["functionResponse"])
    return "user", str(part.get("text", ""))


def scripted(steps):
    """Gemini CLI's side requests (no tools: summaries, checks) get a short text; its turns get `steps`."""

    def answer(body: dict[str, Any]) -> Any:
        if not body.get("tools"):
            return {"text": "Scope test"}
        return steps(*turn(body))

    return answer


def shell(cmd: str) -> dict[str, Any]:
    return {"tool_use": {"name": "run_shell_command", "input": {"command": cmd}}}


def statuses(scope, sid: str) -> list[str]:
    out: list[str] = []
    for e in scope.events(sid):
        if e["type"] == "status" and (not out or out[-1] != e["status"]):
            out.append(e["status"])
    return out


def test_gemini_runs_asks_is_redirected_and_finishes(scope, gemini, gemini_stub):
    (scope.root / "note.txt").write_text("the word is MANGO\n")

    def steps(kind: str, text: str) -> Any:
        if kind == "user" and "Read note.txt" in text:
            return shell("cat note.txt")
        if kind == "tool" and "the word is MANGO" in text:
            return {"text": "I read it. Which word should I count?"}
        if kind == "user" and "count MANGO" in text:
            target = str(scope.root / "count.txt")
            return {"tool_use": {"name": "write_file", "input": {"file_path": target, "content": "1\n"}}}
        if kind == "tool" and "write_file" in text:
            return {"text": "MANGO appears 1 time."}
        return {"text": f"(unexpected {kind}: {text[:80]})"}

    gemini_stub.respond_with(scripted(steps))
    sid = scope.spawn("--driver", "gemini", "Read note.txt, then ask me what to count.")
    st = scope.wait_status(sid, "needs_input", "done", "failed", timeout=120)
    assert st["status"] == "needs_input" and "Which word" in st["reason"], st
    scope.ok("redirect", sid, "count MANGO please")
    # Gemini CLI asks before it writes a file (its Notification hook): the person answers in the window
    wait_until(lambda: "requires editing" in (scope.state(sid).get("reason") or ""), 90, what="approval")
    assert scope.status(sid) == "needs_input"
    pane = scope.meta(sid)["tmux"]["pane"]
    wait_until(lambda: "Allow once" in scope.tmux("capture-pane", "-p", "-t", pane).stdout, 30, what="prompt")
    scope.tmux("send-keys", "-t", pane, "Enter")
    st = scope.wait_status(sid, "done", "failed", timeout=90)
    assert st["status"] == "done", (st, scope.events(sid)[-6:])
    assert (scope.session(sid) / "result.md").read_text() == "MANGO appears 1 time.\n"
    seq = wait_until(lambda: (q := statuses(scope, sid)) and q[-1] == "done" and q, 10, what="done event")
    assert seq[seq.index("needs_input") :] == ["needs_input", "running", "needs_input", "running", "done"], (
        seq
    )
    assert (scope.root / "count.txt").read_text() == "1\n"  # the approved write really happened
    agent = [r for r in gemini_stub.requests if r.body.get("tools")]
    assert {r.body["model"] for r in agent} == {"stub-gemini-1"}
    assert "Read note.txt, then ask me what to count." in json.dumps(agent[0].body["contents"])
    assert "Scope session" in json.dumps(agent[0].body)  # Scope's instructions went in through GEMINI.md
    assert agent[0].headers.get("x-goog-api-key") == gemini_stub.key
    ran = [e for e in scope.events(sid) if e["type"] == "tool_call"]
    assert [(e["kind"], e.get("tool")) for e in ran] == [("peek", "Bash"), ("edit", "Write")]
    assert st["tokens"]["input"] > 0 and st["tokens"]["output"] > 0
    assert json.loads(scope.ok("poll", sid, "--json"))["status_source"] == "hooks"
    assert (gemini / "settings.json").read_bytes() == PERSON_SETTINGS  # the person's own settings untouched
    assert sorted(p.name for p in gemini.iterdir()) == ["settings.json"]


def test_a_rule_breaking_call_is_blocked_by_gemini_before_tool_hook(scope, gemini, gemini_stub):
    # rlm's rules say: peek at the context before spawning. Spawning first is the deviation.
    scope.env["SCOPE_REFLECT_OFFLINE"] = "1"

    def steps(kind: str, text: str) -> Any:
        if kind == "user":
            return shell('scope spawn "summarise part 1"')
        return {"text": "Understood, I will look first. Nothing else to do."}

    gemini_stub.respond_with(scripted(steps))
    sid = scope.spawn("--driver", "gemini", "--skill", "rlm", "Summarise the log in notes.txt.")
    st = scope.wait_status(sid, "done", "failed", "needs_input", timeout=120)
    evs = scope.events(sid)
    assert st["status"] == "done", (st, evs[-8:])
    blocked = [e for e in evs if e["type"] == "tool_call" and e.get("blocked")]
    assert blocked and blocked[0]["kind"] == "spawn"
    assert sorted(p.name for p in (scope.scope_dir / "sessions").iterdir()) == [sid]  # no child was made
    agent = [r for r in gemini_stub.requests if r.body.get("tools")]
    assert "# Skill: rlm@v" in json.dumps(agent[0].body)
    told = json.dumps(blocked[0]["reason"][:60])[1:-1]  # as it reads inside the JSON of the request
    assert told in json.dumps(agent[1].body["contents"])  # gemini told its model why the call was refused
