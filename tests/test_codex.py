"""The Codex CLI driver end to end: real `codex` in a private tmux server, talking to a Responses-API stub.

Skips outside CI only when the `codex` CLI is absent; with CI=1 a missing CLI is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from scope_tui.store import config
from scope_tui.store.project import Project
from tests.support.helpers import wait_until

PERSON_CONFIG = b'# my own codex settings\nmodel = "gpt-5"\n[tui]\ntheme = "dark"\n'


@pytest.fixture
def codex(home, scope, openai_stub) -> Path:
    """The project's codex sessions talk to the stub; the person has a ~/.codex of their own to keep intact."""
    if shutil.which("codex") is None:
        if os.environ.get("CI"):
            pytest.fail("the codex CLI is missing in CI: npm install -g @openai/codex")
        pytest.skip("the codex CLI is not installed (npm install -g @openai/codex)")
    own = home / ".codex"
    own.mkdir()
    (own / "config.toml").write_bytes(PERSON_CONFIG)
    config.update(
        Project(scope.scope_dir).config_path,
        {"codex": {"base_url": openai_stub.url + "/v1", "model": "stub-codex-1", "ready_timeout": 90.0}},
    )
    scope.ok("trust")  # [codex] base_url names where codex's calls (and the key) go: a person's decision
    scope.env["OPENAI_API_KEY"] = openai_stub.key
    return own


def turn(body: dict[str, Any]) -> tuple[str, str]:
    """(kind, text) of the newest input item of a Responses request: a user message or a tool's output."""
    last = (body.get("input") or [{}])[-1]
    if last.get("type") == "function_call_output":
        return "tool", str(last.get("output"))
    content = last.get("content") or []
    return "user", " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))


def scripted(steps):
    """Codex's side requests (titles: no tools) get a title; its agent turns get `steps(kind, text)`."""

    def answer(body: dict[str, Any]) -> Any:
        if not body.get("tools"):
            return {"text": json.dumps({"title": "Scope test"})}
        return steps(*turn(body))

    return answer


def shell(cmd: str, **extra: Any) -> dict[str, Any]:
    return {"tool_use": {"name": "exec_command", "input": {"cmd": cmd, **extra}}}


def statuses(scope, sid: str) -> list[str]:
    out: list[str] = []
    for e in scope.events(sid):
        if e["type"] == "status" and (not out or out[-1] != e["status"]):
            out.append(e["status"])
    return out


def test_codex_runs_asks_is_redirected_asks_approval_and_finishes(scope, codex, openai_stub):
    (scope.root / "note.txt").write_text("the word is MANGO\n")

    def steps(kind: str, text: str) -> Any:
        if kind == "user" and "Read note.txt" in text:
            return shell("cat note.txt")
        if kind == "tool" and "the word is MANGO" in text:
            return {"text": "I read it. Which word should I count?"}
        if kind == "user" and "count MANGO" in text:
            return shell(
                "grep -c MANGO note.txt > count.txt && echo counted",
                sandbox_permissions="require_escalated",
                justification="May I write count.txt?",
            )
        if kind == "tool" and "counted" in text:
            return {"text": "MANGO appears 1 time."}
        return {"text": f"(unexpected {kind}: {text[:80]})"}

    openai_stub.respond_with(scripted(steps))
    sid = scope.spawn("--driver", "codex", "Read note.txt, then ask me what to count.")
    st = scope.wait_status(sid, "needs_input", "done", "failed", timeout=120)
    assert st["status"] == "needs_input" and "Which word" in st["reason"], st
    scope.ok("redirect", sid, "count MANGO please")
    st = scope.wait_status(sid, "needs_input", "done", "failed", timeout=90)
    # the person answers the approval prompt in the window, as they would after attaching
    wait_until(lambda: "asks to approve" in (scope.state(sid).get("reason") or ""), 60, what="approval")
    pane = scope.meta(sid)["tmux"]["pane"]
    wait_until(
        lambda: "Yes, proceed" in scope.tmux("capture-pane", "-p", "-t", pane).stdout, 30, what="the prompt"
    )
    scope.tmux("send-keys", "-t", pane, "y")
    st = scope.wait_status(sid, "done", "failed", timeout=90)
    assert st["status"] == "done", (st, scope.events(sid)[-6:])
    assert (scope.session(sid) / "result.md").read_text() == "MANGO appears 1 time.\n"
    assert (scope.root / "count.txt").read_text().strip() == "1"  # the approved call really ran
    # the state is written before its status event: wait for the event too
    seq = wait_until(lambda: (q := statuses(scope, sid)) and q[-1] == "done" and q, 10, what="done event")
    assert seq[seq.index("needs_input") :] == ["needs_input", "running", "needs_input", "running", "done"], (
        seq
    )
    agent = [r for r in openai_stub.requests if r.body.get("tools")]
    assert {r.body["model"] for r in agent} == {"stub-codex-1"}
    assert "Read note.txt, then ask me what to count." in agent[0].text  # the task reached the model
    assert "Scope session" in agent[0].text  # Scope's instructions went in through AGENTS.md
    assert agent[0].headers["authorization"] == f"Bearer {openai_stub.key}"
    assert st["tokens"]["input"] > 0 and st["tokens"]["output"] > 0
    poll = json.loads(scope.ok("poll", sid, "--json"))
    assert poll["status_source"] == "hooks"
    assert (codex / "config.toml").read_bytes() == PERSON_CONFIG  # the person's own config untouched
    assert sorted(p.name for p in codex.iterdir()) == ["config.toml"]
    key = openai_stub.key
    for path in scope.scope_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".log", ".toml"):
            assert key.encode() not in path.read_bytes(), f"key leaked into {path}"


