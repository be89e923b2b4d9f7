"""Pattern engines end to end: real CLI, real tmux windows, command workers (deterministic)."""

from __future__ import annotations

import json
import random
import re
import sys
import textwrap

PY = sys.executable


def children(scope, sid: str) -> list[str]:
    base = scope.scope_dir / "sessions"
    return sorted(
        (
            p.name
            for p in base.iterdir()
            if p.name.startswith(sid + ".") and p.name.count(".") == sid.count(".") + 1
        ),
        key=lambda s: [int(x) for x in s.split(".")],
    )


def decisions(scope, sid: str, what: str) -> list[dict]:
    return [e for e in scope.events(sid) if e["type"] == "decision" and e.get("what") == what]


def result(scope, sid: str) -> str:
    return (scope.session(sid) / "result.md").read_text()


# --- map-reduce ------------------------------------------------------------------------------------
def test_mapreduce_20_files_exact_aggregate_and_failed_mapper_retried(scope, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = random.Random(7)
    total = 0
    for i in range(1, 21):
        nums = [rng.randint(1, 1000) for _ in range(rng.randint(1, 30))]
        total += sum(nums)
        (data / f"f{i:02d}.txt").write_text("\n".join(map(str, nums)) + "\n")
    marker = tmp_path / "failed-once"
    # f07 fails on its first attempt only (a marker file remembers), every other file sums its numbers
    mapper = tmp_path / "mapper.sh"
    mapper.write_text(
        f'case "$1" in *f07.txt) if [ ! -e {marker} ]; then touch {marker}; echo boom; exit 1; fi;; esac\n'
        "awk '{s+=$1} END {print s}' \"$1\"\n"
    )
    reducer = f'{PY} -c \'import json,sys; d=json.load(open(sys.argv[1])); print(sum(int(m["result"]) for m in d["mapped"]))\' {{results}}'
    sid = scope.spawn(
        "--skill", "map-reduce", "--context", str(data), "--parallel", "4",
        "--cmd", f"sh {mapper} {{file}}", "--reduce-cmd", reducer, "sum every number",
    )  # fmt: skip
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", result(scope, sid)
    assert result(scope, sid).strip() == str(total)
    meta = scope.meta(sid)
    assert (meta["level"], meta["skill"], meta["driver"]) == ("tactical", "map-reduce", "pattern")
    (part,) = [e for e in scope.events(sid) if e["type"] == "partition"]
    assert part["parts"] == 20
    kids = children(scope, sid)
    assert len(kids) == 22  # 20 mappers, one retry, one reducer
    roles = [scope.meta(k)["role"] for k in kids]
    assert roles.count("mapper") == 21 and roles[-1] == "reducer"
    assert {scope.meta(k)["pattern"] for k in kids} == {"map-reduce"}
    failed = [k for k in kids if scope.status(k) == "failed"]
    assert len(failed) == 1 and scope.meta(failed[0])["part"].endswith("f07.txt")
    (retry,) = decisions(scope, sid, "retry")
    assert retry["key"] == "7"
    tree = scope.ok("tree", sid)
    assert "role=reducer" in tree and "map 7/20: f07.txt (attempt 2)" in tree


def _pattern_session(scope, skill: str, task: str, **params):
    """A pattern session on disk (not launched), for running its engine in this process."""
    from scope_tui.store import sessions
    from scope_tui.store.project import Project

    project = Project(scope.scope_dir)
    s = sessions.create(
        project, task, level="tactical", driver="pattern", skill=skill, params=params, cwd=str(scope.root)
    )
    return s.dir


def test_mapreduce_names_a_part_that_keeps_failing(scope, tmp_path):
    """The engine's own retry policy (spec.retries), run in-process with the base EngineContext."""
    from scope_tui.patterns.engines import mapreduce
    from scope_tui.patterns.engines.context import EngineContext

    data = tmp_path / "d"
    data.mkdir()
    for name, text in (("a.txt", "1"), ("b.txt", "BAD"), ("c.txt", "2")):
        (data / name).write_text(text)
    d = _pattern_session(
        scope, "map-reduce", "cat the files", context=[str(data)],
        cmd="grep -qv BAD {file} && cat {file}", reduce_cmd="echo reduced",
    )  # fmt: skip
    assert mapreduce.run(EngineContext.from_dir(d)) == 1
    st = scope.state(d.name)
    assert st["status"] == "failed" and "1 of 3 parts failed" in st["reason"]
    text = result(scope, d.name)
    assert "reduced" in text and "part 2 (b.txt)" in text and "after 2 attempt(s)" in text
    assert len(children(scope, d.name)) == 5  # 3 mappers, b retried once, 1 reducer


def test_before_action_can_refuse_a_child_and_the_part_is_named(scope, tmp_path):
    from scope_tui.patterns.engines import mapreduce
    from scope_tui.patterns.engines.context import EngineContext

    class NoSecondPart(EngineContext):
        def before_action(self, action):
            spec = action["spec"]
            return "part 2 is off limits" if spec.role == "mapper" and spec.key == "2" else None

    d = _pattern_session(
        scope, "map-reduce", "t", parts=["x", "y", "z"], cmd="cat {chunk_path}", reduce_cmd="echo r"
    )
    assert mapreduce.run(NoSecondPart.from_dir(d)) == 1
    assert "part 2 (part 2): refused, part 2 is off limits" in result(scope, d.name)
    assert [scope.meta(k)["key"] for k in children(scope, d.name)] == ["1", "3", "reduce"]
    (refused,) = decisions(scope, d.name, "refused")
    assert refused["why"] == "part 2 is off limits"


def test_mapreduce_with_builtin_offline_workers(scope, tmp_path):
    """Model mappers and reducer: the built-in worker with the offline model; `{file}` names each part."""
    logs = tmp_path / "logs"
    logs.mkdir()
    want = {"alpha.log": 2, "beta.log": 0, "gamma.log": 3}
    for name, k in want.items():
        (logs / name).write_text("ok\n" + "ERROR here\n" * k + "fine\n")
    sid = scope.spawn(
        "--skill", "map-reduce", "--context", str(logs), "count the lines containing ERROR in {file}"
    )
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", result(scope, sid)
    kids = children(scope, sid)
    assert [(scope.meta(k)["role"], scope.meta(k)["driver"]) for k in kids] == [("mapper", "builtin")] * 3 + [
        ("reducer", "builtin")
    ]
    task = (scope.session(kids[2]) / "task.md").read_text()
    assert task.startswith(f"count the lines containing ERROR in {logs / 'gamma.log'}")
    assert result(scope, kids[2]).startswith("3 ")
    # the reducer saw every part's result and its answer leads with the exact total
    assert "--- part 2 (beta.log) ---" in (scope.session(kids[3]) / "task.md").read_text()
    assert re.match(r"\D*(\d+)", result(scope, sid)).group(1) == "5"


# --- maker-checker ---------------------------------------------------------------------------------
def test_maker_checker_fails_a_gate_then_retries_with_feedback_and_accepts(scope, tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(
        textwrap.dedent("""\
        criteria = ["the greeting is polite"]
        [[gates]]
        name = "says-hello"
        cmd = "grep -q hello out.txt || { echo 'out.txt must say hello'; exit 1; }"
        timeout = 10
        """)
    )
    # the maker writes 'hello' only once its task carries the checker's feedback
    maker = (
        'T="$SCOPE_DIR/sessions/$SCOPE_SESSION_ID/task.md"; '
        'if grep -q "must say hello" "$T"; then echo hello > out.txt; else echo hi > out.txt; fi; echo attempt {attempt}'
    )
    sid = scope.spawn("--skill", "maker-checker", "--rubric", str(rubric), "--cmd", maker, "write a greeting")
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", result(scope, sid)
    verdicts = [e for e in scope.events(sid) if e["type"] == "verdict"]
    assert [v["accepted"] for v in verdicts] == [False, True]
    assert verdicts[0]["failed_gates"] == ["says-hello"]
    kids = children(scope, sid)
    assert [scope.meta(k)["role"] for k in kids] == ["maker", "checker", "maker", "checker"]
    v1 = json.loads((scope.session(kids[1]) / "verdict.json").read_text())
    assert v1["accepted"] is False and "must say hello" in v1["feedback"]
    assert v1["criteria"][0]["judged"] is False
    assert "must say hello" not in scope.session(kids[0]).joinpath("task.md").read_text()
    assert "must say hello" in scope.session(kids[2]).joinpath("task.md").read_text()
    assert "attempt 2" in result(scope, sid) and "Accepted on attempt 2/3" in result(scope, sid)
    assert (scope.root / "out.txt").read_text().strip() == "hello"


def test_maker_checker_criteria_judged_by_the_model_through_the_sdk(scope, tmp_path, stub):
    """With a real model (the SDK against the stub) an unmet criterion rejects; its reason is the feedback."""
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(
        'criteria = ["the greeting is polite"]\n[[gates]]\nname = "made"\ncmd = "test -s out.txt"\n'
    )
    no = {"criteria": [{"criterion": "the greeting is polite", "pass": False, "why": "say please"}]}
    yes = {"criteria": [{"criterion": "the greeting is polite", "pass": True, "why": "it says please"}]}
    stub.push(text=json.dumps(no))
    stub.push(text="Here is my verdict: " + json.dumps(yes))
    maker = (
        'if grep -q "say please" "$SCOPE_DIR/sessions/$SCOPE_SESSION_ID/task.md"; '
        "then echo 'hello, please' | tee out.txt; else echo hi | tee out.txt; fi"
    )
    scope.env.update(stub.env)
    sid = scope.spawn("--skill", "maker-checker", "--rubric", str(rubric), "--cmd", maker, "greet")
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", result(scope, sid)
    verdicts = [e for e in scope.events(sid) if e["type"] == "verdict"]
    assert [(v["accepted"], v["failed_criteria"]) for v in verdicts] == [
        (False, ["the greeting is polite"]),
        (True, []),
    ]
    assert "Criterion not met: the greeting is polite: say please" in verdicts[0]["feedback"]
    assert len(stub.requests) == 2 and "hello, please" in stub.requests[1].text
    checker = children(scope, sid)[3]
    v = json.loads((scope.session(checker) / "verdict.json").read_text())
    assert v["criteria"] == [
        {"text": "the greeting is polite", "judged": True, "pass": True, "why": "it says please"}
    ]


def test_maker_checker_gate_timeout_is_a_failed_gate(scope, tmp_path):
    rubric = tmp_path / "r.toml"
    rubric.write_text('[[gates]]\nname = "slow"\ncmd = "sleep 30"\ntimeout = 0.5\n')
    sid = scope.spawn(
        "--skill", "maker-checker", "--rubric", str(rubric), "--max-iter", "1", "--cmd", "true", "x"
    )
    scope.wait_status(sid, "done", "failed", timeout=90)
    st = scope.state(sid)
    assert st["status"] == "failed" and "not accepted after 1 attempts" in st["reason"]
    (v,) = [e for e in scope.events(sid) if e["type"] == "verdict"]
    assert v["failed_gates"] == ["slow"] and "timed out" in v["feedback"]


def test_maker_checker_without_rubric_is_refused(scope):
    p = scope.run("spawn", "--skill", "maker-checker", "--cmd", "true", "x")
    assert p.returncode == 2 and "--rubric" in p.stderr


def test_partition_by_chunks_of_tokens(tmp_path):
    from types import SimpleNamespace

    from scope_tui.patterns.engines.mapreduce import partition

    (tmp_path / "big.txt").write_text("abcd" * 25)  # 100 chars = 25 tokens
    (tmp_path / "small.txt").write_text("xyz")
    d = tmp_path / "session"
    d.mkdir()
    ctx = SimpleNamespace(
        params={"context": [str(tmp_path / "big.txt"), str(tmp_path / "small.txt")], "chunk_tokens": 10},
        session_dir=d,
    )
    parts = partition(ctx)  # type: ignore[arg-type]
    assert [p.label for p in parts] == [
        "big.txt[0:40]",
        "big.txt[40:80]",
        "big.txt[80:100]",
        "small.txt[0:3]",
    ]
    assert "".join(p.path.read_text() for p in parts) == "abcd" * 25 + "xyz"


def test_mapreduce_without_context_is_refused(scope):
    p = scope.run("spawn", "--skill", "map-reduce", "--cmd", "true", "x")
    assert p.returncode == 2 and "--context" in p.stderr
