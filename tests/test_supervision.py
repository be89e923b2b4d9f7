"""Hierarchical supervision end to end: real tmux, command-driver children (deterministic scripts),
the real `scope` CLI where a person would use it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from scope_tui import api
from scope_tui.store.project import Project
from tests.support.helpers import wait_until

PY = shlex.quote(sys.executable)


def fails_until(counter: Path, ok_on: int) -> str:
    """A shell command that fails until it has run `ok_on` times (it counts its runs in `counter`)."""
    c = shlex.quote(str(counter))
    return f'echo run >> {c}; n=$(wc -l < {c}); echo "attempt $n"; [ "$n" -ge {ok_on} ]'


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def escalate_cmd(reason: str, details: str) -> str:
    return f"{PY} -m scope_tui escalate {reason} {shlex.quote(details)}"


def decisions(scope, sid: str) -> list[dict]:
    evs = scope.events(sid)
    ds = [e for e in evs if e["type"] == "decision"]
    for d in ds:  # every decision carries its reason
        assert d.get("why"), d
    return ds


def supervise(project: Project, children: list[dict], **params) -> str:
    s = api.spawn(
        project,
        "supervised work",
        driver="pattern",
        level="tactical",
        params={"children": children, **params},
    )
    return s.id


@pytest.fixture
def project(scope) -> Project:
    return Project(scope.scope_dir)


def test_one_for_one_restarts_a_failing_worker_twice_then_it_succeeds(scope, project, tmp_path):
    counter = tmp_path / "flaky"
    sid = supervise(
        project,
        [
            {"task": "flaky", "cmd": fails_until(counter, 3), "on_restart": [{"model": "a-stronger-model"}]},
            {"task": "steady", "cmd": "echo steady"},
        ],
        strategy="one_for_one",
        intensity=3,
        period=60,
    )
    scope.wait_status(sid, "done", "failed", "escalated", timeout=40)
    assert scope.status(sid) == "done"
    flaky, steady = f"{sid}.1", f"{sid}.2"
    assert runs(counter) == 3
    assert scope.status(flaky) == "done"
    restarts = [e for e in scope.events(flaky) if e["type"] == "restart"]
    assert [e["attempt"] for e in restarts] == [2, 3]
    assert restarts[0]["changes"] == {"model": "a-stronger-model"}  # a restart may change parameters
    assert scope.meta(flaky)["model"] == "a-stronger-model" and scope.meta(flaky)["restarts"] == 2
    task = (scope.session(flaky) / "task.md").read_text()  # a restart carries how earlier attempts ended
    assert "attempt 1 ended failed (exit 1)" in task and "attempt 2 ended failed" in task
    assert "attempt 1" in (scope.session(flaky) / "result.attempt1.md").read_text()
    assert not [e for e in scope.events(steady) if e["type"] == "restart"]  # one_for_one: only the one
    whats = [d["what"] for d in decisions(scope, sid)]
    assert whats.count("restart") == 2 and whats[-1] == "finish"
    assert "attempt 3" in (scope.session(sid) / "result.md").read_text()
    log = scope.ok("log", sid, "--type", "decision")
    assert "restart" in log and "one_for_one restarts" in log


def test_rest_for_one_restarts_exactly_the_later_siblings(scope, project, tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    gate = shlex.quote(str(tmp_path / "b-started"))
    sid = supervise(
        project,
        [
            {"task": "a", "cmd": f"echo run >> {shlex.quote(str(a))}"},
            # b fails on its first run only after c has started, so c is live or done when b fails
            {
                "task": "b",
                "cmd": f"touch {gate}; while [ ! -s {shlex.quote(str(c))} ]; do sleep 0.1; done; "
                + fails_until(b, 2),
            },
            {"task": "c", "cmd": f"echo run >> {shlex.quote(str(c))}"},
        ],
        strategy="rest_for_one",
        intensity=3,
    )
    scope.wait_status(sid, "done", "failed", "escalated", timeout=40)
    assert scope.status(sid) == "done"
    assert (runs(a), runs(b), runs(c)) == (1, 2, 2)
    [d] = [d for d in decisions(scope, sid) if d["what"] == "restart"]
    assert d["children"] == [f"{sid}.2", f"{sid}.3"]


def test_a_silent_worker_is_detected_and_restarted(scope, project, tmp_path):
    marker = shlex.quote(str(tmp_path / "first-run"))
    never = shlex.quote(str(tmp_path / "never-appears"))
    # first run: blocks on a file that never appears (no events for T); second run: finishes
    cmd = f"if [ -e {marker} ]; then echo second run; else touch {marker}; while [ ! -e {never} ]; do sleep 0.2; done; fi"
    sid = supervise(project, [{"task": "blocks once", "cmd": cmd}], stall_after=3, intensity=2)
    scope.wait_status(sid, "done", "failed", "escalated", timeout=40)
    assert scope.status(sid) == "done"
    [r] = [e for e in scope.events(f"{sid}.1") if e["type"] == "restart"]
    assert r["reason"] == "stalled"
    orient = [e for e in scope.events(sid) if e["type"] == "orientation" and "stalled" in e["summary"]]
    assert orient and "no progress event" in orient[0]["why"]
    assert "second run" in (scope.session(f"{sid}.1") / "result.md").read_text()


def test_past_the_intensity_the_supervisor_escalates_and_the_orchestrator_switches_skill(scope, project):
    run = api.spawn(
        project,
        "make the report",
        driver="orchestrator",
        level="strategic",
        params={
            "candidates": [
                {
                    "skill": "ralph",
                    "params": {"children": [{"task": "always fails", "cmd": "exit 1"}], "intensity": 1},
                },
                {
                    "skill": "maker-checker",
                    "params": {"children": [{"task": "works", "cmd": "echo report ready"}]},
                },
            ]
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done"
    first, second = f"{run.id}.1", f"{run.id}.2"
    assert scope.state(first)["status"] == "escalated" and scope.state(first)["reason"] == "restart_intensity"
    assert scope.meta(second)["skill"] == "maker-checker" and scope.status(second) == "done"
    # the worker was restarted once (intensity 1); its second failure exceeded the intensity
    assert [e["attempt"] for e in scope.events(f"{first}.1") if e["type"] == "restart"] == [2]
    assert scope.status(f"{first}.1") == "failed"
    [esc] = [e for e in scope.events(first) if e["type"] == "escalation"]
    assert esc["reason"] == "restart_intensity" and esc["to"] == run.id
    whats = [d["what"] for d in decisions(scope, run.id)]
    assert whats[0] == "select" and "switch_skill" in whats and whats[-1] == "finish"
    assert "report ready" in (scope.session(run.id) / "result.md").read_text()


def test_task_too_big_turns_into_a_map_reduce_decomposition(scope, project):
    run = api.spawn(
        project,
        "summarise every log",
        driver="orchestrator",
        level="strategic",
        params={
            "candidates": [
                {
                    "skill": "rlm",
                    "params": {
                        "children": [
                            {"task": "read it all", "cmd": escalate_cmd("task_too_big", "40 GB of logs")}
                        ]
                    },
                },
            ],
            "decompose": {
                "skill": "map-reduce",
                "params": {
                    "children": [{"task": f"part {i}", "cmd": f"echo part {i} summarised"} for i in (1, 2, 3)]
                },
            },
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done"
    mr = f"{run.id}.2"
    assert scope.meta(mr)["skill"] == "map-reduce" and scope.meta(mr)["level"] == "tactical"
    assert [scope.status(f"{mr}.{i}") for i in (1, 2, 3)] == ["done"] * 3
    tree = scope.ok("tree")
    assert "map-reduce" in tree and f"{mr}.3" in tree
    [d] = [d for d in decisions(scope, run.id) if d["what"] == "decompose"]
    assert "too big" in d["why"]
    result = (scope.session(run.id) / "result.md").read_text()
    assert all(f"part {i} summarised" in result for i in (1, 2, 3))


def test_an_escalation_nobody_handles_reaches_the_person_and_the_answer_resumes_the_run(scope, project):
    # the worker needs a go-ahead that only a person can give: it reads its task for it
    cmd = (
        'grep -q "deploy to staging" "$SCOPE_DIR/sessions/$SCOPE_SESSION_ID/task.md" && echo deployed || '
        + escalate_cmd("missing_context", "which environment?")
    )
    run = api.spawn(
        project,
        "deploy the service",
        driver="orchestrator",
        level="strategic",
        params={"candidates": [{"skill": "ralph", "params": {"children": [{"task": "deploy", "cmd": cmd}]}}]},
    )
    st = scope.wait_status(run.id, "needs_input", "done", "failed", timeout=40)
    assert st["status"] == "needs_input" and "which environment?" in st["reason"]
    esc = [e for e in scope.events(run.id) if e["type"] == "escalation"]
    assert esc and esc[-1]["to"] == "person" and esc[-1]["reason"] == "missing_context"
    scope.ok("redirect", run.id, "deploy to staging, please")
    scope.wait_status(run.id, "done", "failed", timeout=40)
    assert scope.status(run.id) == "done"
    assert "deployed" in (scope.session(run.id) / "result.md").read_text()
    whats = [d["what"] for d in decisions(scope, run.id)]
    assert "ask_person" in whats and "resume" in whats
    log = scope.ok("log", run.id, "--type", "decision,orientation")
    assert "ask_person" in log and "the person answered" in log


def test_scope_run_starts_an_orchestrator_and_returns_at_once(scope):
    rid = scope.ok("run", "tidy the docs", "--candidates", "ralph,maker-checker", "--budget", "2").strip()
    meta = scope.meta(rid)
    assert (meta["driver"], meta["level"], meta["budget"]) == ("orchestrator", "strategic", 2.0)
    assert [c["skill"] for c in meta["params"]["candidates"]] == ["ralph", "maker-checker"]
    # it selects, allocates half the budget and spawns a tactical supervisor for the first pattern
    wait_until(
        lambda: (scope.session(f"{rid}.1") / "state.json").is_file(), 20, what="the supervisor session"
    )
    sup = scope.meta(f"{rid}.1")
    assert (sup["skill"], sup["level"], sup["driver"], sup["budget"]) == ("ralph", "tactical", "pattern", 1.0)
    whats = [d["what"] for d in decisions(scope, rid)]
    assert whats[:2] == ["select", "allocate"]
    scope.ok("kill", rid)
    assert scope.run("run").returncode == 2  # no task: a usage error, not a traceback
    out = scope.run("escalate", "stuck", "no idea")  # outside a session there is nobody to escalate to
    assert out.returncode == 2 and out.stderr.startswith("scope: escalate runs inside a session")
    assert scope.run("escalate", "--session", rid, "bored").returncode == 2  # not a reason
    out = scope.run("escalate", "--session", rid, "stuck", env=scope.secret(rid))
    # a finished session cannot escalate: killed, or done when the offline run ended before the kill
    assert scope.status(rid) in ("killed", "done")
    assert out.returncode == 2 and f"is {scope.status(rid)}" in out.stderr, out.stderr


def test_missing_context_sends_an_explorer_whose_findings_reach_the_retry(scope, project):
    cmd = (
        'grep -qF "users(id, name)" "$SCOPE_DIR/sessions/$SCOPE_SESSION_ID/task.md" && echo migrated || '
        + escalate_cmd("missing_context", "what is the schema?")
    )
    run = api.spawn(
        project,
        "migrate the users table",
        driver="orchestrator",
        level="strategic",
        params={
            "candidates": [{"skill": "ralph", "params": {"children": [{"task": "migrate", "cmd": cmd}]}}],
            "explore": {
                "skill": "rlm",
                "params": {"children": [{"task": "find it", "cmd": "echo 'the schema is users(id, name)'"}]},
            },
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done"
    assert scope.meta(f"{run.id}.2")["skill"] == "rlm"  # the explorer shows in the tree
    assert "users(id, name)" in (scope.session(f"{run.id}.3") / "task.md").read_text()
    whats = [d["what"] for d in decisions(scope, run.id)]
    assert whats.index("explore") < whats.index("supply_context") < whats.index("finish")
    assert "migrated" in (scope.session(run.id) / "result.md").read_text()


def test_a_budget_escalation_is_raised_once_then_refused_and_the_person_is_asked(scope, project):
    cmd = escalate_cmd("budget", "spent it all")
    run = api.spawn(
        project,
        "index everything",
        driver="orchestrator",
        level="strategic",
        budget=2.0,
        params={"candidates": [{"skill": "ralph", "params": {"children": [{"task": "index", "cmd": cmd}]}}]},
    )
    st = scope.wait_status(run.id, "needs_input", "done", "failed", timeout=40)
    assert st["status"] == "needs_input" and st["reason"].startswith("budget")
    assert (scope.meta(f"{run.id}.1")["budget"], scope.meta(f"{run.id}.2")["budget"]) == (1.0, 2.0)
    whats = [d["what"] for d in decisions(scope, run.id)]
    assert whats == ["select", "allocate", "raise_budget", "refuse_budget", "ask_person"]
    scope.ok("kill", run.id)


def test_a_bad_restart_strategy_fails_the_supervisor_with_a_reason(scope, project):
    sid = supervise(project, [{"task": "x", "cmd": "true"}], strategy="one_for_some")
    st = scope.wait_status(sid, "failed", "done", timeout=20)
    assert st["status"] == "failed" and "unknown restart strategy 'one_for_some'" in st["reason"]
    assert not scope.session(f"{sid}.1").exists()  # nothing was started


def test_a_composition_runs_its_stages_in_order_and_hands_results_along(scope, project):
    check = (
        'grep -qF "found 3 suspects" "$SCOPE_DIR/sessions/$SCOPE_SESSION_ID/task.md" && echo checked all 3'
    )
    run = api.spawn(
        project,
        "audit the code",
        driver="orchestrator",
        level="strategic",
        params={
            "stages": [
                {
                    "skill": "rlm",
                    "params": {"children": [{"task": "explore", "cmd": "echo found 3 suspects"}]},
                },
                {"skill": "map-reduce", "params": {"children": [{"task": "scan", "cmd": check}]}},
            ]
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done"
    assert [scope.meta(f"{run.id}.{i}")["skill"] for i in (1, 2)] == ["rlm", "map-reduce"]
    whats = [d["what"] for d in decisions(scope, run.id)]
    assert whats == ["select", "next_stage", "finish"]
    assert "checked all 3" in (scope.session(run.id) / "result.md").read_text()


def test_a_question_left_unanswered_raises_an_alert_for_the_person(scope, project):
    ask = (
        f'{PY} -c "import os, pathlib; from scope_tui.store import sessions; '
        "sessions.set_status(pathlib.Path(os.environ['SCOPE_DIR'], 'sessions', os.environ['SCOPE_SESSION_ID']), "
        "'needs_input', reason='which port?')\"; sleep 60"
    )
    sid = supervise(project, [{"task": "asks", "cmd": ask}], answer_after=2)
    esc = wait_until(
        lambda: [e for e in scope.events(sid) if e["type"] == "escalation"], 30, what="the supervisor's alert"
    )
    assert esc[0]["to"] == "person" and esc[0]["details"] == f"{sid}.1 asks: which port?"
    assert scope.status(f"{sid}.1") == "needs_input"  # the child is left waiting for its answer
    assert any(d["what"] == "tell_person" for d in decisions(scope, sid))
    scope.ok("kill", sid)


def test_an_orchestrator_inside_a_session_escalates_further_instead_of_asking(scope, project):
    outer = api.spawn(project, "the outer agent", driver="command", cmd="sleep 60")
    run = api.spawn(
        project,
        "a sub-run",
        parent=outer.id,
        driver="orchestrator",
        level="strategic",
        params={
            "candidates": [
                {
                    "skill": "ralph",
                    "params": {"children": [{"task": "x", "cmd": escalate_cmd("stuck", "no way on")}]},
                }
            ]
        },
    )
    st = scope.wait_status(run.id, "escalated", "needs_input", "done", "failed", timeout=40)
    assert (st["status"], st["reason"]) == ("escalated", "restart_intensity")
    [msg] = [json.loads(p.read_text()) for p in (scope.session(outer.id) / "inbox").glob("*escalation.json")]
    assert (msg["source"], msg["reason"]) == (run.id, "restart_intensity")
    # the supervisor restarted the stuck worker up to its intensity (3), then gave up; nothing else to try
    assert [e["attempt"] for e in scope.events(f"{run.id}.1.1") if e["type"] == "restart"] == [2, 3, 4]
    assert "escalate" in [d["what"] for d in decisions(scope, run.id)]
    scope.ok("kill", outer.id)
