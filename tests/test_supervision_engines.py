"""Pattern engines run under supervision: a stalled mapper is stopped and retried, and retries past the
restart intensity turn into an escalation. Real tmux, command-driver mappers."""

from __future__ import annotations

import shlex

from scope_tui import api
from scope_tui.store.project import Project
from tests.support.helpers import wait_until


def test_a_stalled_mapper_is_stopped_and_retried_by_the_supervised_map_reduce(scope, tmp_path):
    marker = shlex.quote(str(tmp_path / "blocked-once"))
    never = shlex.quote(str(tmp_path / "never"))
    mapper = (
        f"if [ {{index}} = 2 ] && [ ! -e {marker} ]; then touch {marker}; "
        f"while [ ! -e {never} ]; do sleep 0.2; done; fi; echo part {{index}} ok"
    )
    s = api.spawn(
        Project(scope.scope_dir),
        "count the parts",
        skill="map-reduce",
        params={"parts": ["a", "b", "c"], "cmd": mapper, "reduce_cmd": "cat {results}", "stall_after": 3},
    )
    scope.wait_status(s.id, "done", "failed", "escalated", timeout=45)
    assert scope.status(s.id) == "done", scope.state(s.id)
    kids = sorted(
        p.name for p in scope.scope_dir.joinpath("sessions").iterdir() if p.name.startswith(f"{s.id}.")
    )
    part2 = [k for k in kids if scope.meta(k).get("key") == "2"]
    assert len(part2) == 2  # the stalled attempt, then a fresh child
    assert scope.status(part2[0]) == "failed" and scope.state(part2[0])["reason"].startswith("stuck")
    assert scope.status(part2[1]) == "done"
    evs = scope.events(s.id)
    stop = [e for e in evs if e["type"] == "decision" and e.get("what") == "stop_child"]
    assert stop and stop[0]["why"].startswith(f"{part2[0]} stalled")
    assert "part 2 ok" in (scope.session(s.id) / "result.md").read_text()


def test_engine_retries_past_the_intensity_escalate(scope, tmp_path):
    parent = api.spawn(Project(scope.scope_dir), "the run", driver="command", cmd="sleep 60")
    s = api.spawn(
        Project(scope.scope_dir),
        "always failing mappers",
        skill="map-reduce",
        parent=parent.id,
        params={"parts": ["a"], "cmd": "exit 3", "reduce_cmd": "true", "retries": 5, "intensity": 2},
    )
    scope.wait_status(s.id, "done", "failed", "escalated", timeout=45)
    st = scope.state(s.id)
    assert (st["status"], st["reason"]) == ("escalated", "restart_intensity")
    attempts = [p for p in scope.scope_dir.joinpath("sessions").iterdir() if p.name.startswith(f"{s.id}.")]
    assert len(attempts) == 3  # the first try and two retries; the third retry exceeded the intensity
    # the status is final before the parent hears of it (ooda/escalation.py): wait for the message
    inbox = wait_until(
        lambda: list((scope.session(parent.id) / "inbox").glob("*escalation.json")), 10, what="the message"
    )
    assert len(inbox) == 1 and "restart_intensity" in inbox[0].read_text()
    scope.ok("kill", parent.id)
