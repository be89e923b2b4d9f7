"""The supervision logic in-process, without tmux: restart policies, intensity windows, trouble detection,
escalation delivery and the decision log."""

from __future__ import annotations

import pytest

from scope_tui.ooda import restart
from scope_tui.ooda.escalation import escalate, split_inbox
from scope_tui.ooda.loop import Loop
from scope_tui.ooda.monitor import Monitor
from scope_tui.store import events, sessions
from scope_tui.store.project import Project


def test_strategies_pick_the_right_children():
    order = ["a", "b", "c", "d"]
    assert restart.to_restart("one_for_one", order, "b") == ["b"]
    assert restart.to_restart("one_for_all", order, "b") == order
    assert restart.to_restart("rest_for_one", order, "b") == ["b", "c", "d"]
    assert restart.to_restart("rest_for_one", order, "d") == ["d"]
    assert restart.stop_order(["b", "c", "d"]) == ["d", "c", "b"]
    with pytest.raises(ValueError, match="one_for_one"):
        restart.validate("one_for_some")


def test_restart_types():
    assert restart.wants_restart("permanent", "failed")
    assert restart.wants_restart("permanent", "killed")
    assert restart.wants_restart("transient", "stalled")
    assert not restart.wants_restart("transient", "killed")
    assert not restart.wants_restart("temporary", "failed")
    for t in restart.RESTART_TYPES:  # a finished task is never restarted for itself
        assert not restart.wants_restart(t, "done")


