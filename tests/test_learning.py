"""Online GEPA that learns: verified scores, eval items, patches tested before they are ready, the Pareto
draw over shapes the online flow makes, lines that do not pile up, RLM deviations, heuristics."""

from __future__ import annotations

import random
import threading

import pytest

from scope_tui.gepa import evals, learned, meaning, pareto, patches, reflection, scores, trial
from scope_tui.gepa.deviation import Deviation
from scope_tui.patterns import skill_files as skills
from scope_tui.patterns.rlm.repl import subcall_kind
from scope_tui.store import events, sessions
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project
from tests.support.habit import habit_model, log_with_code
from tests.support.helpers import wait_until


@pytest.fixture
def project(tmp_path, home, monkeypatch) -> Project:
    monkeypatch.setenv("SCOPE_REFLECT_OFFLINE", "1")
    return Project.create(tmp_path / "proj" / ".scope")


def _ended(project: Project, task: str, result: str, status: str = "done", **params) -> sessions.Session:
    s = sessions.create(project, task, driver="builtin", skill="ralph", skill_version=1, params=params)
    sessions.write_result(s.dir, result)
    sessions.set_status(s.dir, status)
    return sessions.load_dir(s.dir)


# ---------------------------------------------------------------- 1. verified scores


def test_a_run_is_scored_by_its_verifier_or_not_at_all(project, tmp_path):
    # no verifier: ending done is no score
    plain = _ended(project, "tidy the notes", "done it")
    assert scores.record_outcome(project, plain.dir) is None
    # --check: the fraction of commands that exit 0 (the run's result is in $SCOPE_RESULT)
    checked = _ended(
        project, "write 42", "42\n", checks=['grep -q 42 "$SCOPE_RESULT"', "false", "true", "exit 3"]
    )
    got = scores.record_outcome(project, checked.dir)
    assert got["score"] == 0.5 and got["verifier"] == "check"
    assert {"cost", "tokens", "deviations", "duration"} <= set(got)
    # --expect: numeric or exact; a failed session with the right text still has its answer checked
    assert (
        scores.record_outcome(project, _ended(project, "sum", " 1,000.0\n", expect="1000").dir)["score"] == 1
    )
    assert scores.record_outcome(project, _ended(project, "name", "Bob", expect="bob").dir)["score"] == 0
    lin = skills.lineage(project, "ralph")["versions"]["1"]["scores"]
    assert scores.task_key("write 42") in lin and scores.task_key("tidy the notes") not in lin
    # scored runs that can be judged again are eval items; a second run of a task is the same item
    scores.record_outcome(project, _ended(project, "Write  42", "41", checks=["false"]).dir)
    items = {it["task"]: it for it in evals.items(project, "ralph")}
    assert set(items) == {"write 42", "sum", "name"}
    assert [v["score"] for v in items["write 42"]["verdicts"]] == [0.5, 0.0]
    assert items["sum"]["verifier"] == {"expect": "1000"}


def test_eval_items_are_capped(project):
    (project.config_path).write_text("[gepa]\nevals_cap = 3\n")
    for i in range(5):
        scores.record_outcome(project, _ended(project, f"task {i}", "x", expect="x").dir)
    assert sorted(it["task"] for it in evals.items(project, "ralph")) == ["task 2", "task 3", "task 4"]


def test_scope_rate_is_the_persons_verdict_and_refused_inside_a_session(scope):
    project = Project(scope.scope_dir)
    s = _ended(project, "draft the memo", "a memo")
    r = scope.run("rate", s.id, "good", env={"SCOPE_SESSION_ID": s.id})
    assert r.returncode == 2 and "person's decision" in r.stderr
    assert scope.ok("rate", s.id, "good", "--why", "clear").strip() == f"rated {s.id} good: score 1"
    got = skills.lineage(project, "ralph")["versions"]["1"]["scores"][scores.task_key("draft the memo")]
    assert got["verifier"] == "person" and got["score"] == 1.0
    assert scope.run("rate", s.id, "meh").returncode == 2
    live = sessions.create(project, "still going", driver="builtin", skill="ralph")
    r = scope.run("rate", live.id, "bad")
    assert r.returncode == 2 and "rate it once it has ended" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------- 2. tested patches


