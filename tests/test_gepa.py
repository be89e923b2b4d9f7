"""Online GEPA: deviations at the point of action, micro-reflections, patches with approval, Pareto versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scope_tui.gepa import online, pareto, patches, scores
from scope_tui.patterns import skill_files
from scope_tui.store import events, sessions
from scope_tui.store.project import Project


@pytest.fixture
def project(tmp_path, home, monkeypatch) -> Project:
    monkeypatch.setenv("SCOPE_REFLECT_OFFLINE", "1")
    return Project.create(tmp_path / "proj" / ".scope")


def _session(project: Project, task: str = "find where tokens are checked", **meta) -> sessions.Session:
    meta.setdefault("driver", "builtin")
    meta.setdefault("skill", "rlm")
    return sessions.create(project, task, **meta)


def _of(d: Path, type_: str) -> list[dict]:
    return [e for e in events.read_all(d) if e.get("type") == type_]


# ---------------------------------------------------------------- detection, reflection, proposal


def test_spawn_without_peek_gives_one_deviation_a_reflection_and_a_patch(project):
    s = _session(project)
    # the replayed stream: the model thought, ran a command, then spawns without ever looking
    events.append(s.dir, "llm_call", model="offline", tokens=120)
    events.append(s.dir, "exec", command="pip list")
    text = online.before_action(project, s.dir, {"kind": "spawn", "task": "analyze everything"})
    assert text and text.startswith("DEVIATION DETECTED")
    assert "ADJUSTMENT:" in text and "analyze everything" in text
    # a second spawn in the same session is not flagged again (one lesson, one block)
    assert online.before_action(project, s.dir, {"kind": "spawn", "task": "analyze the rest"}) is None

    devs = _of(s.dir, "deviation")
    assert len(devs) == 1
    assert devs[0]["kind"] == "sequence" and devs[0]["rule"] == "peek_before_spawn"
    assert devs[0]["expected"] and "without looking" in devs[0]["actual"] and devs[0]["session"] == s.id
    refl = _of(s.dir, "reflection")
    assert len(refl) == 1 and refl[0]["deviation"] == devs[0]["seq"] and refl[0]["author"] == "template"

    inbox = sessions.take_messages(s.dir)
    assert [m["kind"] for m in inbox] == ["reflection"] and inbox[0]["text"] == text

    pend = patches.list_patches(project, "pending")
    assert len(pend) == 1
    p = pend[0]
    assert p["target"] == "skill:rlm" and p["skill"] == "rlm" and p["base_version"] == 1
    assert p["signature"] == "sequence:peek_before_spawn" and p["reflection"] == text
    assert p["deviation"]["kind"] == "sequence"
    assert "+## Learned rules" in p["diff"] and "+- ALWAYS peek" in p["diff"]
    assert p["new_text"].startswith(skill_files.load(project, "rlm", 1).path.read_text().rstrip("\n"))
    proposed = _of(s.dir, "patch_proposed")
    assert [e["patch"] for e in proposed] == [p["id"]]


def test_looking_first_is_no_deviation_and_a_session_without_skill_is_not_checked(project):
    s = _session(project)
    events.append(s.dir, "tool_call", kind="peek", tool="Read", path="ctx.txt")
    assert online.before_action(project, s.dir, {"kind": "spawn", "task": "the auth module"}) is None
    blocked = _session(project)
    events.append(blocked.dir, "tool_call", kind="peek", blocked=True)  # refused calls never happened
    assert online.before_action(project, blocked.dir, {"kind": "spawn", "task": "x"})
    plain = _session(project, skill=None)
    assert online.before_action(project, plain.dir, {"kind": "spawn", "task": "anything"}) is None
    assert patches.list_patches(project, "pending")[0]["session"] == blocked.id


def test_depth_fan_out_scope_and_broad_grep(project):
    root = _session(project, "review the repo")
    kid = sessions.create(project, "review auth", parent=root.id, driver="builtin", skill="rlm")
    grand = sessions.create(project, "review login", parent=kid.id, driver="builtin", skill="rlm")
    events.append(grand.dir, "peek", what="head")
    # rlm's max_depth is 2: a child of 1.1.1 would sit at depth 3 below the pattern root
    assert "depth 3" in online.before_action(project, grand.dir, {"kind": "spawn", "task": "review the form"})
    # a child given its parent's own task
    events.append(kid.dir, "grep", pattern="token", hits=3)
    assert "Expected: a child task smaller" in online.before_action(
        project, kid.dir, {"kind": "spawn", "task": "  Review   AUTH "}
    )
    # a grep that returned more than grep_hit_limit (500) hits
    events.append(root.dir, "grep", pattern=".", hits=4000)
    out = online.before_action(project, root.dir, {"kind": "peek"})
    assert "4000 hits" in out
    kinds = {e["kind"] for d in (root, kid, grand) for e in _of(d.dir, "deviation")}
    assert kinds == {"depth", "scope", "grep_broad"}
    assert len(patches.list_patches(project, "pending")) == 3


# ---------------------------------------------------------------- approval, versions, lineage


def test_approval_writes_v2_with_lineage_and_the_next_task_gets_it(project):
    s = _session(project)
    online.before_action(project, s.dir, {"kind": "spawn", "task": "everything"})
    (p,) = patches.list_patches(project, "pending")
    assert patches.approve(project, p["id"], by="person", note="good catch") == 2
    v2 = skill_files.load(project, "rlm")
    assert v2.version == 2 and "- ALWAYS peek at the context's structure" in v2.body
    entry = skill_files.lineage(project, "rlm")["versions"]["2"]
    assert entry["parent"] == 1 and entry["patches"] == [p["id"]] and entry["origin"] == "patch"
    done = patches.load_patch(project, p["id"])
    assert (
        done["status"] == "approved"
        and done["decided_by"] == "person"
        and done["decision_note"] == "good catch"
    )
    decided = _of(s.dir, "patch_decided")
    assert (
        decided[-1]["patch"] == p["id"]
        and decided[-1]["status"] == "approved"
        and decided[-1]["version"] == 2
    )
    # the newest version has no scores yet: it gets the next task of the skill
    assert pareto.choose_version(project, "rlm", scores.task_key("a new task")) == 2
    # deciding twice, or an unknown id, is a usage error
    from scope_tui.store.errors import UsageError

    with pytest.raises(UsageError, match="already approved"):
        patches.approve(project, p["id"])
    with pytest.raises(UsageError, match="no patch 99"):
        patches.load_patch(project, "99")


def test_rejected_signature_is_not_proposed_again(project):
    s = _session(project)
    online.before_action(project, s.dir, {"kind": "spawn", "task": "everything"})
    (p,) = patches.list_patches(project, "pending")
    patches.reject(project, p["id"], "peeking is pointless for tiny contexts")
    again = _session(project)
    assert online.before_action(
        project, again.dir, {"kind": "spawn", "task": "everything"}
    )  # still reflected
    assert patches.list_patches(project, "pending") == []
    (refused,) = _of(again.dir, "patch_refused")
    assert "was rejected in" in refused["reason"] and p["id"] in refused["reason"]
    assert patches.load_patch(project, p["id"])["decision_note"] == "peeking is pointless for tiny contexts"


def test_a_contradicting_or_undoing_patch_is_refused(project):
    s = _session(project)
    first = patches.propose_rule(
        project, "rlm", "ALWAYS peek at the context before spawning.", signature="a", session=s.id
    )
    patches.approve(project, first["id"])
    limit = patches.propose_rule(
        project, "rlm", "NEVER run more than 3 children at once.", signature="b", session=s.id
    )
    assert limit is not None  # pending counts too
    assert (
        patches.propose_rule(
            project, "rlm", "NEVER peek at the context before spawning.", signature="c", session=s.id
        )
        is None
    )
    assert (
        patches.propose_rule(
            project, "rlm", "NEVER run more than 6 children at once.", signature="d", session=s.id
        )
        is None
    )
    # a hand-made patch that removes the line the first one added
    v2_text = skill_files.load(project, "rlm").path.read_text()
    undo = patches.propose(
        project,
        target="skill:rlm",
        skill="rlm",
        base_version=2,
        base_text=v2_text,
        new_text=v2_text.replace("- ALWAYS peek at the context before spawning.\n", ""),
        signature="e",
        session=s.id,
    )
    assert undo is None
    reasons = [e["reason"] for e in _of(s.dir, "patch_refused")]
    assert len(reasons) == 3
    assert "contradicts" in reasons[0] and "back and forth" in reasons[1] and "undoes" in reasons[2]
    assert [p["id"] for p in patches.list_patches(project, "pending")] == [limit["id"]]


def test_eleven_approved_patches_bring_one_consolidation(project):
    ids = []
    for i in range(11):
        p = patches.propose_rule(
            project, "ralph", f"ALWAYS check item {i} before the promise.", signature=f"s{i}"
        )
        ids.append(p["id"])
        patches.approve(project, p["id"])
        pend = [x for x in patches.list_patches(project, "pending") if x.get("kind") == "consolidation"]
        assert len(pend) == (1 if i == 10 else 0), f"after {i + 1} approvals"
    (cons,) = pend
    assert cons["folds"] == ids and cons["target"] == "skill:ralph" and cons["base_version"] == 12
    assert "Consolidated from 11 approved patches" in cons["new_text"]
    v = patches.approve(project, cons["id"])
    assert v == 13
    lin = skill_files.lineage(project, "ralph")["versions"]["13"]
    assert lin["origin"] == "consolidation" and lin["patches"] == [*ids, cons["id"]]
    assert patches.since_consolidation(project, "ralph") == []
    body = skill_files.load(project, "ralph").body
    assert all(f"check item {i} " in body for i in range(11)) and body.count("## Learned rules") == 1


def test_agent_patch_is_only_marked_approved(project):
    p = patches.propose(
        project, target="agent:ada/heuristics", new_text="ALWAYS run the tests first.\n", signature="h"
    )
    assert patches.approve(project, p["id"]) == 1
    assert patches.load_patch(project, p["id"])["status"] == "approved"
    assert not (project.skills / "ada").exists()


# ---------------------------------------------------------------- scores and the Pareto draw


# (the Pareto draw over the shapes the online flow makes: tests/test_learning.py)


def test_spawn_records_version_and_task_key_and_the_outcome_lands_in_lineage(scope):
    project = Project(scope.scope_dir)
    skill_files.write_version(project, "ralph", skill_files.load(project, "ralph").path.read_text() + "\n")
    sid = scope.spawn(
        "--driver", "command", "--skill", "ralph", "--cmd", "echo ok", "--check", "true", "Fix   the BUILD"
    )
    meta = scope.meta(sid)
    assert meta["skill_version"] == 2 and meta["task_key"] == scores.task_key("fix the build")
    scope.wait_status(sid, "done")
    from tests.support.helpers import wait_until

    got = wait_until(
        lambda: (
            skill_files.lineage(project, "ralph")["versions"]["2"].get("scores", {}).get(meta["task_key"])
        ),
        what="the score of ralph v2",
    )
    assert got["score"] == 1.0 and got["verifier"] == "check" and got["deviations"] == 0
    assert got["session"] == sid
    table = {ln.split()[0]: ln for ln in scope.ok("skills", "versions", "ralph").splitlines()[1:]}
    assert "evolving" in table["v2"] and " 100% " in table["v2"] and " 0% " in table["v1"]
    # v2 is the only version scored, and it solved its task: it gets the next one
    assert (
        scope.meta(scope.spawn("--driver", "command", "--skill", "ralph", "--cmd", "true", "x"))[
            "skill_version"
        ]
        == 2
    )
    # a run with no verifier has no score: ending done is not success
    plain = scope.spawn("--driver", "command", "--skill", "ralph", "--cmd", "true", "no check")
    scope.wait_status(plain, "done")
    assert scores.task_key("no check") not in skill_files.lineage(project, "ralph")["versions"]["2"]["scores"]


# ---------------------------------------------------------------- the CLI and the Claude Code hook


def test_patches_cli(scope):
    project = Project(scope.scope_dir)
    s = _session(project)
    online.before_action(project, s.dir, {"kind": "spawn", "task": "everything"})
    other = patches.propose_rule(project, "dag", "ALWAYS name each task's inputs.", signature="y")
    out = scope.ok("patches")
    assert "p1" in out and "skill:rlm" in out and "pending" in out and other["id"] in out
    shown = scope.ok("patches", "show", "p1")
    assert (
        "sequence (peek_before_spawn)" in shown
        and "DEVIATION DETECTED" in shown
        and "+## Learned rules" in shown
    )
    assert json.loads(scope.ok("patches", "show", "1", "--json"))["signature"] == "sequence:peek_before_spawn"
    for bad in (("show", "p9"), ("approve", "p9"), ("reject", "p9", "--reason", "no"), ("reject", "p1")):
        r = scope.run("patches", *bad)
        assert r.returncode == 2 and r.stderr.startswith("scope: ") and "Traceback" not in r.stderr, bad
    assert scope.ok("patches", "approve", "p1").strip() == "approved p1: rlm v2"
    r = scope.run("patches", "approve", "p1")
    assert r.returncode == 2 and "already approved" in r.stderr
    # edit then approve: the editor's text is what becomes the version
    editor = scope.root / "ed.py"
    editor.write_text(
        "import sys\np = sys.argv[1]\nt = open(p).read()\nopen(p, 'w').write(t.replace('inputs', 'inputs and outputs'))\n"
    )
    out = scope.ok("patches", "edit", other["id"], env={"EDITOR": f"{sys.executable} {editor}"})
    assert out.strip() == f"approved {other['id']}: dag v2"
    assert "ALWAYS name each task's inputs and outputs." in skill_files.load(project, "dag").body
    assert patches.load_patch(project, other["id"])["edited"] is True
    third = patches.propose_rule(project, "dag", "NEVER leave a task without a check.", signature="z")
    assert scope.ok("patches", "reject", third["id"], "--reason", "too strict").startswith(
        f"rejected {third['id']}"
    )
    listed = scope.ok("patches", "list", "--all")
    assert "rejected" in listed and "approved" in listed
    assert scope.ok("patches").strip() == "no pending patches"


def test_claude_hook_blocks_a_spawn_before_any_peek(scope):
    project = Project(scope.scope_dir)
    s = _session(project, driver="claude")
    hook_in = {
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "session_id": "x",
        "tool_input": {"command": "scope spawn 'analyze everything'"},
        "tool_use_id": "t1",
    }
    env = {"SCOPE_SESSION_ID": s.id, "SCOPE_REFLECT_OFFLINE": "1", **scope.secret(s.id)}
    r = scope.run("hook", "PreToolUse", input=json.dumps(hook_in), env=env)
    assert r.returncode in (0, 2), r.stderr
    blob = r.stdout + r.stderr
    assert "DEVIATION DETECTED" in blob and "peek at the context" in blob
    if r.returncode == 0:
        out = json.loads(r.stdout)["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny" and out["permissionDecisionReason"].startswith("DEVIATION")
    assert len(_of(s.dir, "deviation")) == 1 and patches.list_patches(project, "pending")
    assert not list(
        (s.dir / "inbox").glob("*.json")
    )  # Claude Code gets it as the block reason, not the inbox
    # after a peek the spawn goes through
    peek = {**hook_in, "tool_input": {"command": "head -50 ctx.txt"}, "tool_use_id": "t2"}
    scope.ok("hook", "PreToolUse", input=json.dumps(peek), env=env)
    r = scope.run("hook", "PreToolUse", input=json.dumps({**hook_in, "tool_use_id": "t3"}), env=env)
    assert r.returncode == 0 and "deny" not in r.stdout


def test_the_demo_switch_makes_one_offline_worker_deviate_once_and_recover(scope):
    task = "Spawn two children in parallel:\n- run `echo alpha`\n- run `echo beta`"
    sid = scope.spawn(
        "--driver", "builtin", "--skill", "map-reduce", task, env={"SCOPE_OFFLINE_DEVIATE": "1"}
    )
    assert sid == "1"
    scope.wait_status(sid, "done", "failed", "escalated", timeout=60)
    assert scope.status(sid) == "done"
    evs = scope.events(sid)
    devs = [e for e in evs if e["type"] == "deviation"]
    assert [(d["kind"], d["rule"]) for d in devs] == [("scope", "child_smaller_than_parent")]
    # the reflection reached the worker before its next step, which then looked and spawned the two parts
    types = [e["type"] for e in evs]
    assert types.index("reflection") < types.index("patch_proposed") < types.index("inbox")
    assert [e["kind"] for e in evs if e["type"] == "inbox"] == ["reflection"]
    kids = [e["child"] for e in evs if e["type"] == "spawn" and e.get("child")]
    assert kids == ["1.1", "1.2"] and all(scope.state(k).get("status") == "done" for k in kids)
    (p,) = patches.list_patches(Project(scope.scope_dir), "pending")
    assert p["target"] == "skill:map-reduce" and "NEVER give a child a task as large as your own" in p["diff"]
    assert "own task, unchanged ('Spawn two children in parallel:')" in scope.ok("patches", "show", p["id"])


def test_with_a_real_model_the_reflection_and_rule_are_the_models(project, stub, monkeypatch):
    monkeypatch.delenv("SCOPE_REFLECT_OFFLINE")
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    stub.push(
        text="DEVIATION DETECTED\nYou delegated before reading a line of the input.\n"
        "ADJUSTMENT: print the first 50 lines, then split by section.\n"
        "RULE: ALWAYS read the input's first lines before delegating any part of it."
    )
    s = _session(project, model="claude-haiku-4-5")
    text = online.before_action(project, s.dir, {"kind": "spawn", "task": "everything"})
    assert (
        text.startswith("DEVIATION DETECTED") and "print the first 50 lines" in text and "RULE:" not in text
    )
    (req,) = stub.requests
    assert "peek_before_spawn" in req.text and "spawned 'everything' without looking" in req.text
    (refl,) = _of(s.dir, "reflection")
    assert refl["author"] == "model:claude-haiku-4-5"
    (p,) = patches.list_patches(project, "pending")
    assert "+- ALWAYS read the input's first lines before delegating any part of it." in p["diff"]
    assert stub.env["ANTHROPIC_API_KEY"] not in (s.dir / "events.jsonl").read_text()
    # a model that fails leaves the template in its place
    stub.push(error=401)
    other = _session(project, model="claude-haiku-4-5")
    assert "ADJUSTMENT: Before the next spawn" in online.before_action(project, other.dir, {"kind": "spawn"})


def test_a_stale_consolidation_is_superseded_and_proposed_afresh(project):
    for i in range(11):
        patches.approve(
            project, patches.propose_rule(project, "dag", f"ALWAYS do step {i}.", signature=f"s{i}")["id"]
        )
    (old,) = [p for p in patches.list_patches(project, "pending") if p.get("kind") == "consolidation"]
    late = patches.propose_rule(project, "dag", "NEVER skip the final check.", signature="late")
    patches.approve(project, late["id"])  # dag moves on to v13 before the consolidation is decided
    from scope_tui.store.errors import UsageError

    with pytest.raises(UsageError, match="superseded; the fresh consolidation is"):
        patches.approve(project, old["id"])
    assert patches.load_patch(project, old["id"])["status"] == "superseded"
    (fresh,) = [p for p in patches.list_patches(project, "pending") if p.get("kind") == "consolidation"]
    assert fresh["base_version"] == 13 and late["id"] in fresh["folds"]
    assert patches.approve(project, fresh["id"]) == 14
    assert "NEVER skip the final check." in skill_files.load(project, "dag").body


def test_an_agents_own_skill_is_patched_in_the_agents_folder(project, home):
    root = home / "agent-skills"
    (root / "ada-review").mkdir(parents=True)
    (root / "ada-review" / "v1.md").write_text(
        '+++\nname = "ada-review"\n[rules]\npeek_before_spawn = true\n+++\n\nReview in parts.\n'
    )
    s = _session(project, skill="ada-review", skill_version=1, skill_root=str(root), agent="ada")
    assert online.before_action(project, s.dir, {"kind": "spawn", "task": "all of it"})
    (p,) = patches.list_patches(project, "pending")
    assert p["target"] == "skill:ada-review" and p["skill_root"] == str(root)
    assert patches.approve(project, p["id"]) == 2
    assert "- ALWAYS peek" in (root / "ada-review" / "v2.md").read_text()
    assert not (project.skills / "ada-review").exists()
