"""What the model behind each driver receives when a persistent agent takes a task: its identity and the
heuristic that applies to the task (of the skill in play), and not the ones that do not (another skill's,
another project's). One test per driver: the built-in loop on the real anthropic SDK, and the real Claude
Code, Codex, Gemini and OpenCode CLIs, each against its own API stub on 127.0.0.1. A CLI that is missing
skips (fails in CI) as in each driver's own tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_agents_carry import MR_RULE as APPLIES  # a map-reduce heuristic of ada's
from tests.test_agents_carry import OTHER_PROJECT_RULE as OTHER_PROJECT
from tests.test_agents_carry import RALPH_RULE as OTHER_SKILL
from tests.test_agents_carry import _ada as ada  # ada, "log forensics", with the three heuristics
from tests.test_claude import claude_home  # noqa: F401  (fixtures: each CLI's private home and stub)
from tests.test_codex import codex  # noqa: F401
from tests.test_gemini import gemini  # noqa: F401
from tests.test_opencode import opencode  # noqa: F401

TASK = "Say in one line how you would count the ERROR lines of many logs."
ANSWER = "grep -c ERROR on each log, then add the counts."


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """Every agent turn (a request with tools) gets the answer; side requests (titles) a short text."""
    return {"text": ANSWER if body.get("tools") else "Scope test"}


# driver -> (its fixtures, the stub its model calls go to, whether a request is the agent's own turn)
DRIVERS: dict[str, tuple[tuple[str, ...], str, Any]] = {
    "builtin": ((), "stub", lambda b: bool(b.get("tools"))),
    "claude": (("claude_home",), "stub", lambda b: bool(b.get("tools"))),
    "codex": (("codex",), "openai_stub", lambda b: bool(b.get("tools")) and "input" in b),
    "gemini": (("gemini",), "gemini_stub", lambda b: bool(b.get("tools"))),
    "opencode": (("opencode",), "openai_stub", lambda b: bool(b.get("tools")) and "messages" in b),
}


@pytest.mark.parametrize("driver", list(DRIVERS))
def test_the_model_behind_each_driver_receives_the_agents_identity_and_only_the_memory_that_applies(
    driver, scope, request
):
    fixtures, stub_name, agent_turn = DRIVERS[driver]
    for f in fixtures:
        request.getfixturevalue(f)
    stub = request.getfixturevalue(stub_name)
    if driver == "builtin":
        scope.env.update(stub.env)
    stub.respond_with(answer)
    ada(scope)
    sid = scope.spawn("--agent", "ada", "--driver", driver, "--skill", "map-reduce", TASK)
    st = scope.wait_status(sid, "done", "failed", "needs_input", timeout=150)
    assert st["status"] == "done", (st, scope.events(sid)[-5:])
    assert (scope.session(sid) / "result.md").read_text().strip() == ANSWER
    turns = [r for r in stub.requests if agent_turn(r.body)]
    assert turns, [sorted(r.body) for r in stub.requests]
    seen = json.dumps(turns[0].body)  # system prompt, instructions and messages, however the API puts them
    assert "You are ada" in seen and "log forensics" in seen, "the agent's identity"
    assert APPLIES in seen, "the heuristic of the skill in play"
    assert OTHER_SKILL not in seen, "no ralph skill is in play"
    assert OTHER_PROJECT not in seen, "a rule of another project is not this task's"
