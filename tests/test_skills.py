"""The skills library: loading across roots and versions, broken files reported, selection explained."""

from __future__ import annotations

import json

import pytest

from scope_tui.patterns import skill_files
from scope_tui.patterns.profile import profile
from scope_tui.patterns.when import is_predicate, predicate, select, selection_event
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project

GOOD = """+++
name = "{name}"
description = "{desc}"
when = ["files >= 2", "prose about {name}"]
[rules]
max_depth = 3
+++
Prompt of {name} {desc}.
"""


def test_shipped_skills_load_with_rules():
    loaded, errors = skill_files.load_all(None)
    assert errors == []
    assert {"rlm", "map-reduce", "maker-checker", "ralph", "dag"} <= set(loaded)
    rlm = loaded["rlm"]
    assert rlm.version >= 1 and rlm.rules["peek_before_spawn"] is True
    assert "```repl" in rlm.body and "context" in rlm.body
    assert loaded["ralph"].rules["require_promise_tag"] is True  # the YAML front matter path


def test_broken_file_is_reported_with_line_and_the_rest_load(scope):
    root = scope.scope_dir / "skills"
    (root / "good.md").write_text(GOOD.format(name="good", desc="fine"))
    (root / "bad").mkdir()
    (root / "bad" / "v1.md").write_text('+++\nname = "bad"\nwhen = ["x"]\nrules = = 3\n+++\nbody\n')
    (root / "worse.md").write_text('---\nname: worse\nrules:\n  max_depth: "deep"\n---\nbody\n')
    loaded, errors = skill_files.load_all(Project(scope.scope_dir))
    assert "good" in loaded and "rlm" in loaded
    assert "bad" not in loaded and "worse" not in loaded
    by_file = {e.file.name if e.file.parent.name != "bad" else "bad/v1.md": e for e in errors}
    assert by_file["bad/v1.md"].line == 4 and "TOML" in by_file["bad/v1.md"].message
    assert by_file["worse.md"].line == 4 and "max_depth" in by_file["worse.md"].message

    out = scope.run("skills")
    assert out.returncode == 0
    assert "good" in out.stdout and "rlm" in out.stdout
    assert "bad/v1.md:4:" in out.stderr and "worse.md:4:" in out.stderr


def test_project_version_overrides_shipped_and_write_version_adds_lineage(scope):
    project = Project(scope.scope_dir)
    shipped = skill_files.load(project, "rlm")
    newer = shipped.version + 1
    d = scope.scope_dir / "skills" / "rlm"
    d.mkdir()
    (d / f"v{newer}.md").write_text(GOOD.format(name="rlm", desc="project copy"))
    assert skill_files.load(project, "rlm").version == newer
    assert "project copy" in skill_files.load(project, "rlm").body
    assert skill_files.load(project, f"rlm@v{shipped.version}").body == shipped.body
    assert [s.version for s in skill_files.versions(project, "rlm")] == list(range(1, newer + 1))

    made = skill_files.write_version(
        project, "rlm", GOOD.format(name="rlm", desc="patched"), {"origin": "patch", "patches": ["p1"]}
    )
    assert made.version == newer + 1 and made.path == d / f"v{newer + 1}.md"
    lin = json.loads((d / "lineage.json").read_text())
    assert lin["versions"][str(newer + 1)]["parent"] == newer
    assert lin["versions"][str(newer + 1)]["patches"] == ["p1"]
    assert skill_files.load(project, "rlm").body.startswith("Prompt of rlm patched")

    lin["versions"][str(newer + 1)]["scores"] = {
        "k1": {"score": 1.0, "deviations": 2, "cost": 0.5, "t": 1.0},
        "k2": {"score": 0.0, "deviations": 1, "cost": 0.25, "t": 2.0},
    }
    (d / "lineage.json").write_text(json.dumps(lin))
    out = scope.ok("skills", "versions", "rlm")
    assert "shipped" in out
    row = next(ln for ln in out.splitlines() if ln.startswith(f"v{newer + 1} "))
    assert row.split()[:9] == [f"v{newer + 1}", f"v{newer}", "patch", "1", "2", "1/2", "3", "0", "$0.7500"]
    with pytest.raises(UsageError, match="no v99"):
        skill_files.load(project, "rlm@v99")
    with pytest.raises(UsageError, match=r"is broken: rlm.md:1: no front matter"):
        skill_files.write_version(project, "rlm", "no front matter", {})


def test_agent_root_wins_and_flat_file_is_v1(tmp_path):
    agent = tmp_path / "agent-skills"
    agent.mkdir()
    (agent / "mine.md").write_text(GOOD.format(name="mine", desc="agent's"))
    loaded, _ = skill_files.load_all(None, agent)
    assert loaded["mine"].version == 1 and loaded["mine"].root == agent