def test_intensity_window_allows_n_then_refuses_until_the_period_passes():
    w = restart.Intensity(max_restarts=3, period=10.0)
    assert [w.allow(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert not w.allow(3.0)  # a fourth restart within 10 s exceeds the intensity
    assert w.used(3.0) == 3
    assert w.allow(10.5)  # the first one has left the window
    assert not w.allow(10.6)


def test_a_restart_can_change_parameters():
    spec = {"on_restart": [{"model": "claude-sonnet-4-5"}, {"cmd": "true"}]}
    assert restart.adjust(spec, 1, "failed") == {"model": "claude-sonnet-4-5"}
    assert restart.adjust(spec, 2, "failed") == {"cmd": "true"}
    assert restart.adjust(spec, 5, "failed") == {"cmd": "true"}  # the last step repeats
    chunked = {"params": {"chunk_tokens": 8000, "parallel": 2}}
    assert restart.adjust(chunked, 1, "stalled") == {"params": {"chunk_tokens": 4000, "parallel": 2}}
    assert restart.adjust(chunked, 1, "failed") == {}


@pytest.fixture
def project(tmp_path):
    return Project.create(tmp_path / ".scope")


def test_monitor_sees_failure_stall_loops_and_error_streaks(project):
    kids = [sessions.create(project, f"child {i}") for i in range(4)]
    mon = Monitor(project, stall_after=5.0, repeat_limit=3, error_streak=3)
    t0 = 1_000_000.0
    for k in kids:
        mon.watch(k.id, now=t0)
    assert mon.poll(t0) == []
    sessions.set_status(kids[0].dir, "running")
    sessions.set_status(kids[0].dir, "failed", reason="exit 1")
    for i in range(3):  # a model call (different every turn) and a phase between actions do not hide a loop
        events.append(kids[1].dir, "llm_call", model="m", input_tokens=100 + i)
        events.append(kids[1].dir, "phase", phase="act")
        events.append(kids[1].dir, "tool_call", tool="bash", input={"cmd": "ls"})
    for i in range(3):
        events.append(kids[2].dir, "error", error=f"boom {i}")
    sessions.set_status(kids[3].dir, "running")
    found = {(o.child, o.kind) for o in mon.poll(t0 + 1)}
    assert found == {(kids[0].id, "ended"), (kids[1].id, "repeated"), (kids[2].id, "error_streak")}
    # nothing new for 5 s: the live ones are stalled, each reported once; the ended one is not
    stalled = {o.child for o in mon.poll(t0 + 7) if o.kind == "stalled"}
    assert stalled == {kids[1].id, kids[2].id, kids[3].id}
    assert mon.poll(t0 + 9) == []
    # after a restart the clock starts again
    mon.reset(kids[3].id)
    assert not [o for o in mon.poll() if o.child == kids[3].id]


def test_monitor_reports_an_unanswered_needs_input_and_an_escalation_event(project):
    k = sessions.create(project, "asks")
    mon = Monitor(project, answer_after=3.0)
    mon.watch(k.id, now=100.0)
    sessions.set_status(k.dir, "needs_input", reason="which file?")
    assert mon.poll(100.0) == []
    [o] = mon.poll(104.0)
    assert (o.kind, o.details) == ("needs_input", "which file?")
    events.append(k.dir, "escalation", reason="missing_context", details="no schema")
    [o] = mon.poll(105.0)
    assert (o.kind, o.reason, o.details) == ("escalation", "missing_context", "no schema")


def test_escalation_reaches_the_parent_inbox_with_reason_and_evidence(project):
    parent = sessions.create(project, "supervisor", level="tactical")
    child = sessions.create(project, "worker", parent=parent.id)
    ev = events.append(child.dir, "tool_call", tool="read", input={"path": "huge.log"})
    escalate(child.dir, "task_too_big", "40 GB of logs", [ev["seq"]])
    assert sessions.load_dir(child.dir).status == "escalated"
    assert sessions.load_dir(child.dir).state["reason"] == "task_too_big"
    [e] = list(events.iter_type(events.read_all(child.dir), "escalation"))
    assert (e["reason"], e["to"], e["evidence"]) == ("task_too_big", parent.id, [ev["seq"]])
    escs, other = split_inbox(sessions.take_messages(parent.dir))
    assert other == []
    [m] = escs
    assert (m.source, m.reason, m.details, m.evidence) == (
        child.id,
        "task_too_big",
        "40 GB of logs",
        [ev["seq"]],
    )


def test_escalation_at_the_top_asks_the_person(project):
    top = sessions.create(project, "the run", level="strategic")
    escalate(top.dir, "missing_context", "which database?")
    s = sessions.load_dir(top.dir)
    assert s.status == "needs_input" and not s.terminal
    assert "which database?" in s.state["reason"]


def test_the_loop_writes_phase_and_reasoned_events(project):
    s = sessions.create(project, "x", level="tactical")
    loop = Loop(s.dir)
    loop.observe("start")
    loop.orient("child 1 failed", "exit 1")
    loop.decide("restart", "transient child failed once")
    assert sessions.load_dir(s.dir).state["phase"] == "decide"
    loop.act("restarting")
    evs = events.read_all(s.dir)
    assert [e["phase"] for e in events.iter_type(evs, "phase")] == ["observe", "orient", "decide", "act"]
    [d] = list(events.iter_type(evs, "decision"))
    assert (d["what"], d["why"]) == ("restart", "transient child failed once")


def test_a_pane_died_report_about_a_pane_the_session_left_is_stale(project):
    """A supervisor relaunches a session under the same id; the old pane's late report must not fail it."""
    from scope_tui.store.atomic import write_json
    from scope_tui.substrate.reaper import reap

    s = sessions.create(project, "restarted")
    s.meta["tmux"] = {"window": "@9", "pane": "%9"}
    write_json(s.dir / sessions.META, s.meta)
    sessions.set_status(s.dir, "running")
    assert not reap(project.root, s.id, "1", "", "%3")  # the old run's pane
    assert sessions.load_dir(s.dir).status == "running"
    assert reap(project.root, s.id, "1", "", "%9")  # its own pane: a real crash
    st = sessions.load_dir(s.dir).state
    assert (st["status"], st["reason"]) == ("failed", "crashed")
