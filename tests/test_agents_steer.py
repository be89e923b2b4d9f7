"""Relationships steer: agents are given parts by name (a DAG node's `agent`, the built-in `spawn` tool's
`agent`) or by strength, and the part then carries that agent's identity and memory. Through the real CLI,
real tmux, the real DAG and map-reduce engines, and the built-in driver on the real anthropic SDK against
the Messages-API stub."""

from __future__ import annotations

import json
import re

from scope_tui.agents import home
from tests.support.helpers import wait_until

END = ("done", "failed", "escalated", "killed", "needs_input")


def _carol(scope) -> None:
    scope.ok("agent", "new", "carol", "--strengths", "frontend: React components, CSS, the login page")


def _stats(name: str) -> dict:
    return json.loads((home.agents_dir() / name / "stats.json").read_text())


def _system(req) -> str:
    return json.dumps(req.body.get("system"))


# --- the DAG node schema -------------------------------------------------------------------------------
def test_a_dag_nodes_unknown_key_and_unknown_agent_are_one_line_errors_with_file_and_line(scope, tmp_path):
    _carol(scope)
    plan = tmp_path / "plan.toml"
    plan.write_text('[tasks.ui]\ntask = "style the button"\nagnet = "carol"\n')
    p = scope.run("spawn", "--skill", "dag", "--dag", str(plan), "x")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{plan}:3: tasks.ui.agnet: unknown key (known: task, cmd, after" in p.stderr
    plan.write_text('[tasks.api]\ncmd = "true"\n[tasks.ui]\ntask = "style the button"\nagent = "carlo"\n')
    for how in (("spawn", "--skill", "dag"), ("run",)):
        p = scope.run(*how, "--dag", str(plan), "x")
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert f"{plan}:5: tasks.ui.agent: no agent 'carlo'" in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    assert not list((scope.scope_dir / "sessions").iterdir()), "nothing was started"


def test_a_dag_node_given_to_an_agent_is_that_agents_task_and_its_model_hears_who_it_is(
    scope, stub, tmp_path
):
    _carol(scope)
    scope.env.update(stub.env)
    stub.respond_with(lambda body: {"text": "the button is styled"})
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[tasks.api]\ncmd = "echo api-ready"\n'
        '[tasks.ui]\ntask = "style the login button"\nafter = ["api"]\n'
        'agent = "carol"\ndriver = "builtin"\nmodel = "claude-test-1"\n'
    )
    sid = scope.spawn("--skill", "dag", "--dag", str(plan), "ship the login page")
    scope.wait_status(sid, *END, timeout=90)
    assert scope.status(sid) == "done", scope.state(sid)
    ui = f"{sid}.2"
    assert scope.meta(ui)["agent"] == "carol" and scope.meta(ui)["role"] == "node:ui"
    # the node's one call; once it is done, carol may distil what worked (a call of her own learning)
    [req] = [r for r in stub.requests if "You distil procedures." not in _system(r)]
    assert "You are carol" in _system(req) and "React components" in _system(req)
    assert "api-ready" in req.text, "the node's inputs still reach it"
    wait_until(lambda: _stats("carol")["tasks"] == 1, what="carol learned from her node")


# --- the built-in spawn tool's `agent` -------------------------------------------------------------------
def _use(name, **inp):
    return {"name": name, "input": inp}


