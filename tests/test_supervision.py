"""Hierarchical supervision end to end: real tmux, the real pattern engines under the orchestrator (their
workers deterministic commands, or the model through the real SDK against the stub), plain OTP supervisors
over command children, and the real `scope` CLI where a person would use it."""

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


def tree_line(tree: str, sid: str) -> str:
    """The line of `scope tree` that shows session `sid`."""
    [line] = [ln for ln in tree.splitlines() if ln.split()[1:2] == [sid]]
    return line


def promised(cmd_if: str, done: str) -> str:
    """A ralph iteration's command: keeps the promise (DONE) when `cmd_if` succeeds, else runs `done`."""
    return f"{cmd_if} && echo {shlex.quote(done + ' <promise>DONE</promise>')}"


def in_task(text: str) -> str:
    """A shell test: the session's own task (task.md) holds `text`."""
    return f'grep -qF {shlex.quote(text)} "$SCOPE_DIR/sessions/$SCOPE_SESSION_ID/task.md"'


@pytest.fixture
def sdk(stub, monkeypatch):
    """The stub's address and key in this process's environment: the spawner's env reaches every window."""
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    return stub


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


def test_past_the_intensity_the_supervisor_escalates_and_the_orchestrator_switches_skill(
    scope, project, tmp_path
):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[[gates]]\nname = "made"\ncmd = "grep -q ready report.txt"\n')
    run = api.spawn(
        project,
        "make the report",
        driver="orchestrator",
        level="strategic",
        cwd=str(scope.root),
        params={
            "candidates": [
                {
                    "skill": "map-reduce",
                    "params": {
                        "parts": ["the report"],
                        "cmd": "exit 1",
                        "reduce_cmd": "true",
                        "retries": 3,
                        "intensity": 1,
                    },
                },
                {
                    "skill": "maker-checker",
                    "params": {"cmd": "echo report ready | tee report.txt", "rubric": str(rubric)},
                },
            ]
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done", scope.state(run.id)
    first, second = f"{run.id}.1", f"{run.id}.2"
    assert scope.state(first)["status"] == "escalated" and scope.state(first)["reason"] == "restart_intensity"
    # the real map-reduce engine retried its failed mapper once (intensity 1) as a fresh child; the
    # second failure exceeded the intensity
    assert [scope.meta(f"{first}.{i}")["title"] for i in (1, 2)] == [
        "map 1/1: part 1",
        "map 1/1: part 1 (attempt 2)",
    ]
    assert not scope.session(f"{first}.3").exists()
    [esc] = [e for e in scope.events(first) if e["type"] == "escalation"]
    assert esc["reason"] == "restart_intensity" and esc["to"] == run.id
    # the real maker-checker engine: a maker, then a checker that ran the rubric's gate on its work
    assert scope.meta(second)["skill"] == "maker-checker" and scope.status(second) == "done"
    maker, checker = f"{second}.1", f"{second}.2"
    assert (scope.meta(maker)["role"], scope.meta(checker)["role"]) == ("maker", "checker")
    verdict = json.loads((scope.session(checker) / "verdict.json").read_text())
    assert verdict["accepted"] and [g["name"] for g in verdict["gates"]] == ["made"]
    whats = [d["what"] for d in decisions(scope, run.id)]
    assert whats[0] == "select" and "switch_skill" in whats and whats[-1] == "finish"
    result = (scope.session(run.id) / "result.md").read_text()
    assert result.startswith("report ready") and f"Accepted on attempt 1/3 (maker {maker}" in result
    tree = scope.ok("tree")
    assert "escalated, tactical, skill=map-reduce" in tree_line(tree, first)
    assert "done, tactical, skill=maker-checker" in tree_line(tree, second)
    assert "checker 1/3  [done" in tree_line(tree, checker)


def test_task_too_big_turns_into_a_map_reduce_decomposition(scope, project, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i, n in enumerate((2, 3, 4), 1):
        (logs / f"part{i}.log").write_text("INFO ok\n" * 5 + "ERROR boom\n" * n)
    add = tmp_path / "add.py"
    add.write_text(
        "import json, sys\n"
        "d = json.load(open(sys.argv[1]))\n"
        "print(sum(int(m['result']) for m in d['mapped']), 'ERROR lines')\n"
    )
    run = api.spawn(
        project,
        "count the ERROR lines of every log",
        driver="orchestrator",
        level="strategic",
        params={
            "context": [str(logs)],
            "candidates": [
                {"skill": "ralph", "params": {"cmd": escalate_cmd("task_too_big", "40 GB of logs")}}
            ],
            "decompose": {
                "skill": "map-reduce",
                "params": {
                    "cmd": "grep -c ERROR {file}",
                    "reduce_cmd": f"{PY} {shlex.quote(str(add))} {{results}}",
                },
            },
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done", scope.state(run.id)
    ralph, mr = f"{run.id}.1", f"{run.id}.2"
    assert (scope.status(ralph), scope.state(ralph)["reason"]) == ("escalated", "task_too_big")
    assert scope.meta(mr)["skill"] == "map-reduce" and scope.meta(mr)["level"] == "tactical"
    # the real map-reduce engine: one mapper a file, then a reducer over their results
    roles = [(scope.meta(f"{mr}.{i}")["role"], scope.status(f"{mr}.{i}")) for i in (1, 2, 3, 4)]
    assert roles == [("mapper", "done")] * 3 + [("reducer", "done")]
    tree = scope.ok("tree")
    assert "map 3/3: part3.log  [done" in tree_line(tree, f"{mr}.3")
    assert "reduce 3 parts  [done" in tree_line(tree, f"{mr}.4")
    [d] = [d for d in decisions(scope, run.id) if d["what"] == "decompose"]
    assert "too big" in d["why"]
    assert (scope.session(run.id) / "result.md").read_text().strip() == "9 ERROR lines"


def test_an_escalation_nobody_handles_reaches_the_person_and_the_answer_resumes_the_run(scope, project):
    # the ralph iteration needs a go-ahead that only a person can give: it reads its task for it
    cmd = (
        promised(in_task("deploy to staging"), "deployed")
        + " || "
        + escalate_cmd("missing_context", "which environment?")
    )
    run = api.spawn(
        project,
        "deploy the service",
        driver="orchestrator",
        level="strategic",
        params={"candidates": [{"skill": "ralph", "params": {"cmd": cmd}}]},
    )
    st = scope.wait_status(run.id, "needs_input", "done", "failed", timeout=40)
    assert st["status"] == "needs_input" and "which environment?" in st["reason"]
    esc = [e for e in scope.events(run.id) if e["type"] == "escalation"]
    assert esc and esc[-1]["to"] == "person" and esc[-1]["reason"] == "missing_context"
    scope.ok("redirect", run.id, "deploy to staging, please")
    scope.wait_status(run.id, "done", "failed", timeout=40)
    assert scope.status(run.id) == "done"
    result = (scope.session(run.id) / "result.md").read_text()
    assert result.startswith("deployed") and "Promise kept at iteration 1/5" in result
    again = f"{run.id}.2"
    assert scope.meta(again)["skill"] == "ralph" and scope.meta(f"{again}.1")["role"] == "iteration"
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


def test_missing_context_sends_an_explorer_whose_findings_reach_the_retry(scope, project, sdk, tmp_path):
    schema = tmp_path / "schema.sql"
    schema.write_text("-- the tables\nthe schema is users(id, name)\n")
    # the explorer is a real RLM: the schema is its REPL variable, read by the block the model wrote
    sdk.respond_with(
        lambda body: (
            "```repl\nfound = context.splitlines()[-1]\n```\nFINAL_VAR(found)"
            if "```repl" in str(body.get("system"))
            else "(not an RLM turn)"
        )
    )
    cmd = (
        promised(in_task("users(id, name)"), "migrated")
        + " || "
        + escalate_cmd("missing_context", "what is the schema?")
    )
    run = api.spawn(
        project,
        "migrate the users table",
        driver="orchestrator",
        level="strategic",
        params={
            "candidates": [{"skill": "ralph", "params": {"cmd": cmd}}],
            "explore": {"skill": "rlm", "model": "claude-test-1", "params": {"context": [str(schema)]}},
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done", scope.state(run.id)
    explorer = f"{run.id}.2"
    assert scope.meta(explorer)["skill"] == "rlm"  # the explorer shows in the tree
    assert (scope.session(explorer) / "result.md").read_text().strip() == "the schema is users(id, name)"
    # the explorer's one turn; the other call is the strategic review of the escalation (its default model)
    [req] = [r for r in sdk.requests if r.body["model"] == "claude-test-1"]
    assert "users(id, name)" not in req.text, "the context is a REPL variable, never the prompt"
    assert "users(id, name)" in (scope.session(f"{run.id}.3") / "task.md").read_text()
    whats = [d["what"] for d in decisions(scope, run.id)]
    assert whats.index("explore") < whats.index("supply_context") < whats.index("finish")
    assert (scope.session(run.id) / "result.md").read_text().startswith("migrated")


def test_a_budget_escalation_is_raised_once_then_refused_and_the_person_is_asked(scope, project):
    cmd = escalate_cmd("budget", "spent it all")
    run = api.spawn(
        project,
        "index everything",
        driver="orchestrator",
        level="strategic",
        budget=2.0,
        params={"candidates": [{"skill": "ralph", "params": {"cmd": cmd}}]},
    )
    st = scope.wait_status(run.id, "needs_input", "done", "failed", timeout=40)
    assert st["status"] == "needs_input" and st["reason"].startswith("budget")
    assert (scope.meta(f"{run.id}.1")["budget"], scope.meta(f"{run.id}.2")["budget"]) == (1.0, 2.0)
    # each ralph run's iteration asked for more; its supervisor passed that up at once
    for sup in (f"{run.id}.1", f"{run.id}.2"):
        assert (scope.status(sup), scope.state(sup)["reason"]) == ("escalated", "budget")
        assert scope.meta(f"{sup}.1")["title"] == "iteration 1/5"
    whats = [d["what"] for d in decisions(scope, run.id)]
    assert whats == ["select", "allocate", "raise_budget", "refuse_budget", "ask_person"]
    scope.ok("kill", run.id)


def test_a_bad_restart_strategy_fails_the_supervisor_with_a_reason(scope, project):
    sid = supervise(project, [{"task": "x", "cmd": "true"}], strategy="one_for_some")
    st = scope.wait_status(sid, "failed", "done", timeout=20)
    assert st["status"] == "failed" and "unknown restart strategy 'one_for_some'" in st["reason"]
    assert not scope.session(f"{sid}.1").exists()  # nothing was started


def test_a_pattern_session_never_runs_a_stand_in_for_its_engine(scope, project):
    s = api.spawn(
        project,
        "make the report",
        driver="pattern",
        level="tactical",
        skill="ralph",
        params={"children": [{"task": "pretend", "cmd": "echo pretending"}]},
    )
    st = scope.wait_status(s.id, "failed", "done", timeout=20)
    assert st["status"] == "failed" and "a ralph session runs the ralph engine" in st["reason"]
    assert not scope.session(f"{s.id}.1").exists()  # nothing ran under a name it does not have


def test_a_composition_runs_its_stages_in_order_and_hands_results_along(scope, project, sdk, tmp_path):
    code = tmp_path / "audit.txt"
    code.write_text(
        "".join(f"line {i}\n" + ("suspect: eval()\n" if i in (3, 9, 14) else "") for i in range(20))
    )
    # stage 1, a real RLM: the model's block counts in the REPL; stage 2, a real map-reduce
    sdk.respond_with(
        lambda body: "```repl\nfound = f\"found {context.count('suspect:')} suspects\"\n```\nFINAL_VAR(found)"
    )
    check = promised(in_task("found 3 suspects"), "checked all 3").replace(" <promise>DONE</promise>", "")
    run = api.spawn(
        project,
        "audit the code",
        driver="orchestrator",
        level="strategic",
        params={
            "stages": [
                {"skill": "rlm", "model": "claude-test-1", "params": {"context": [str(code)]}},
                {
                    "skill": "map-reduce",
                    "params": {"parts": ["scan"], "cmd": check, "reduce_cmd": "cat {results}"},
                },
            ]
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done", scope.state(run.id)
    assert [scope.meta(f"{run.id}.{i}")["skill"] for i in (1, 2)] == ["rlm", "map-reduce"]
    assert (scope.session(f"{run.id}.1") / "result.md").read_text().strip() == "found 3 suspects"
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
                    "params": {
                        "cmd": escalate_cmd("stuck", "no way on"),
                        "restart": "permanent",
                        "intensity": 2,
                    },
                }
            ]
        },
    )
    st = scope.wait_status(run.id, "escalated", "needs_input", "done", "failed", timeout=40)
    assert (st["status"], st["reason"]) == ("escalated", "restart_intensity")
    # the status is final before the parent hears of it (ooda/escalation.py): wait for the message
    inbox = scope.session(outer.id) / "inbox"
    [msg] = wait_until(
        lambda: [json.loads(p.read_text()) for p in inbox.glob("*escalation.json")], 10, what="the message"
    )
    assert (msg["source"], msg["reason"]) == (run.id, "restart_intensity")
    # the ralph supervisor retried the stuck iteration as fresh children up to its intensity (2), then gave up
    titles = [scope.meta(f"{run.id}.1.{i}")["title"] for i in (1, 2, 3)]
    assert titles == ["iteration 1/5", "iteration 1/5 (attempt 2)", "iteration 1/5 (attempt 3)"]
    assert not scope.session(f"{run.id}.1.4").exists()
    assert "escalate" in [d["what"] for d in decisions(scope, run.id)]
    scope.ok("kill", outer.id)
