"""Persistent agents: the folder, own skills matched first and extracted from successes, failures
remembered, approved patches as heuristics, growth, broken files reported, relationships.

Through the real CLI and tmux (command-driver sessions, deterministic) where the path a person takes
matters; in-process prepare_session / after_terminal for the learning logic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scope_tui.agents import delegate, home, identity, lifecycle
from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from tests.support.helpers import wait_until


def agent_dir(name: str) -> Path:
    return home.agents_dir() / name


def read(path: Path):
    return json.loads(path.read_text())


def agent_update(runner, sid: str) -> dict:
    return wait_until(
        lambda: next((e for e in runner.events(sid) if e["type"] == "agent_update"), None),
        what=f"the agent_update event of {sid}",
    )


@pytest.fixture
def project(tmp_path, home) -> Project:
    return Project.create(tmp_path / "p" / ".scope")


def finish(
    project: Project, task: str, status: str = "done", result: str | None = None, **meta
) -> sessions.Session:
    """A session given to an agent, prepared as api.spawn does, ended with `status` (and `result`), then
    learned from."""
    s = sessions.create(project, task, driver="command", cmd="true", **meta)
    lifecycle.prepare_session(project, s)
    if result is not None:
        sessions.write_result(s.dir, result)
    sessions.set_status(s.dir, status, reason=None if status == "done" else "exit 1")
    lifecycle.after_terminal(project, s.dir)
    return sessions.load_dir(s.dir)


# --- the CLI ---------------------------------------------------------------------------------------
def test_agent_new_writes_the_folder_and_list_shows_it(scope):
    out = scope.ok("agent", "new", "alice", "--prefers", "RLM for exploration", "--strengths", "auth systems")
    assert "created agent alice" in out
    d = agent_dir("alice")
    ident = (d / "identity.md").read_text()
    assert "- preferences: RLM for exploration" in ident and "- strengths: auth systems" in ident
    assert read(d / "memory" / "heuristics.json")["heuristics"] == []
    assert read(d / "memory" / "failures.json") == {"failures": []}
    assert read(d / "relationships.json") == {}
    assert (d / "skills").is_dir() and (d / "memory" / "contexts").is_dir()
    assert "[growth.intermediate]" in (home.agents_dir() / "config.toml").read_text()
    rows = scope.ok("agent", "list").splitlines()
    assert rows[1].split()[:3] == ["alice", "junior", "0"]
    again = scope.run("agent", "new", "alice")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = scope.run("agent", "new", "Bad Name")
    assert bad.returncode == 2 and "bad agent name" in bad.stderr
    missing = scope.run("agent", "show", "zed")
    assert missing.returncode == 2 and "no agent 'zed'" in missing.stderr
    unknown = scope.run("spawn", "--agent", "zed", "--cmd", "true", "a task")
    assert unknown.returncode == 2 and "no agent 'zed'" in unknown.stderr
    assert not list((scope.scope_dir / "sessions").iterdir()), "a refused spawn must not leave a session"


def test_novel_success_becomes_own_skill_and_the_next_such_task_uses_it(scope, stub):
    scope.ok("agent", "new", "alice")
    sid = scope.spawn("--agent", "alice", "--cmd", "echo audited", "audit the auth module for token leaks")
    up = agent_update(scope, sid)
    assert up["status"] == "done" and up["experience"] == 1
    name = up["new_skill"]["name"]
    assert name == "audit-auth" and up["new_skill"]["status"] == "evolving"
    sk = agent_dir("alice") / "skills" / name
    text = (sk / "v1.md").read_text()
    assert "echo audited" in text, "the skill is made from what the session did"
    lin = read(sk / "lineage.json")
    assert lin["status"] == "evolving" and lin["created_after"].startswith(f"task {sid} in ")
    assert lin["versions"]["1"]["origin"] == "agent" and lin["uses"] == 0

    # the next such task, on a model: the model is given the skill alice made, and uses it
    scope.env.update(stub.env)
    stub.respond_with(lambda body: {"text": "checked the hashing"})
    sid2 = scope.spawn(
        "--agent",
        "alice",
        "--driver",
        "builtin",
        "--model",
        "claude-test-1",
        "audit the auth service for weak hashing",
    )
    decision = next(e for e in scope.events(sid2) if e["type"] == "decision" and e.get("by") == "agent")
    assert decision["choice"] == f"own skill {name} v1" and decision["source"] == "agent"
    assert "keywords 2/4" in decision["why"], decision["why"]
    assert scope.meta(sid2)["skill"] == name
    up2 = agent_update(scope, sid2)
    [req] = stub.requests
    system = json.dumps(req.body.get("system"))
    assert f"## Skill: {name}" in system and "echo audited" in system, "the model reads alice's own skill"
    assert "new_skill" not in up2 and up2["skill_used"] == {"name": name, "uses": 1, "status": "evolving"}
    assert read(sk / "lineage.json")["successes"] == 1
    show = scope.ok("agent", "show", "alice")
    assert f"{name} v1 (evolving, 1 uses, 100% success)" in show

    sid3 = scope.spawn("--agent", "alice", "--cmd", "true", "render the pricing page in react")
    d3 = next(e for e in scope.events(sid3) if e["type"] == "decision" and e.get("by") == "agent")
    assert d3["choice"] == "base patterns" and "no own skill of alice matches" in d3["why"]


def test_failed_task_is_remembered_and_the_next_prompt_warns(scope, stub):
    scope.ok("agent", "new", "bob")
    sid = scope.spawn("--agent", "bob", "--cmd", "echo boom; exit 3", "migrate the billing schema")
    up = agent_update(scope, sid)
    assert up["status"] == "failed" and "new_skill" not in up
    fails = read(agent_dir("bob") / "memory" / "failures.json")["failures"]
    assert len(fails) == 1
    f = fails[0]
    assert f["task"] == "migrate the billing schema" and f["session"] == sid and f["reason"] == "exit 3"
    assert "exit 3" in f["avoid"] and "echo boom" in f["avoid"]
    assert not list((agent_dir("bob") / "skills").iterdir()), "a failure makes no skill"
    # his next task, on a model: the model is warned of what failed
    scope.env.update(stub.env)
    stub.respond_with(lambda body: {"text": "done carefully"})
    sid2 = scope.spawn("--agent", "bob", "--driver", "builtin", "--model", "claude-test-1", "another task")
    scope.wait_status(sid2, "done", "failed", timeout=60)
    [req] = stub.requests
    system = json.dumps(req.body.get("system"))
    assert (
        "## Failures to avoid" in system and "migrate the billing schema" in system and "echo boom" in system
    )
    assert "failures to avoid (1)" in scope.ok("agent", "show", "bob")


def test_corrupt_heuristics_are_reported_and_the_agent_still_works(scope):
    scope.ok("agent", "new", "carol")
    h = agent_dir("carol") / "memory" / "heuristics.json"
    h.write_text('{"heuristics": [ oops')
    p = scope.run("spawn", "--agent", "carol", "--cmd", "echo fine", "summarise the changelog")
    assert p.returncode == 0, p.stderr
    sid = p.stdout.strip()
    assert "heuristics.json: not valid JSON" in p.stderr
    assert any(
        e["type"] == "agent_problem" and "heuristics.json" in e["problems"][0] for e in scope.events(sid)
    )
    assert scope.wait_status(sid, "done")["status"] == "done"
    up = agent_update(scope, sid)
    assert up["experience"] == 1 and any("heuristics.json" in x for x in up["problems"])
    assert h.read_text() == '{"heuristics": [ oops', "a hand-broken file is left for the person to fix"
    show = scope.run("agent", "show", "carol")
    assert show.returncode == 0 and "!! " in show.stdout and "heuristics.json" in show.stdout


def test_killed_and_crashed_sessions_still_update_their_agent(scope):
    scope.ok("agent", "new", "dave")
    sid = scope.spawn("--agent", "dave", "--cmd", "sleep 60", "wait for the release")
    scope.wait_status(sid, "running")
    assert f"killed 1: {sid}" in scope.ok("kill", "-y", sid)
    assert agent_update(scope, sid)["status"] == "killed"
    assert read(agent_dir("dave") / "stats.json")["killed"] == 1
    # a worker that dies without writing a terminal status: tmux's pane-died hook runs `scope reap`
    sid2 = scope.spawn("--agent", "dave", "--cmd", "kill -9 $PPID", "crash me")
    up = agent_update(scope, sid2)
    assert scope.status(sid2) == "failed" and scope.state(sid2)["reason"] == "crashed"
    assert up["failure_recorded"].startswith("'crash me' failed (crashed)")
    assert read(agent_dir("dave") / "stats.json")["failed"] == 1


def test_sessions_lost_to_a_dead_tmux_server_are_learned_from_at_the_agents_next_task(scope):
    """After a reboot (here: the tmux server killed) no worker is left to update the agent; its next
    task in the project marks the lost session and learns from it first."""
    scope.ok("agent", "new", "fay")
    sid = scope.spawn("--agent", "fay", "--cmd", "sleep 60", "watch the queue")
    scope.wait_status(sid, "running")
    scope.kill_server()
    assert (
        not (agent_dir("fay") / "stats.json").exists() or read(agent_dir("fay") / "stats.json")["tasks"] == 0
    )
    nxt = scope.spawn("--agent", "fay", "--cmd", "true", "watch it again")
    assert scope.state(sid)["reason"] == "lost"
    up = agent_update(scope, sid)
    assert up["status"] == "failed" and up["failure_recorded"].startswith("'watch the queue' failed (lost)")
    scope.wait_status(nxt, "done")
    agent_update(scope, nxt)
    stats = read(agent_dir("fay") / "stats.json")
    assert stats["tasks"] == 2 and stats["failed"] == 1 and stats["done"] == 1, stats


def test_retire_edit_and_teach(scope, tmp_path):
    scope.ok("agent", "new", "erin")
    scope.ok("agent", "retire", "erin")
    assert (agent_dir("erin") / "identity.md").exists(), "retired agents are kept"
    p = scope.run("spawn", "--agent", "erin", "--cmd", "true", "x")
    assert p.returncode == 2 and "retired" in p.stderr
    assert "retired" in scope.ok("agent", "list")
    scope.ok("agent", "retire", "--undo", "erin")
    editor = tmp_path / "ed.sh"
    editor.write_text('#!/bin/sh\necho "Prefers short answers." >> "$1"\n')
    editor.chmod(0o755)
    scope.ok("agent", "edit", "erin", env={"EDITOR": str(editor), "VISUAL": ""})
    assert "Prefers short answers." in (agent_dir("erin") / "identity.md").read_text()
    # only a senior creates skills for others
    scope.ok("agent", "new", "fay")
    s = finish(Project(scope.scope_dir), "profile the query planner", agent="erin")
    name = next(e for e in events.read_all(s.dir) if e["type"] == "agent_update")["new_skill"]["name"]
    p = scope.run("agent", "teach", "erin", "fay", name)
    assert p.returncode == 2 and "only a senior" in p.stderr
    none = "verified_success = 0\nskills_used_by_others = 0\nheuristics_raised = 0\n"
    (home.agents_dir() / "config.toml").write_text(
        f"[growth.intermediate]\nexperience = 1\n{none}[growth.senior]\nexperience = 1\n{none}"
        "[growth.staff]\nexperience = 1\nverified_success = 0\nskills_used_by_others = 1\nheuristics_raised = 0\n"
    )
    assert "gave fay the skill" in scope.ok("agent", "teach", "erin", "fay", name)
    lin = read(agent_dir("fay") / "skills" / name / "lineage.json")
    assert lin["given_by"] == "erin" and (agent_dir("fay") / "skills" / name / "v1.md").exists()
    assert "skills used by others 0" in scope.ok("agent", "show", "erin")  # given, not used yet
    # fay uses the skill erin made: erin's skill is used by another agent, which makes her staff
    s = finish(Project(scope.scope_dir), "profile the query planner again", agent="fay")
    assert sessions.load_dir(s.dir).meta["agent_skill"]["name"] == name
    show = scope.ok("agent", "show", "erin")
    assert f"skills used by others 1 ({name}: fay, 1 uses)" in show and "erin  ·  staff" in show
    assert "fay  ·  senior" in scope.ok("agent", "show", "fay")  # her own skill is not one she made


# --- the learning logic, in-process ----------------------------------------------------------------
def test_update_runs_once_per_session(project):
    identity.create("gus")
    s = finish(project, "index the docs", agent="gus")
    lifecycle.after_terminal(project, s.dir)
    lifecycle.after_terminal(project, s.dir)
    assert read(agent_dir("gus") / "stats.json")["tasks"] == 1
    assert [e["type"] for e in events.read_all(s.dir)].count("agent_update") == 1
    # a restart (the supervisor relaunches the same session) is a new attempt: it counts once more
    sessions.set_status(s.dir, "pending", force=True)
    events.append(s.dir, "restart", attempt=2)
    sessions.set_status(s.dir, "done")
    lifecycle.after_terminal(project, s.dir)
    lifecycle.after_terminal(project, s.dir)
    assert read(agent_dir("gus") / "stats.json")["tasks"] == 2


def test_stage_follows_verified_success_over_the_last_tasks_and_show_explains_it(project, scope):
    identity.create("hal")
    none = "skills_used_by_others = 0\nheuristics_raised = 0\n"
    (home.agents_dir() / "config.toml").write_text(
        f"[growth]\nwindow = 3\n[growth.intermediate]\nexperience = 3\nverified_success = 0.6\n{none}"
    )
    # done without a verifier is no verified success: three of them leave hal a junior
    for task in ("tune the cache eviction", "write release notes", "draft the roadmap"):
        finish(project, task, agent="hal")
    assert read(agent_dir("hal") / "stats.json")["stage"] == "junior"
    assert [h["score"] for h in read(agent_dir("hal") / "stats.json")["history"]] == [None, None, None]
    # two answers their expected answer verifies (and one it fails): 2 of the last 3 -> intermediate
    finish(project, "count the ERROR lines", agent="hal", params={"expect": "42"}, result="42")
    finish(project, "count the WARN lines", agent="hal", params={"expect": "7"}, result="8")
    s = finish(project, "count the INFO lines", agent="hal", params={"expect": "3"}, result="3")
    assert read(agent_dir("hal") / "stats.json")["stage"] == "intermediate"
    up = next(e for e in events.read_all(s.dir) if e["type"] == "agent_update")
    assert up["stage_change"] == "junior -> intermediate"
    assert "Stage junior; 5 tasks so far" in (s.dir / "prompt.md").read_text(), "written before it ended"
    show = scope.ok("agent", "show", "hal")
    assert "stage intermediate, from its outcomes:" in show
    assert "verified success 67% (2 of the last 3 tasks, window 3)" in show
    assert "next: senior needs experience 6/20, verified_success 67%/70%" in show


def test_a_heuristic_that_lowered_its_deviation_over_five_runs_each_side_counts_as_raising_scores(
    project, scope
):
    identity.create("ivy")
    (home.agents_dir() / "config.toml").write_text(
        "[growth.intermediate]\nexperience = 0\nverified_success = 0\nheuristics_raised = 1\n"
    )
    sig = "sequence:peek_before_subcall"

    def run(i: int, deviates: bool, reflect: bool = False) -> None:
        s = sessions.create(
            project, f"explore the log archive {i}", driver="command", cmd="true", skill="rlm", agent="ivy"
        )
        lifecycle.prepare_session(project, s)
        if deviates:
            events.append(s.dir, "deviation", kind="sequence", rule="peek_before_subcall", signature=sig)
        if reflect:
            events.append(s.dir, "reflection", signature=sig, adjustment="ALWAYS peek at the context first.")
        sessions.set_status(s.dir, "done")
        lifecycle.after_terminal(project, s.dir)

    for i in range(5):  # five runs with the deviation; the fifth's reflection becomes the heuristic
        run(i, True, reflect=i == 4)
    for i in range(4):  # four runs without it: not yet five on each side
        run(5 + i, False)
    assert "heuristics that raised scores 0" in scope.ok("agent", "show", "ivy")
    run(9, False)
    stats = read(agent_dir("ivy") / "stats.json")
    assert stats["stage"] == "intermediate" and stats["history"][0]["deviations"] == [sig]
    show = scope.ok("agent", "show", "ivy")
    assert "heuristics that raised scores 1 (at least 5 runs each side)" in show
    assert f"ALWAYS peek at the context first. ({sig} in 100% of runs before, 0% after)" in show


def test_approved_patch_on_a_used_skill_becomes_a_heuristic(project):
    from scope_tui.gepa.patches import approve, propose
    from scope_tui.patterns import skill_files

    identity.create("jo")
    finish(project, "explore the log archive", skill="rlm", agent="jo")
    base = skill_files.load(project, "rlm")
    rule = "ALWAYS grep for the error code before spawning sub-queries"
    text = base.path.read_text()
    p = propose(
        project,
        target="skill:rlm",
        skill="rlm",
        base_version=base.version,
        base_text=text,
        new_text=text + f"\n## Learned rules\n- {rule}\n",
        reflection="spawned before looking",
        signature="test:peek",
    )
    assert p is not None
    approve(project, p["id"])
    s = sessions.create(project, "explore the audit trail", driver="command", cmd="true", agent="jo")
    lifecycle.prepare_session(project, s)  # the agent loads: approved patches are pulled in
    heur = read(agent_dir("jo") / "memory" / "heuristics.json")
    pulled = [h for h in heur["heuristics"] if h["source"] == "approved_patch"]
    assert [h["text"] for h in pulled] == [f"[rlm] {rule}"] and pulled[0]["ref"] == p["id"]
    assert rule in (s.dir / "prompt.md").read_text()
    lifecycle.prepare_session(
        project, sessions.create(project, "again", driver="command", cmd="true", agent="jo")
    )
    assert (
        len(
            [
                h
                for h in read(agent_dir("jo") / "memory" / "heuristics.json")["heuristics"]
                if h["source"] == "approved_patch"
            ]
        )
        == 1
    ), "a patch is pulled once"


def test_a_patch_on_a_skill_the_agent_never_used_is_not_pulled(project):
    from scope_tui.gepa.patches import approve, propose
    from scope_tui.patterns import skill_files

    identity.create("kim")
    finish(project, "explore the log archive", agent="kim")
    text = skill_files.load(project, "ralph").path.read_text()
    p = propose(
        project,
        target="skill:ralph",
        skill="ralph",
        base_version=1,
        base_text=text,
        new_text=text + "\n- NEVER stop early\n",
        signature="test:ralph",
    )
    approve(project, p["id"])
    lifecycle.prepare_session(
        project, sessions.create(project, "x", driver="command", cmd="true", agent="kim")
    )
    assert not [
        h
        for h in read(agent_dir("kim") / "memory" / "heuristics.json")["heuristics"]
        if h["source"] == "approved_patch"
    ]


def test_many_heuristics_are_consolidated_through_an_approved_agent_patch(project):
    from scope_tui.gepa.patches import approve, list_patches

    identity.create("lou")
    (home.agents_dir() / "config.toml").write_text("[memory]\nconsolidate_after = 4\n")
    hs = [
        {"text": t, "source": "reflection"}
        for t in ["peek first", "Peek first!", "grep narrowly", "b", "c", "d"]
    ]
    (agent_dir("lou") / "memory" / "heuristics.json").write_text(json.dumps({"heuristics": hs}))
    finish(project, "scan the logs", agent="lou")
    pending = [p for p in list_patches(project, "pending") if p["target"] == "agent:lou/heuristics"]
    assert len(pending) == 1 and "peek first" in pending[0]["new_text"].lower()
    finish(project, "scan more logs", agent="lou")
    assert len([p for p in list_patches(project, "pending") if p["target"] == "agent:lou/heuristics"]) == 1
    approve(project, pending[0]["id"])
    lifecycle.prepare_session(
        project, sessions.create(project, "x", driver="command", cmd="true", agent="lou")
    )
    heur = read(agent_dir("lou") / "memory" / "heuristics.json")["heuristics"]
    texts = [h["text"].lower() for h in heur]
    assert all(h["source"] == "consolidation" for h in heur)
    assert sum(t.startswith("peek first") for t in texts) == 1, "duplicates folded"


def test_relationships_record_whom_an_agent_spawns_and_the_next_prompt_names_them(scope, stub):
    """Who verified whom is recorded by a real maker-checker run (test_agents_carry); here whom an agent
    hands work to: ola's task is a real process that gives the frontend part to ned through the CLI."""
    for n in ("ned", "ola"):
        scope.ok("agent", "new", n)
    from scope_tui import api

    api.allow_command_workers(Project(scope.scope_dir))  # the person lets sessions start shell workers
    sc = f"{sys.executable} -m scope_tui"
    hand_over = (
        f'id=$({sc} spawn --agent ned --cmd "echo form > login.html" "build the frontend login form") '
        f'&& {sc} wait "$id"'
    )
    # a junior may not spawn a junior: the spawn inside her session is refused with why, and her task fails
    first = scope.spawn(
        "--agent", "ola", "--cmd", f"{{ {hand_over}; }} 2> refused.txt", "ship the login page"
    )
    agent_update(scope, first)
    assert scope.status(first) == "failed" and not scope.session(f"{first}.1").exists()
    assert (scope.root / "refused.txt").read_text().strip() == (
        "scope: ola is junior: only a senior or staff agent may spawn a junior (ned is junior); "
        "do it yourself, or escalate"
    )
    # one task of experience makes ola senior under these thresholds; ned, with none, stays junior
    none = "verified_success = 0\nskills_used_by_others = 0\nheuristics_raised = 0\n"
    (home.agents_dir() / "config.toml").write_text(
        f"[growth.intermediate]\nexperience = 1\n{none}[growth.senior]\nexperience = 1\n{none}"
    )
    sid = scope.spawn("--agent", "ola", "--cmd", hand_over, "ship the login page")
    up = agent_update(scope, sid)
    assert scope.meta(f"{sid}.1")["agent"] == "ned" and scope.status(f"{sid}.1") == "done"
    assert up["relationships"] == [f"spawned ned ({sid}.1, done)"] and up["stage"] == "senior"
    ola = read(agent_dir("ola") / "relationships.json")
    assert ola["ned"]["spawned"] == 1 and ola["ned"]["spawned_ok"] == 1 and "frontend" in ola["ned"]["topics"]
    assert delegate.pick("ola", "fix the frontend signup form") == "ned"
    assert delegate.pick("ola", "tune the database") is None
    # her next task, on a model: the model is told whom she works with, and for what
    scope.env.update(stub.env)
    stub.respond_with(lambda body: {"text": "handed it to ned"})
    sid2 = scope.spawn(
        "--agent", "ola", "--driver", "builtin", "--model", "claude-test-1", "ship the signup page"
    )
    scope.wait_status(sid2, "done", "failed", timeout=60)
    [req] = stub.requests
    assert "- ned: I hand them work for " in json.dumps(req.body.get("system"))


