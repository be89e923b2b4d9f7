"""What an agent's stage changes, through the real parts: a junior asks sooner (its supervisor's real
monitor sees its loop after fewer repeats, a model worker on the stub through the SDK), and only staff
may review a junior's patch, as a proposal the person still decides."""

from __future__ import annotations

import json

from scope_tui import api
from scope_tui.store.project import Project
from tests.support.helpers import wait_until


def test_a_juniors_worker_repeating_itself_is_nudged_after_two_repeats_not_four(scope, stub, monkeypatch):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    scope.ok("agent", "new", "jun")

    def nudged() -> bool:
        return any(scope.scope_dir.glob("sessions/*/inbox/*redirect.json")) or any(
            scope.scope_dir.glob("sessions/*/inbox/read/*redirect.json")
        )

    def script(body):
        if "Your supervisor sees" in json.dumps(body["messages"]):
            return {
                "tool_use": {"name": "finish", "input": {"result": "another way <promise>DONE</promise>"}}
            }
        if len(stub.requests) > 2:  # the same call twice: hold the third reply until the nudge is in
            wait_until(nudged, 30, what="the supervisor's nudge")
        return {"tool_use": {"name": "bash", "input": {"command": "echo same"}}}

    stub.respond_with(script)
    s = api.spawn(
        Project(scope.scope_dir),
        "make the build pass",
        skill="ralph",
        agent="jun",
        model="claude-test-1",
        params={"promise": "DONE", "max_iter": 1},
    )
    scope.wait_status(s.id, "done", "failed", "escalated", timeout=90)
    assert scope.status(s.id) == "done", scope.state(s.id)
    assert scope.meta(s.id)["asks"] == {
        "stage": "junior",
        "stall_after": 300,
        "repeat_limit": 2,
        "error_streak": 2,
    }
    iteration = scope.meta(f"{s.id}.1")  # works for jun: it carries her stage's limits
    assert iteration["works_for"] == "jun" and iteration["asks"]["repeat_limit"] == 2
    [d] = [e for e in scope.events(s.id) if e["type"] == "decision" and e.get("what") == "nudge"]
    assert "the same exec 2 times in a row (a junior's limit)" in d["why"]
    # the third turn waited for the nudge (a non-agent's worker gets it after four: test_supervision_model)
    assert "Your supervisor sees" in stub.requests[-1].text and len(stub.requests) <= 4