def _results(req) -> list[str]:
    last = req.body["messages"][-1]
    return [
        str(b.get("content"))
        for b in last["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]


def test_the_spawn_tool_hands_a_task_to_an_agent_who_works_as_itself(scope, stub):
    _carol(scope)
    scope.env.update(stub.env)
    scope.env["SCOPE_RETRY_CAP"] = "0.2"

    def script(body):
        system = json.dumps(body.get("system"))
        if "You are carol" in system:
            return {"tool_use": _use("finish", result="login button styled by carol")}
        req = stub.requests[-1]
        said = _results(req)
        if not said:  # the lead's first turn: an unknown agent first, then carol
            return {"tool_use": _use("spawn", task="style it", agent="zed", model="claude-test-1")}
        if "spawn failed" in said[0]:
            return {
                "tool_use": _use("spawn", task="style the login button", agent="carol", model="claude-test-1")
            }
        m = re.search(r"spawned session ([\d.]+)", said[0])
        if m:
            return {"tool_use": _use("wait", ids=[m[1]])}
        return {"tool_use": _use("finish", result="done: " + said[0])}

    stub.respond_with(script)
    sid = scope.spawn("--model", "claude-test-1", "ship the login page")
    scope.wait_status(sid, *END, timeout=90)
    assert scope.status(sid) == "done", scope.state(sid)
    refused = [r for r in stub.requests if any("spawn failed" in t for t in _results(r))]
    assert refused and "no agent 'zed'" in _results(refused[0])[0]
    [child] = [p.name for p in scope.session(sid).parent.iterdir() if p.name.startswith(f"{sid}.")]
    assert scope.meta(child)["agent"] == "carol" and not scope.meta(child).get("works_for")
    carols = [r for r in stub.requests if "You are carol" in _system(r)]
    assert len(carols) == 1 and "style the login button" in carols[0].text
    assert "styled by carol" in (scope.session(sid) / "result.md").read_text()
    wait_until(lambda: _stats("carol")["tasks"] == 1, what="carol learned from the task")


# --- parts given by strength -----------------------------------------------------------------------------
def _ada(scope) -> None:
    scope.ok("agent", "new", "ada", "--strengths", "log forensics, counting ERROR lines")


def _two_parts(tmp_path):
    d = tmp_path / "site"
    (d / "frontend").mkdir(parents=True)
    (d / "server").mkdir()
    (d / "frontend" / "login.css").write_text(".login { color: red }\n")
    (d / "server" / "app.log").write_text("ERROR x\nERROR y\n")
    return d


def _decisions(scope, sid, what):
    return [e for e in scope.events(sid) if e["type"] == "decision" and e.get("what") == what]


def test_map_reduce_gives_a_part_to_the_agent_the_model_judges_fits_it(scope, stub, tmp_path):
    _ada(scope)
    _carol(scope)
    scope.env.update(stub.env)

    def reply(body):
        if "assign work to agents" in json.dumps(body.get("system")):
            prompt = json.dumps(body["messages"])
            css = 0 if prompt.index("login.css") < prompt.index("app.log") else 1
            return {
                "text": json.dumps(
                    {str(css): ["carol", "CSS is frontend work"], str(1 - css): [None, "logs"]}
                )
            }
        return {"text": "reviewed"}

    stub.respond_with(reply)
    sid = scope.spawn(
        "--agent",
        "ada",
        "--skill",
        "map-reduce",
        "--context",
        str(_two_parts(tmp_path)),
        "--model",
        "claude-test-1",
        "review each file",
    )
    scope.wait_status(sid, *END, timeout=120)
    assert scope.status(sid) == "done", scope.state(sid)
    picks = {e["key"]: e for e in _decisions(scope, sid, "assign")}
    assert len(picks) == 2
    css_key = next(k for k, e in picks.items() if e["agent"])
    assert (
        picks[css_key]["agent"] == "carol"
        and "CSS is frontend work (by claude-test-1)" in picks[css_key]["why"]
    )
    css, log = f"{sid}.{css_key}", f"{sid}.{3 - int(css_key)}"
    assert scope.meta(css)["agent"] == "carol" and scope.meta(css)["part"].endswith("login.css")
    assert scope.meta(log)["works_for"] == "ada" and not scope.meta(log).get("agent")
    tree = scope.ok("tree")
    assert re.search(rf"{re.escape(css)} .*agent=carol", tree), tree
    mappers = [r for r in stub.requests if "Map step" in r.text]
    by_carol = [r for r in mappers if "You are carol" in _system(r)]
    assert len(by_carol) == 1 and "login.css" in by_carol[0].text
    wait_until(lambda: _stats("carol")["tasks"] == 1, what="carol's part counted as her task")
    rel = home.agents_dir() / "ada" / "relationships.json"
    wait_until(lambda: "carol" in json.loads(rel.read_text()), what="ada remembers handing carol a part")
    carol = json.loads(rel.read_text())["carol"]
    assert carol["spawned"] == 1 and carol["outcomes"][-1]["session"] == css
    assert "I handed them" in scope.ok("agent", "show", "ada")


def test_a_dag_node_offline_goes_to_the_agent_whose_strengths_share_its_key_terms(scope, tmp_path):
    _ada(scope)
    _carol(scope)
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[tasks.styles]\ntask = "tidy the CSS of the login page"\ndriver = "builtin"\nmodel = "offline"\n'
        '[tasks.errors]\ntask = "count the ERROR lines in app.log"\ndriver = "builtin"\nmodel = "offline"\n'
        '[tasks.note]\ncmd = "echo noted"\n'
    )
    sid = scope.spawn("--agent", "ada", "--skill", "dag", "--dag", str(plan), "--model", "offline", "ship it")
    scope.wait_status(sid, *END, timeout=120)
    picks = {e["key"]: e for e in _decisions(scope, sid, "assign")}
    assert set(picks) == {"styles", "errors"}, "a command node is no agent's"
    assert picks["styles"]["agent"] == "carol"
    assert "strengths share css, login" in picks["styles"]["why"] and "by key terms" in picks["styles"]["why"]
    assert picks["errors"]["agent"] is None and "ada's own strengths fit best" in picks["errors"]["why"]
    kids = {
        scope.meta(p.name)["key"]: scope.meta(p.name)
        for p in scope.session(sid).parent.iterdir()
        if p.name.startswith(f"{sid}.")
    }
    assert kids["styles"]["agent"] == "carol" and kids["errors"].get("works_for") == "ada"


# --- outcomes update the relationship ----------------------------------------------------------------------
def test_who_verified_whom_with_what_result_is_in_both_agents_relationships_and_agent_show(scope, tmp_path):
    _ada(scope)
    scope.ok("agent", "new", "bob")
    (home.agents_dir() / "ada" / "relationships.json").write_text(json.dumps({"bob": {"verified_by": 1}}))
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[[gates]]\nname = "made"\ncmd = "test -f made.txt"\ntimeout = 10\n')
    # the first attempt makes nothing (the gate fails), the second makes the file
    maker = "[ -e tried ] && touch made.txt || touch tried"
    sid = scope.spawn(
        "--agent", "ada", "--skill", "maker-checker", "--rubric", str(rubric), "--cmd", maker, "make the file"
    )
    scope.wait_status(sid, *END, timeout=90)
    assert scope.status(sid) == "done", scope.state(sid)
    checkers = [f"{sid}.2", f"{sid}.4"]
    assert [scope.meta(c)["agent"] for c in checkers] == ["bob", "bob"]
    for c in checkers:
        wait_until(lambda c=c: any(e["type"] == "agent_update" for e in scope.events(c)), what="bob's update")
    bob = json.loads((home.agents_dir() / "bob" / "relationships.json").read_text())["ada"]
    assert (bob["verified"], bob["accepted"]) == (2, 1), "each checker judged its own attempt only"
    assert [(o["session"], o["result"]) for o in bob["outcomes"]] == [
        (f"{sid}.1", "rejected"),
        (f"{sid}.3", "accepted"),
    ]
    assert bob["outcomes"][0]["detail"] == "failed gate made"
    show = scope.ok("agent", "show", "bob")
    assert (
        f"I verified {sid}.1: rejected (failed gate made)" in show and f"I verified {sid}.3: accepted" in show
    )
    show = scope.ok("agent", "show", "ada")
    assert f"bob verified {sid}.1: rejected (failed gate made)" in show


# --- a verified success refines the own skill it ran with ---------------------------------------------------
def _own_skill(scope) -> str:
    """ada's own skill, extracted from a successful map-reduce task of hers (as after_terminal does)."""
    from scope_tui.agents import lifecycle
    from scope_tui.store import sessions
    from scope_tui.store.project import Project

    project = Project(scope.scope_dir)
    s = sessions.create(
        project,
        "count the ERROR lines of app logs",
        driver="command",
        cmd="true",
        agent="ada",
        skill="map-reduce",
    )
    lifecycle.prepare_session(project, s)
    sessions.set_status(s.dir, "done")
    lifecycle.after_terminal(project, s.dir)
    [name] = [p.name for p in (home.agents_dir() / "ada" / "skills").iterdir()]
    return name


def _update(scope, sid) -> dict:
    return wait_until(
        lambda: next((e for e in scope.events(sid) if e["type"] == "agent_update"), None),
        what="the agent's update",
    )


def test_a_verified_success_with_an_own_skill_proposes_its_next_version_and_approval_writes_it(scope):
    _ada(scope)
    name = _own_skill(scope)
    folder = home.agents_dir() / "ada" / "skills" / name
    v1 = (folder / "v1.md").read_text()
    (scope.root / "app.log").write_text("ERROR a\nERROR b\n")
    sid = scope.spawn(
        "--agent",
        "ada",
        "--cmd",
        "grep -c ERROR app.log",
        "--check",
        "true",
        "count the ERROR lines of app logs",
    )
    scope.wait_status(sid, *END, timeout=60)
    assert scope.meta(sid)["agent_skill"]["name"] == name, "the task ran with ada's own skill"
    upd = _update(scope, sid)
    pid = upd["refinement_patch"]
    patch = json.loads(scope.ok("patches", "show", pid, "--json"))
    assert patch["kind"] == "refinement" and patch["skill"] == name and patch["base_version"] == 1
    assert "Verified on 'count the ERROR lines of app logs' (check 1.00)" in patch["rule_line"]
    assert not (folder / "v2.md").exists(), (
        "a session proposes; the person (or a test with auto_approve) decides"
    )
    scope.ok("patches", "approve", pid)
    v2 = (folder / "v2.md").read_text()
    assert patch["rule_line"] in v2 and (folder / "v1.md").read_text() == v1, (
        "a new version, v1 kept as it was"
    )
    lineage = json.loads((folder / "lineage.json").read_text())
    assert lineage["versions"]["2"]["parent"] == 1 and pid in lineage["versions"]["2"]["patches"]


def test_a_verified_success_refinement_is_written_by_the_model_when_there_is_one(scope, stub):
    _ada(scope)
    name = _own_skill(scope)
    scope.env.update(stub.env)
    rule = "ALWAYS count with grep -c per file before adding the counts up."

    def reply(body):
        if "You refine procedures" in json.dumps(body.get("system")):
            return {"text": rule}
        return {"tool_use": _use("finish", result="2")}

    stub.respond_with(reply)
    sid = scope.spawn(
        "--agent", "ada", "--model", "claude-test-1", "--expect", "2", "count the ERROR lines of app logs"
    )
    scope.wait_status(sid, *END, timeout=60)
    assert scope.status(sid) == "done", scope.state(sid)
    pid = _update(scope, sid)["refinement_patch"]
    patch = json.loads(scope.ok("patches", "show", pid, "--json"))
    assert patch["rule_line"] == rule and patch["skill"] == name


# --- reports to ------------------------------------------------------------------------------------------
def test_an_agents_escalation_goes_to_a_new_session_of_its_manager_and_the_person_still_sees_it(scope, stub):
    scope.ok("agent", "new", "bob", "--strengths", "knows the infrastructure")
    scope.ok("agent", "new", "ada", "--reports-to", "bob")
    assert "reports to: bob" in scope.ok("agent", "show", "ada")
    scope.env.update(stub.env)

    def reply(body):
        if "You are bob" in json.dumps(body.get("system")):
            return {"tool_use": _use("finish", result="Use the staging database, db-stg-1.")}
        return {"tool_use": _use("escalate", reason="missing_context", details="which database?")}

    stub.respond_with(reply)
    sid = scope.spawn("--agent", "ada", "--model", "claude-test-1", "migrate the users table")
    scope.wait_status(sid, *END, timeout=60)
    assert scope.status(sid) == "escalated", "the person still sees the escalation"
    routed = wait_until(
        lambda: next((e for e in scope.events(sid) if e["type"] == "escalation_routed"), None), what="routing"
    )
    assert routed["to_agent"] == "bob" and routed["how"] == "a new session"
    boss = routed["session"]
    meta = scope.meta(boss)
    assert meta["agent"] == "bob" and meta["advises"] == sid and not meta.get("parent")
    scope.wait_status(boss, *END, timeout=60)
    assert "db-stg-1" in (scope.session(boss) / "result.md").read_text()
    [asked] = [r for r in stub.requests if "You are bob" in _system(r)]
    assert (
        f"ada (who reports to you) escalated session {sid} (missing_context): which database?" in asked.text
    )


def test_a_pattern_run_that_asks_the_person_tells_the_managers_live_session_first(scope, tmp_path):
    import shlex
    import sys

    scope.ok("agent", "new", "bob")
    scope.ok("agent", "new", "ada", "--reports-to", "bob")
    live = scope.spawn("--agent", "bob", "--cmd", "sleep 60", "watch the deploys")
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.txt").write_text("x\n")
    ask = f"{sys.executable} -m scope_tui escalate missing_context {shlex.quote('the db name')}"
    sid = scope.spawn(
        "--agent",
        "ada",
        "--skill",
        "map-reduce",
        "--context",
        str(tmp_path / "parts"),
        "--cmd",
        ask,
        "migrate",
    )
    st = scope.wait_status(sid, *END, timeout=60)
    assert "missing_context" in st["reason"]
    evs = scope.events(sid)
    asked = [i for i, e in enumerate(evs) if e["type"] == "escalation" and e.get("to") == "person"]
    told = [i for i, e in enumerate(evs) if e["type"] == "escalation_routed"]
    assert asked and told and told[0] > asked[0], "the person is asked, the manager told as well"
    routed = evs[told[0]]
    assert not _decisions(scope, sid, "assign"), (
        "no other agent has strengths: nothing to choose, nothing said"
    )
    assert (routed["to_agent"], routed["session"], routed["how"]) == ("bob", live, "to its live session")
    inbox = " ".join(p.read_text() for p in (scope.session(live) / "inbox").glob("*-escalation.json"))
    assert f"ada (who reports to you) escalated session {sid} (missing_context)" in inbox
    scope.ok("kill", live)
    scope.ok("kill", sid)
