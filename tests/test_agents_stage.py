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


def _done_task(project: Project, name: str, task: str) -> None:
    """A finished task of agent `name`, learned from as its worker's end would (experience)."""
    from scope_tui.agents import lifecycle
    from scope_tui.store import sessions

    s = sessions.create(project, task, driver="command", cmd="true", agent=name)
    lifecycle.prepare_session(project, s)
    sessions.set_status(s.dir, "done")
    lifecycle.after_terminal(project, s.dir)


def test_staff_review_a_juniors_patch_as_a_proposal_and_the_person_still_decides(scope):
    from scope_tui.agents import home
    from scope_tui.gepa.patches import load_patch, propose
    from scope_tui.patterns import skill_files
    from scope_tui.store import sessions

    project = Project(scope.scope_dir)
    for n in ("dana", "sam", "jun"):
        scope.ok("agent", "new", n)
    none = "verified_success = 0\nskills_used_by_others = 0\nheuristics_raised = 0\n"
    (home.agents_dir() / "config.toml").write_text(
        f"[growth.intermediate]\nexperience = 1\n{none}[growth.senior]\nexperience = 1\n{none}"
        f"[growth.staff]\nexperience = 2\n{none}"
    )
    for i in (1, 2):
        _done_task(project, "dana", f"design the storage layer {i}")
    _done_task(project, "sam", "design the cache")
    # jun (no task yet: a junior) deviates in a session of hers; the patch comes from it
    js = sessions.create(project, "explore the audit trail", driver="command", cmd="true", agent="jun")
    base = skill_files.load(project, "rlm")
    text = base.path.read_text()
    p = propose(
        project,
        target="skill:rlm",
        skill="rlm",
        base_version=base.version,
        base_text=text,
        new_text=text + "\n## Learned rules\n- ALWAYS grep for the error code before spawning sub-queries\n",
        reflection="spawned before looking",
        signature="test:peek",
        session=js.id,
    )
    assert p is not None and p["status"] in ("pending", "testing")
    # outside a session it is no review: the person decides
    out = scope.run("patches", "review", p["id"], "approve")
    assert out.returncode == 2 and "you decide: 'scope patches approve|reject ID'" in out.stderr
    # a senior may not review; staff may, from her own session, as a proposal
    sam = scope.spawn("--agent", "sam", "--cmd", "sleep 60", "look at jun's patch")
    out = scope.run(
        "patches", "review", p["id"], "reject", env={"SCOPE_SESSION_ID": sam, **scope.secret(sam)}
    )
    assert (
        out.returncode == 2 and "sam is senior: only a staff agent may review a junior's patch" in out.stderr
    )
    dana = scope.spawn("--agent", "dana", "--cmd", "sleep 60", "look at jun's patch")
    mine = {"SCOPE_SESSION_ID": dana, **scope.secret(dana)}
    out = scope.run(
        "patches",
        "review",
        p["id"],
        "approve",
        "--why",
        "it names the failure",
        env={"SCOPE_SESSION_ID": dana},
    )
    assert out.returncode == 2 and "does not hold its secret" in out.stderr  # a session reviews as itself
    said = scope.ok("patches", "review", p["id"], "approve", "--why", "it names the failure", env=mine)
    assert f"reviewed {p['id']}: approve proposed to the person (the patch stays {p['status']})" in said
    assert load_patch(project, p["id"])["status"] == p["status"]  # a proposal, never a decision
    assert "review: dana (staff) proposes approve: it names the failure" in scope.ok(
        "patches", "show", p["id"]
    )
    [ev] = [e for e in scope.events(js.id) if e["type"] == "patch_reviewed"]
    assert (ev["by"], ev["author"], ev["verdict"]) == ("dana", "jun", "approve")
    out = scope.run("patches", "approve", p["id"], env=mine)  # staff still cannot decide it
    assert out.returncode == 2 and load_patch(project, p["id"])["status"] == p["status"]
    scope.ok("kill", sam)
    scope.ok("kill", dana)
