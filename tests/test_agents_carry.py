"""What a persistent agent carries into every run: the model behind each driver kind receives the agent's
identity and the memory that applies to its task (this project, the skills in play), and not the memory
that does not. Through the real CLI, real tmux, the built-in driver on the real anthropic SDK against the
Messages-API stub, and the real map-reduce engine and orchestrator. (Each driver's own window, the
built-in and every agent CLI: tests/test_agents_drivers.py.)"""

from __future__ import annotations

import json

from scope_tui.agents import home
from tests.support.helpers import wait_until

MR_RULE = "Count with grep -c per part; never estimate a count."
RALPH_RULE = "Keep each ralph iteration under ten lines of change."
OTHER_PROJECT_RULE = "In the billing repo always run make migrate first."


def _ada(scope) -> None:
    scope.ok("agent", "new", "ada", "--strengths", "log forensics")
    h = home.agents_dir() / "ada" / "memory" / "heuristics.json"
    rules = [
        {"id": "h1", "text": MR_RULE, "source": "person", "skill": "map-reduce", "project": None},
        {"id": "h2", "text": RALPH_RULE, "source": "person", "skill": "ralph", "project": None},
        {"id": "h3", "text": OTHER_PROJECT_RULE, "source": "person", "skill": None, "project": "/elsewhere"},
    ]
    h.write_text(json.dumps({"heuristics": rules, "pulled": [], "proposed": 0}))