def test_decision_names_the_base_pattern_when_no_own_skill_matches(project):
    identity.create("pia")
    s = sessions.create(project, "count the errors", driver="command", cmd="true", agent="pia", skill="rlm")
    lifecycle.prepare_session(project, s)
    d = next(e for e in events.read_all(s.dir) if e["type"] == "decision")
    assert d["source"] == "base" and d["skill"] == "rlm" and "(rlm as asked)" in d["why"]
    assert sessions.load_dir(s.dir).meta["skill"] == "rlm"


def test_a_model_writes_the_new_skill_when_one_is_configured(project, stub, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", stub.key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.url)
    identity.create("quin")
    stub.push("# Release checklist\n\n1. Tag first, then build the wheel.\n")
    s = sessions.create(
        project, "cut the release of the billing service", driver="command", cmd="true", agent="quin"
    )
    events.append(s.dir, "exec", cmd="git tag v1.2")
    sessions.set_status(s.dir, "done")
    lifecycle.after_terminal(project, s.dir)
    name = next(e for e in events.read_all(s.dir) if e["type"] == "agent_update")["new_skill"]["name"]
    text = (agent_dir("quin") / "skills" / name / "v1.md").read_text()
    assert "Tag first, then build the wheel." in text and text.startswith("+++")
    sent = json.dumps(stub.requests[0].body)
    assert "cut the release of the billing service" in sent and "git tag v1.2" in sent


def test_reflections_become_heuristics_and_a_skill_turns_stable_after_enough_successes(project):
    identity.create("rae")
    (home.agents_dir() / "config.toml").write_text(
        "[skills]\nstable_after_uses = 2\nstable_success_rate = 0.8\n"
    )
    first = sessions.create(project, "vacuum the orders table", driver="command", cmd="true", agent="rae")
    lifecycle.prepare_session(project, first)
    events.append(first.dir, "reflection", text="Peek at the table size before vacuuming.\nWhy: ...")
    sessions.set_status(first.dir, "done")
    lifecycle.after_terminal(project, first.dir)
    heur = read(agent_dir("rae") / "memory" / "heuristics.json")["heuristics"]
    assert [(h["text"], h["source"]) for h in heur] == [
        ("Peek at the table size before vacuuming.", "reflection")
    ]
    name = next(e for e in events.read_all(first.dir) if e["type"] == "agent_update")["new_skill"]["name"]
    for _ in range(2):
        finish(project, "vacuum the orders table again", agent="rae")
    lin = read(agent_dir("rae") / "skills" / name / "lineage.json")
    assert (lin["uses"], lin["successes"], lin["status"]) == (2, 2, "stable")


def test_with_no_own_skill_the_decision_names_what_the_base_library_would_pick(project):
    identity.create("sam")
    s = sessions.create(
        project, "review the draft and check it against the rubric", driver="command", cmd="true", agent="sam"
    )
    lifecycle.prepare_session(project, s)
    d = next(e for e in events.read_all(s.dir) if e["type"] == "decision")
    assert d["source"] == "base" and d["base"] == ["maker-checker"]
    assert "base patterns (maker-checker, by the library)" in d["why"]


def test_other_broken_files_are_reported_and_kept(project):
    from scope_tui.agents.summary import summarize

    identity.create("tom")
    (home.agents_dir() / "config.toml").write_text("[growth\n")
    (agent_dir("tom") / "relationships.json").write_text("[1, 2]")
    bad_skill = agent_dir("tom") / "skills" / "half" / "v1.md"
    bad_skill.parent.mkdir(parents=True)
    bad_skill.write_text("+++\nname = \n+++\nbody\n")
    s = finish(project, "tidy the fixtures", agent="tom")
    assert sessions.load_dir(s.dir).status == "done"
    problems = summarize("tom", project)["problems"]
    assert any("config.toml" in p and "defaults" in p for p in problems)
    assert any("relationships.json" in p for p in problems)
    assert any("half/v1.md:2" in p for p in problems), problems
    assert (agent_dir("tom") / "relationships.json").read_text() == "[1, 2]"
    assert read(agent_dir("tom") / "stats.json")["tasks"] == 1, "the agent still learns"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