def _test(cand: list[float], par: list[float], cost=(0.05, 0.01)) -> dict:
    items = [f"i{n}" for n in range(len(cand))]
    return {
        "status": "done",
        "items": items,
        "candidate": {
            "version": 2,
            "scores": dict(zip(items, cand, strict=True)),
            "costs": {},
            "cost": cost[0],
        },
        "parent": {"version": 1, "scores": dict(zip(items, par, strict=True)), "costs": {}, "cost": cost[1]},
    }


def test_auto_approve_accepts_only_a_strict_improvement(project):
    from scope_tui.store import config, trust

    raw = config.update(project.config_path, {"auto_approve": True})
    assert not patches.auto_approve(project)  # a gated key: nothing until the person trusts it
    trust.trust(project.home_path, raw)
    p = patches.propose_rule(project, "dag", "NEVER start a task before its inputs exist.", signature="x")
    assert p["status"] == "pending" and trial.summary(p) == "untested"  # no eval items: nobody tested it
    assert patches.tested(project, p["id"], _test([1, 1, 0], [1, 0, 1])) == "v2 2/3 · v1 2/3 · +$0.04"
    p = patches.load_patch(project, p["id"])
    assert p["status"] == "pending" and "not a strict improvement" in p["auto_note"]
    q = patches.propose_rule(project, "dag", "ALWAYS name each task's inputs.", signature="y")
    assert (
        patches.tested(project, q["id"], _test([1, 1, 1], [1, 0, 0], (0.01, 0.03)))
        == "v2 3/3 · v1 1/3 · -$0.02"
    )
    q = patches.load_patch(project, q["id"])
    assert (
        q["status"] == "approved" and q["decided_by"] == "auto" and skills.load(project, "dag").version == 2
    )


def test_two_faces_deciding_at_once_the_first_wins(project):
    p = patches.propose_rule(project, "dag", "ALWAYS name each task's inputs.", signature="y")
    out: list[str] = []
    barrier = threading.Barrier(2)

    def decide(fn) -> None:
        barrier.wait()
        try:
            fn()
            out.append("ok")
        except UsageError as exc:
            out.append(str(exc))

    ts = [
        threading.Thread(target=decide, args=(lambda: patches.approve(project, p["id"], by="room"),)),
        threading.Thread(target=decide, args=(lambda: patches.reject(project, p["id"], "no", by="cli"),)),
    ]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out.count("ok") == 1, out
    (lost,) = [o for o in out if o != "ok"]
    final = patches.load_patch(project, p["id"])
    assert f"already decided by {final['decided_by']}" in lost  # the loser is told who won


def test_the_rlm_engine_recurses_before_looking_and_its_patch_is_tested(scope, stub):
    """The RLM engine through the SDK against the stub: the habit recurses before any look; the
    sequence deviation fires, the reflection is in its next turn, the patch is tested on the eval items
    (real eval session, real child sessions pinned to v1 and the candidate) and shown with its scores."""
    scope.env.update(stub.env)
    scope.env["SCOPE_REFLECT_OFFLINE"] = "1"
    stub.respond_with(habit_model)
    project = Project(scope.scope_dir)
    codes = ["K7Q2X9", "M3P8ZA", "T5N4WB", "R2D2C3"]
    for i, code in enumerate(codes):
        (scope.root / f"log{i}.txt").write_text(log_with_code(code, 40, i))
    # three earlier runs that became eval items (the habit failed them)
    for i in range(3):
        s = sessions.create(
            project,
            f"task {i}: the access code?",
            driver="pattern",
            level="tactical",
            skill="rlm",
            skill_version=1,
            params={"context": [str(scope.root / f"log{i}.txt")], "expect": codes[i], "max_iter": 3},
        )
        sessions.write_result(s.dir, "unknown")
        sessions.set_status(s.dir, "done")
        scores.record_outcome(project, s.dir)
    assert len(evals.items(project, "rlm")) == 3
    sid = scope.spawn(
        "--skill", "rlm", "--context", "log3.txt", "--expect", codes[3], "--max-iter", "3", "code?"
    )
    scope.wait_status(sid, "done", "failed", timeout=60)
    evs = scope.events(sid)
    dev = [e for e in evs if e["type"] == "deviation"]
    assert [d["kind"] for d in dev] == ["sequence"] and dev[0]["rule"] == "peek_before_spawn"
    assert not any(e["type"] == "peek" for e in evs)  # the recursing block was no look
    assert not (scope.session(sid) / f"{sid}.1").exists()  # the refused block made no child
    second = [r for r in stub.requests if "```repl" in str(r.body.get("system"))][1]
    assert "DEVIATION DETECTED" in second.last_user_text and "[block 1 was not run]" in second.last_user_text
    (p,) = patches.list_patches(project)
    assert p["status"] in ("testing", "pending") and p["test"]["items"]
    p = wait_until(
        lambda: (q := patches.load_patch(project, p["id"]))["status"] == "pending" and q, 90, what="tested"
    )
    line = trial.summary(p)
    assert line.startswith("v2 3/3 · v1 0/3 · ") and p["candidate_version"] == 2
    kids = [c for c in sessions.list_all(project) if c.meta.get("role") == "eval" and c.parent]
    assert sorted(k.meta["skill_version"] for k in kids) == [1, 1, 1, 2, 2, 2]
    assert line in scope.ok("patches", "show", p["id"]) and line in scope.ok("patches")
    assert skills.load(project, "rlm").version == 1  # nothing changes until someone decides
    assert scope.ok("patches", "approve", p["id"]).strip() == "approved p1: rlm v2"
    # the approved version is the tested candidate, with the scores its test gave it
    assert len(skills.lineage(project, "rlm")["versions"]["2"]["scores"]) == 3