def _logs(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    for i in range(2):
        (d / f"app{i}.log").write_text("ERROR x\n" * 5)
    return d


def _model_env(scope, stub) -> None:
    scope.env.update(stub.env)
    stub.respond_with(lambda body: {"text": "5 ERROR lines"})


def test_a_map_reduce_mapper_of_an_agents_task_receives_the_map_reduce_rule_not_the_ralph_one(
    scope, stub, tmp_path
):
    _ada(scope)
    _model_env(scope, stub)
    logs = _logs(tmp_path)
    sid = scope.spawn(
        "--agent",
        "ada",
        "--skill",
        "map-reduce",
        "--context",
        str(logs),
        "--model",
        "claude-test-1",
        "count the ERROR lines",
    )
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", scope.state(sid)
    mappers = [r for r in stub.requests if "Map step" in r.text]
    assert len(mappers) == 2, [r.text[:80] for r in stub.requests]
    for r in mappers:
        assert "You are ada" in json.dumps(r.body.get("system"))
        assert MR_RULE in r.text and RALPH_RULE not in r.text and OTHER_PROJECT_RULE not in r.text
    mapper = f"{sid}.1"
    assert scope.meta(mapper)["works_for"] == "ada"
    assert not scope.meta(mapper).get("agent"), "a mapper works for ada's task; it is no task of ada's own"
    [carried] = [e for e in scope.events(mapper) if e["type"] == "agent_carried"]
    assert "map-reduce" in carried["skills"]
    wait_until(lambda: any(e["type"] == "agent_update" for e in scope.events(sid)), what="ada's update")
    stats = json.loads((home.agents_dir() / "ada" / "stats.json").read_text())
    assert stats["tasks"] == 1, "only the agent's own task counts, not its mappers"


def test_an_orchestrators_children_of_an_agents_run_receive_its_memory(scope, stub, tmp_path, monkeypatch):
    from scope_tui import api
    from scope_tui.store.project import Project

    _ada(scope)
    _model_env(scope, stub)
    logs = _logs(tmp_path)
    for k, v in stub.env.items():  # the spawner's env reaches every window
        monkeypatch.setenv(k, v)
    run = api.spawn(
        Project(scope.scope_dir),
        "count the ERROR lines",
        driver="orchestrator",
        level="strategic",
        agent="ada",
        parent=None,
        cwd=str(scope.root),
        params={
            "candidates": [
                {"skill": "map-reduce", "model": "claude-test-1", "params": {"context": [str(logs)]}}
            ]
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=90)
    assert scope.status(run.id) == "done", scope.state(run.id)
    sup = f"{run.id}.1"
    assert scope.meta(sup)["works_for"] == "ada" and scope.meta(f"{sup}.1")["works_for"] == "ada"
    mappers = [r for r in stub.requests if "Map step" in r.text]
    assert mappers and all(MR_RULE in r.text and RALPH_RULE not in r.text for r in mappers)


# --- own skills first --------------------------------------------------------------------------------
def _own_map_reduce_skill(scope, tmp_path) -> str:
    """ada's own skill, made by her first map-reduce run (command mappers, verified by its expected answer)."""
    logs = tmp_path / "first"
    logs.mkdir()
    for i in range(2):
        (logs / f"app{i}.log").write_text("ERROR x\n" * 3 + "INFO y\n")
    add = tmp_path / "add.py"  # the reducer adds the mappers' counts up: this run needs no model
    add.write_text(
        "import json, sys\nprint(sum(int(m['result']) for m in json.load(open(sys.argv[1]))['mapped']))\n"
    )
    sid = scope.spawn(
        *("--agent", "ada", "--skill", "map-reduce", "--context", str(logs), "--cmd", "grep -c ERROR {file}"),
        *("--reduce-cmd", f"python3 {add} {{results}}", "--expect", "6", "count the ERROR lines of app logs"),
    )
    up = wait_until(
        lambda: next((e for e in scope.events(sid) if e["type"] == "agent_update"), None), what="ada's update"
    )
    assert up.get("new_skill"), up
    return str(up["new_skill"]["name"])


def test_a_skill_extracted_from_a_pattern_run_inherits_the_patterns_rules(scope, tmp_path):
    from scope_tui.agents import own_skills
    from scope_tui.patterns import skill_files
    from scope_tui.store.project import Project

    _ada(scope)
    name = _own_map_reduce_skill(scope, tmp_path)
    project = Project(scope.scope_dir)
    mine = skill_files.load(project, name, agent_skill_root=own_skills.root(home.agents_dir() / "ada"))
    base = skill_files.load(project, "map-reduce")
    assert mine.front["base"] == "map-reduce" and base.rules
    assert mine.rules == base.rules, "a forked skill keeps its parent's rules, so deviations are found in it"


def test_scope_run_with_an_agent_runs_its_own_skill_first_and_every_mapper_gets_its_procedure(
    scope, stub, tmp_path
):
    _ada(scope)
    name = _own_map_reduce_skill(scope, tmp_path)
    _model_env(scope, stub)
    logs = _logs(tmp_path)
    out = scope.ok(
        "run",
        "--agent",
        "ada",
        "--context",
        str(logs),
        "--model",
        "claude-test-1",
        "count the ERROR lines of the app logs",
    )
    sid = out.strip()
    scope.wait_status(sid, "done", "failed", "needs_input", timeout=120)
    assert scope.status(sid) == "done", scope.state(sid)
    [sel] = [e for e in scope.events(sid) if e["type"] == "decision" and e.get("what") == "select"]
    assert sel["own_skill"] == name and sel["skill"] == "map-reduce", sel
    assert f"ada's own skill {name} v1" in sel["why"]
    assert scope.meta(f"{sid}.1")["skill"] == "map-reduce"
    mappers = [r for r in stub.requests if "Map step" in r.text]
    assert len(mappers) == 2 and all(f"Your own skill for this task: {name} v1" in r.text for r in mappers)


def test_a_done_task_its_checks_fail_makes_no_skill_and_is_remembered_as_what_not_to_do(scope):
    from scope_tui.agents import lifecycle
    from scope_tui.store import sessions
    from scope_tui.store.project import Project

    _ada(scope)
    project = Project(scope.scope_dir)
    s = sessions.create(
        project,
        "tidy the release notes",
        driver="command",
        cmd="true",
        agent="ada",
        cwd=str(scope.root),
        params={"checks": ["test -f NOTES.md"]},
    )
    lifecycle.prepare_session(project, s)
    sessions.set_status(s.dir, "done")
    lifecycle.after_terminal(project, s.dir)
    assert not list((home.agents_dir() / "ada" / "skills").iterdir()), "an unverified success is no skill"
    [f] = json.loads((home.agents_dir() / "ada" / "memory" / "failures.json").read_text())["failures"]
    assert "0/1 checks passed" in f["avoid"]


def test_a_failure_with_a_reflection_stores_its_adjustment_not_a_template(scope):
    from scope_tui.agents import lifecycle
    from scope_tui.store import events, sessions
    from scope_tui.store.project import Project

    _ada(scope)
    project = Project(scope.scope_dir)
    s = sessions.create(project, "find the leak", driver="command", cmd="false", agent="ada")
    lifecycle.prepare_session(project, s)
    events.append(
        s.dir,
        "reflection",
        text="DEVIATION DETECTED\nADJUSTMENT: NEVER grep the whole tree; grep src/ first.",
    )
    sessions.set_status(s.dir, "failed", reason="exit 1")
    lifecycle.after_terminal(project, s.dir)
    [f] = json.loads((home.agents_dir() / "ada" / "memory" / "failures.json").read_text())["failures"]
    assert (
        f["avoid"]
        == "'find the leak' failed (exit 1); next time: NEVER grep the whole tree; grep src/ first."
    )


# --- relationships steer -----------------------------------------------------------------------------
def test_maker_checker_of_an_agents_task_is_checked_by_the_agent_who_verifies_its_work(scope, tmp_path):
    _ada(scope)
    scope.ok("agent", "new", "bob")
    scope.ok("agent", "new", "cy")
    rel = home.agents_dir() / "ada" / "relationships.json"
    rel.write_text(json.dumps({"bob": {"verified_by": 3, "accepted_by": 2}, "cy": {"spawned": 1}}))
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[[gates]]\nname = "made"\ncmd = "test -f made.txt"\ntimeout = 10\n')
    sid = scope.spawn(
        "--agent",
        "ada",
        "--skill",
        "maker-checker",
        "--rubric",
        str(rubric),
        "--cmd",
        "touch made.txt",
        "make the file",
    )
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", scope.state(sid)
    maker, checker = f"{sid}.1", f"{sid}.2"
    assert scope.meta(checker)["role"] == "checker" and scope.meta(checker)["agent"] == "bob"
    assert scope.meta(maker)["works_for"] == "ada"
    [d] = [e for e in scope.events(sid) if e["type"] == "decision" and e.get("what") == "checker"]
    assert d["why"].startswith("bob checks: bob has verified ada's work 3 time(s)")
    wait_until(lambda: any(e["type"] == "agent_update" for e in scope.events(checker)), what="bob's update")
    bob_rel = json.loads((home.agents_dir() / "bob" / "relationships.json").read_text())
    assert bob_rel["ada"]["verified"] == 1 and bob_rel["ada"]["accepted"] == 1, "the outcome is recorded"
    ada_rel = json.loads(rel.read_text())
    assert ada_rel["bob"]["verified_by"] == 4 and ada_rel["bob"]["accepted_by"] == 3