def test_predicates_are_evaluated_safely_and_prose_is_not_code():
    f = profile("x").fields()
    assert predicate("context_tokens > 100_000 or files >= 0", f)
    assert is_predicate("not has_dag", f)
    assert not is_predicate("__import__('os').system('touch /tmp/pwned')", f)
    assert not is_predicate("Single large context (>100K tokens)", f)
    assert not is_predicate("context_tokens.__class__", f)


def test_selection_composes_explore_scan_validate(tmp_path):
    src = tmp_path / "code"
    src.mkdir()
    for i in range(8):
        (src / f"m{i}.py").write_text("def f():\n    return 1\n" * 5000)
    task = "Analyze every file of this codebase for vulnerabilities, then verify the findings with tests"
    prof = profile(task, {"context": [str(src)]})
    assert prof.files == 8 and prof.independent_parts and prof.has_verification
    sel = select(None, task, prof, use_model=False)
    assert sel.composition == ["rlm", "map-reduce", "maker-checker"]
    ev = selection_event(sel)
    assert ev["chosen"] == "rlm" and set(ev["scores"]) >= {"rlm", "ralph"}
    assert any("files >= 5" in r for r in ev["reasons"]["map-reduce"])


def test_explain_shows_scores_and_reasons(scope):
    log = scope.root / "big.log"
    log.write_text("2026 INFO ok\n" * 40_000)
    out = scope.ok("skills", "--explain", "How many lines contain ERROR?", "--context", str(log), "--offline")
    assert "context_tokens=130,000" in out
    assert "rlm v1  score" in out and "✓ context_tokens > 100_000  (context_tokens=130,000)" in out
    assert "✗ has_promise" in out
    assert out.strip().splitlines()[-1] == "decision: rlm"
    js = json.loads(
        scope.ok("skills", "--explain", "keep fixing until tests pass", "--promise", "DONE", "--json")
    )
    assert js["chosen"] == "ralph" and js["scores"]["ralph"] > js["scores"]["rlm"]
    bad = scope.run("skills", "show", "nosuch")
    assert bad.returncode == 2 and "no skill 'nosuch'" in bad.stderr and "Traceback" not in bad.stderr


def test_prose_criteria_are_judged_by_the_model_in_one_call(scope, stub, monkeypatch):
    import re

    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)

    def judge(body):
        listing = body["messages"][-1]["content"]
        listing = listing if isinstance(listing, str) else listing[0]["text"]
        nums = re.findall(r"^(\d+)\. \[(\S+)\]", listing, re.M)
        return json.dumps({n: [name == "dag", f"stub says {name}"] for n, name in nums})

    stub.respond_with(judge)
    task = "Say hello"
    sel = select(Project(scope.scope_dir), task, profile(task))
    assert len(stub.requests) == 1 and sel.judge.startswith("model")
    dag = sel.choice("dag")
    assert any("stub says dag" in r and r.startswith("✓") for r in dag.reasons)
    assert sel.composition == ["dag"]  # only the model's yes made any skill qualify


def test_yaml_front_matter_is_read_as_yaml(scope):
    """The seed's skill files are YAML: a folded description and a flow list load as YAML says."""
    root = scope.scope_dir / "skills"
    (root / "folded.md").write_text(
        "---\nname: folded\ndescription: >\n  Split the work,\n  then join it\nwhen: [has_context, 'iterative']\n"
        "rules: {max_depth: 2}\n---\nbody\n"
    )
    (root / "misindented.md").write_text("---\nname: misindented\nwhen:\n  - a\n - b\n---\nbody\n")
    loaded, errors = skill_files.load_all(Project(scope.scope_dir))
    sk = loaded["folded"]
    assert sk.description.strip() == "Split the work, then join it"
    assert sk.when == ["has_context", "iterative"] and sk.rules["max_depth"] == 2
    (bad,) = [e for e in errors if e.file.name == "misindented.md"]
    assert bad.line == 5 and "YAML" in bad.message  # the " - b" line


def test_lineage_has_one_writer_so_concurrent_updates_are_all_kept(scope, tmp_path):
    """An agent's use counts and a version's scores land in one lineage.json at once, from many sessions:
    each goes through patterns.skill_files' lock, so none is lost."""
    import threading

    from scope_tui.agents import own_skills
    from scope_tui.gepa import scores

    project = Project(scope.scope_dir)
    agent = tmp_path / "alice"
    skill_files.write_version(
        project, "mine", GOOD.format(name="mine", desc="own"), agent_skill_root=own_skills.root(agent)
    )
    n = 40

    def use() -> None:
        for _ in range(n):
            own_skills.record_use(agent, "mine", True, {})

    def score() -> None:
        for i in range(n):
            scores.record(project, "mine", 1, f"item{i}", {"score": 1.0}, own_skills.root(agent))

    threads = [threading.Thread(target=use), threading.Thread(target=score)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lin = own_skills.read_lineage(agent, "mine")
    assert lin["uses"] == n
    assert len(lin["versions"]["1"]["scores"]) == n