# ---------------------------------------------------------------- 3. the Pareto front


def _s(score: float, **kw) -> dict:
    return {"score": score, "deviations": 0, "cost": 0.01, **kw}


def test_pareto_over_what_the_online_flow_produces(project):
    for _ in range(3):
        skills.write_version(project, "rlm", skills.load(project, "rlm").path.read_text() + "\n")
    # v1 ran five tasks and failed them; v2's patch test ran v2 and v1 on three of them; v2 then passed
    # two tasks of its own. v3 was tested against v2 on f, g, h: it loses f, ties g, wins h.
    # v4 was approved untested: one score of its own, nothing shared.
    for k in "abcde":
        scores.record(project, "rlm", 1, k, _s(0))
    for k in "abc":
        scores.record(project, "rlm", 2, k, _s(1))
    for k in "fg":
        scores.record(project, "rlm", 2, k, _s(1))
    scores.record(project, "rlm", 2, "h", _s(0))
    for k, x in {"f": 0, "g": 1, "h": 1}.items():
        scores.record(project, "rlm", 3, k, _s(x))
    scores.record(project, "rlm", 4, "z", _s(1))
    for k in "abcdefgh":
        (evals.folder(project, "rlm")).mkdir(parents=True, exist_ok=True)
        (evals.folder(project, "rlm") / f"{k}.json").write_text(f'{{"id": "{k}", "task": "t{k}"}}')
    _, sc = pareto._scores(project, "rlm")
    # fronts: a, b, c, f -> v2; g -> v2, v3; h -> v3; d, e nobody solved; v4 is not comparable yet
    assert pareto.front_counts(sc, 3) == {2: 5, 3: 2}
    rng = random.Random(16)
    draws = [pareto.choose_version(project, "rlm", "x", rng=rng) for _ in range(400)]
    assert draws.count(1) == 0 and draws.count(4) == 0
    assert abs(draws.count(2) / 400 - 5 / 7) < 0.07
    states = pareto.states(project, "rlm")
    assert states[4] == "untested" and states[2] == "stable"


def test_a_version_that_failed_five_of_five_is_not_drawn_over_one_that_passed(project):
    skills.write_version(project, "rlm", skills.load(project, "rlm").path.read_text() + "\n")
    for k in "abcde":  # the shape of the finding: each version only ever scored on its own tasks
        scores.record(project, "rlm", 1, k, _s(0))
    for k in "fg":
        scores.record(project, "rlm", 2, k, _s(1))
    rng = random.Random(5)
    draws = [pareto.choose_version(project, "rlm", "x", rng=rng) for _ in range(200)]
    assert draws.count(1) / len(draws) <= 0.05
    # and once they are compared on shared items (a patch's test), the loser stays off the front
    for k in "abc":
        scores.record(project, "rlm", 2, k, _s(1))
    draws = [pareto.choose_version(project, "rlm", "x", rng=rng) for _ in range(200)]
    assert draws.count(1) / len(draws) <= 0.05


# ---------------------------------------------------------------- 4. no pile-up