def test_a_rule_breaking_call_is_blocked_by_codex_pre_tool_hook(scope, codex, openai_stub):
    # rlm's rules say: peek at the context before spawning. Spawning first is the deviation.
    scope.env["SCOPE_REFLECT_OFFLINE"] = "1"

    def steps(kind: str, text: str) -> Any:
        if kind == "user":
            return shell('scope spawn "summarise part 1"')
        return {"text": "Understood, I will look first. Nothing else to do."}

    openai_stub.respond_with(scripted(steps))
    sid = scope.spawn("--driver", "codex", "--skill", "rlm", "Summarise the log in notes.txt.")
    st = scope.wait_status(sid, "done", "failed", "needs_input", timeout=120)
    evs = scope.events(sid)
    assert st["status"] == "done", (st, evs[-8:])
    blocked = [e for e in evs if e["type"] == "tool_call" and e.get("blocked")]
    assert blocked and blocked[0]["kind"] == "spawn"
    assert sorted(p.name for p in (scope.scope_dir / "sessions").iterdir()) == [sid]  # no child was made
    agent = [r for r in openai_stub.requests if r.body.get("tools")]
    assert "# Skill: rlm@v" in agent[0].text
    assert blocked[0]["reason"][:60] in agent[1].text  # codex told its model why the call was refused


def test_a_project_with_its_own_codex_hooks_is_refused(scope, codex, openai_stub):
    (scope.root / ".codex").mkdir()
    (scope.root / ".codex" / "hooks.json").write_text('{"hooks": {}}')
    sid = scope.spawn("--driver", "codex", "anything")
    st = scope.wait_status(sid, "failed", "done", timeout=60)
    assert st["status"] == "failed" and "hooks of its own" in st["reason"]
    assert not openai_stub.requests


def test_doctor_and_the_spawn_form_see_codex_only_when_installed(scope, codex, tmp_path, monkeypatch):
    from scope_tui.store.drivers import installed

    out = scope.ok("doctor")
    assert "Codex CLI (--driver codex): codex-cli " in out and "openai: openai SDK " in out
    assert "codex" in installed()
    empty = tmp_path / "no-clis"
    empty.mkdir()
    with monkeypatch.context() as m:
        m.setenv("PATH", str(empty))
        assert installed() == ("builtin", "command")
    gone = scope.run("doctor", env={"PATH": f"{empty}:{Path(sys.executable).parent}"})
    assert "Codex CLI (--driver codex): not found" in gone.stdout
    assert "npm install -g @openai/codex" in gone.stdout