def test_a_repeated_deviation_reinforces_its_line(scope):
    project = Project(scope.scope_dir)
    from scope_tui.gepa import online

    s = sessions.create(project, "find it", driver="builtin", skill="rlm")
    online.before_action(project, s.dir, {"kind": "spawn", "task": "everything"})
    (p,) = patches.list_patches(project)
    patches.approve(project, p["id"])
    for i in range(3):  # the same deviation in three later sessions, some still on v1
        t = sessions.create(project, f"find it {i}", driver="builtin", skill="rlm", skill_version=1 + i % 2)
        online.before_action(project, t.dir, {"kind": "spawn", "task": "everything"})
        assert [e["type"] for e in events.read_all(t.dir)].count("rule_reinforced") == 1
    assert len(patches.list_patches(project)) == 1
    text = skills.load(project, "rlm").path.read_text()
    assert text.count(p["rule_line"]) == 1
    # counted against the version whose text holds the line (v2), whichever version the session ran
    lin = skills.lineage(project, "rlm")["versions"]
    assert lin["2"]["reinforced"] == {"sequence:peek_before_spawn": 3} and "reinforced" not in lin["1"]
    out = scope.ok("skills", "versions", "rlm").splitlines()
    head, rows = out[0].split(), {ln.split()[0]: ln.split() for ln in out[1:]}
    assert rows["v1"][head.index("again")] == "0" and rows["v2"][head.index("again")] == "3"


def test_anti_oscillation_judges_meaning(project):
    first = patches.propose_rule(project, "rlm", "NEVER spawn before peeking.", signature="a")
    patches.approve(project, first["id"])
    s = sessions.create(project, "x", driver="builtin", skill="rlm")
    back = patches.propose_rule(
        project, "rlm", "ALWAYS spawn immediately, without peeking.", signature="b", session=s.id
    )
    assert back is None
    (why,) = [e["reason"] for e in events.read_all(s.dir) if e["type"] == "patch_refused"]
    assert "contradicts p1" in why and "peek" in why
    # a rule on another matter, or the same rule said another way, is no contradiction
    assert (
        meaning.contradiction("NEVER spawn before peeking.", "ALWAYS peek at the context before spawning.")
        is None
    )
    assert patches.propose_rule(project, "rlm", "NEVER run more than 3 children at once.", signature="c")


class _Model:
    name = "judge"

    def __init__(self, answer: str) -> None:
        self.answer, self.asked = answer, []

    def complete(self, messages, **kw):
        self.asked.append(messages[0]["content"])
        return type("R", (), {"text": self.answer})()


def test_with_a_model_oscillation_is_the_models_yes_or_no(project):
    first = patches.propose_rule(project, "rlm", "ALWAYS read the README first.", signature="a")
    patches.approve(project, first["id"])
    judge = _Model("yes: skipping the README undoes A")
    assert (
        patches.propose_rule(project, "rlm", "ALWAYS start coding at once.", signature="b", model=judge)
        is None
    )
    assert (
        "A: ALWAYS read the README first." in judge.asked[0]
        and "B: ALWAYS start coding at once." in judge.asked[0]
    )
    assert patches.propose_rule(
        project, "rlm", "ALWAYS start coding at once.", signature="b", model=_Model("no: fine")
    )


def test_consolidation_past_ten_lines_merges_what_repeats(project):
    lines = [f"ALWAYS check item {i} before the promise." for i in range(8)]
    lines += [
        "ALWAYS peek before spawning.",
        "ALWAYS peek at the context's structure before spawning a sub-agent.",  # covers the one above
        "NEVER recurse deeper than 2 levels.",
    ]
    for i, ln in enumerate(lines):
        patches.approve(project, patches.propose_rule(project, "ralph", ln, signature=f"s{i}")["id"])
    (cons,) = [p for p in patches.list_patches(project, "pending") if p.get("kind") == "consolidation"]
    merged = cons["merged"]
    assert merged == {lines[9]: [lines[8]]}  # the eleventh line brought it
    kept = learned.learned_lines(cons["new_text"])
    assert len(kept) == len(lines) - 1 and lines[8] not in [k[2:] for k in kept]
    assert all(f"check item {i} " in cons["new_text"] for i in range(8))
    assert kept[-1] == "- NEVER recurse deeper than 2 levels."  # ALWAYS first, then NEVER


# ---------------------------------------------------------------- 5. RLM blocks, 6. heuristics


def test_a_block_that_recurses_is_a_sub_call_whatever_it_prints():
    assert subcall_kind("print(context[:100])\nx = rlm_query('a', context)") == "spawn"
    assert subcall_kind("rs = rlm_query_batched(['a'], [context])") == "spawn"
    assert subcall_kind("print(llm_query('sum: ' + context[:50]))") == "llm_call"
    assert subcall_kind("print(context[:100])") is None
    assert subcall_kind("rlm_query = 3\nprint(rlm_query)") is None  # a name, not a call


def test_heuristics_are_the_adjustment_keyed_by_signature(tmp_path):
    from scope_tui.agents import memory

    dev = Deviation("sequence", "peek_before_spawn", "peek first", "spawned without looking")
    text, _, _ = reflection.write(dev, "rlm", "", [])
    assert text.startswith("DEVIATION DETECTED")
    adj = reflection.adjustment(text)
    assert adj.startswith("Before the next spawn, peek at the context") and "DEVIATION" not in adj
    problems: list[str] = []
    for _ in range(3):
        memory.add_heuristics(
            tmp_path, [{"text": adj, "source": "reflection", "key": dev.signature}], problems
        )
    other = reflection.adjustment(
        reflection.write(Deviation("depth", "max_depth", "d<=2", "d=3", limit=2), "rlm", "", [])[0]
    )
    memory.add_heuristics(
        tmp_path, [{"text": other, "source": "reflection", "key": "depth:max_depth"}], problems
    )
    hs = memory.read_heuristics(tmp_path).value["heuristics"]
    assert [(h["text"], h["count"]) for h in hs] == [(adj, 3), (other, 1)] and not problems


def test_plus_and_minus_in_the_room_are_the_persons_verdict(scope):
    from tests.test_tui import quiet, run, until

    project = Project(scope.scope_dir)
    good = _ended(project, "draft the memo", "a memo")
    bad = _ended(project, "draft the letter", "a letter")
    app = quiet(project)

    def score_of(s: sessions.Session) -> float | None:
        got = skills.lineage(project, "ralph")["versions"].get("1", {}).get("scores", {})
        entry = got.get(scores.task_key(s.task()))
        return None if entry is None else entry["score"]

    async def body(pilot):
        app.select(good.id)
        await pilot.pause()
        await pilot.press("plus")
        await until(pilot, lambda: score_of(good) == 1.0, what="the good verdict scored")
        app.select(bad.id)
        await pilot.pause()
        await pilot.press("minus")
        await until(pilot, lambda: score_of(bad) == 0.0, what="the bad verdict scored")

    run(app, body)
    assert [e["by"] for e in events.read_all(good.dir) if e["type"] == "rated"] == ["person"]


def test_two_front_versions_with_a_common_ancestor_are_merged(project):
    base = skills.load(project, "rlm").path.read_text()
    a = skills.write_version(
        project, "rlm", learned.add_learned_line(base, "ALWAYS peek first."), {"parent": 1}
    )
    b = skills.write_version(
        project, "rlm", learned.add_learned_line(base, "NEVER recurse past depth 2."), {"parent": 1}
    )
    # each was tested against v1 on a, b, c; v2 solves a and b, v3 solves c: both on the front
    for k, (s2, s3) in {"a": (1, 0), "b": (1, 0), "c": (0, 1)}.items():
        scores.record(project, "rlm", 1, k, _s(0))
        scores.record(project, "rlm", a.version, k, _s(s2))
        scores.record(project, "rlm", b.version, k, _s(s3))
    from scope_tui.gepa import merge

    assert merge.candidates(project, "rlm") == [(a.version, b.version, 1)]
    p = merge.propose_merge(project, "rlm")
    assert p["kind"] == "merge" and p["merge_of"] == [a.version, b.version] and p["base_version"] == a.version
    assert learned.learned_lines(p["new_text"]) == ["- ALWAYS peek first.", "- NEVER recurse past depth 2."]
    assert trial.summary(p) == "untested"  # no eval items here: it waits for them, like any patch
    assert merge.propose_merge(project, "rlm") is None  # proposed once
    # a version that is off every front is no merge partner
    scores.record(project, "rlm", b.version, "c", _s(0))
    assert merge.candidates(project, "rlm") == []
