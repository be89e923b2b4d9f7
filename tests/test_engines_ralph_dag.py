"""Ralph and DAG engines end to end: real CLI, real tmux windows, command workers (deterministic)."""

from __future__ import annotations

import textwrap

import pytest

from scope_tui.patterns.engines import dag as dagmod
from scope_tui.patterns.engines.ralph import kept
from scope_tui.store.errors import UsageError
from tests.test_engines import PY, children, decisions, result


# --- ralph -----------------------------------------------------------------------------------------
def test_ralph_stops_at_the_tagged_promise_not_an_untagged_echo(scope):
    # iteration 1 says the bare word, 2 a different promise, 3 the real one; 4 and 5 must never run
    cmd = (
        'case {iteration} in 1) echo "FIN";; 2) echo "<promise>NOT FIN</promise>";; '
        '*) echo "all good <promise>FIN</promise>";; esac'
    )
    sid = scope.spawn("--skill", "ralph", "--promise", "FIN", "--max-iter", "5", "--cmd", cmd, "make it so")
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", result(scope, sid)
    kids = children(scope, sid)
    assert len(kids) == 3
    assert [scope.meta(k)["title"] for k in kids] == ["iteration 1/5", "iteration 2/5", "iteration 3/5"]
    assert {scope.meta(k)["role"] for k in kids} == {"iteration"}
    assert scope.state(sid)["iteration"] == 3
    assert "Promise kept at iteration 3/5" in result(scope, sid)
    # every iteration got the same prompt
    assert len({(scope.session(k) / "task.md").read_text() for k in kids}) == 1


def test_ralph_gives_up_after_max_iter(scope):
    sid = scope.spawn("--skill", "ralph", "--promise", "FIN", "--max-iter", "2", "--cmd", "echo FIN", "loop")
    scope.wait_status(sid, "done", "failed", timeout=90)
    st = scope.state(sid)
    assert st["status"] == "failed" and "promise not kept after 2 iterations" in st["reason"]
    assert len(children(scope, sid)) == 2


def test_promise_matching():
    assert kept("ok\n<promise>FIN</promise>", "FIN")
    assert kept("<promise> FIN\n</promise>", "FIN")
    assert not kept("FIN", "FIN")
    assert not kept("<promise>FINISHED</promise>", "FIN")
    assert not kept("<promise>FIN", "FIN")


# --- DAG -------------------------------------------------------------------------------------------
def barrier(me: str, other: str) -> str:
    """Touch my marker, then wait (bounded) for the other's: only a parallel run gets both."""
    return (
        f"touch {me}.mark; i=0; while [ ! -e {other}.mark ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
        f"[ -e {other}.mark ] && echo {me}-saw-{other}"
    )


def test_dag_diamond_runs_its_middle_tasks_in_parallel_and_passes_results(scope, tmp_path):
    f = tmp_path / "diamond.toml"
    f.write_text(
        textwrap.dedent(f"""\
        [tasks.top]
        cmd = "echo top-result"
        [tasks.left]
        cmd = "{barrier("left", "right")}"
        after = ["top"]
        [tasks.right]
        cmd = "{barrier("right", "left")}"
        after = ["top"]
        [tasks.bottom]
        task = "join both"
        cmd = "cat {{results}}/left.md {{results}}/right.md"
        after = ["left", "right"]
        """)
    )
    sid = scope.spawn("--skill", "dag", "--dag", str(f), "--parallel", "2", "diamond")
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", result(scope, sid)
    kids = children(scope, sid)
    roles = {scope.meta(k)["role"]: k for k in kids}
    assert set(roles) == {"node:top", "node:left", "node:right", "node:bottom"}
    assert result(scope, roles["node:bottom"]).split() == ["left-saw-right", "right-saw-left"]
    task = (scope.session(roles["node:left"]) / "task.md").read_text()
    assert "### top\ntop-result" in task  # the parent's result reached the child's task
    assert "bottom · done" in result(scope, sid)


def test_dag_cycle_is_refused_at_spawn_naming_it(scope, tmp_path):
    f = tmp_path / "cyc.toml"
    f.write_text(
        '[tasks.a]\ncmd = "true"\nafter = ["c"]\n[tasks.b]\ncmd = "true"\nafter = ["a"]\n'
        '[tasks.c]\ncmd = "true"\nafter = ["b"]\n[tasks.free]\ncmd = "true"\n'
    )
    p = scope.run("spawn", "--skill", "dag", "--dag", str(f), "x")
    assert p.returncode == 2
    assert "cycle a -> b -> c -> a" in p.stderr and "Traceback" not in p.stderr
    assert not any((scope.scope_dir / "sessions").iterdir())  # nothing was started


def test_dag_retry_continue_and_stop(scope, tmp_path):
    mark = tmp_path / "flaky-once"
    f = tmp_path / "d.toml"
    f.write_text(
        textwrap.dedent(f"""\
        [tasks.flaky]
        cmd = "[ -e {mark} ] && echo fine || {{ touch {mark}; exit 1; }}"
        on_failure = "retry"
        retries = 2
        [tasks.uses_flaky]
        cmd = "cat {{results}}/flaky.md"
        after = ["flaky"]
        [tasks.optional]
        cmd = "exit 3"
        on_failure = "continue"
        [tasks.after_optional]
        cmd = "echo still-ran"
        after = ["optional"]
        """)
    )
    g = tmp_path / "stop.toml"
    g.write_text('[tasks.bad]\ncmd = "exit 1"\n[tasks.later]\ncmd = "echo no"\nafter = ["bad"]\n')
    sid = scope.spawn("--skill", "dag", "--dag", str(f), "d")
    sid2 = scope.spawn("--skill", "dag", "--dag", str(g), "s")
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", result(scope, sid)
    text = result(scope, sid)
    assert "flaky done" in text and "optional tolerated" in text and "after_optional done" in text
    assert len(decisions(scope, sid, "retry")) == 1

    scope.wait_status(sid2, "done", "failed", timeout=90)
    st = scope.state(sid2)
    assert st["status"] == "failed" and "bad failed" in st["reason"] and "later" in st["reason"]
    assert len(children(scope, sid2)) == 1  # 'later' never started
    assert "(not run: after bad)" in result(scope, sid2)


def test_dag_file_errors_are_one_line(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('[tasks.a]\ncmd = "true"\nafter = ["nope"]\n')
    with pytest.raises(UsageError, match="after names 'nope', which is not a task"):
        dagmod.load(f)
    f.write_text('[tasks.a]\ncmd = "true"\non_failure = "explode"\n')
    with pytest.raises(
        UsageError, match=r"x.toml:3: tasks.a.on_failure: expected one of stop, continue, retry"
    ):
        dagmod.load(f)
    f.write_text('[tasks.a]\ncmd = "true"\nafter = ["a"]\n')
    with pytest.raises(UsageError, match="cycle a -> a"):
        dagmod.load(f)


def test_dag_node_can_be_a_pattern_of_its_own(scope, tmp_path):
    """A node with a pattern skill is a tactical child that drives its own workers, a level below."""
    (tmp_path / "nums").mkdir()
    for i in range(1, 4):
        (tmp_path / "nums" / f"n{i}.txt").write_text(f"{i * 10}\n")
    reducer = tmp_path / "reduce.py"
    reducer.write_text(
        "import json, sys\nprint(sum(int(m['result']) for m in json.load(open(sys.argv[1]))['mapped']))\n"
    )
    f = tmp_path / "nested.toml"
    f.write_text(
        "[tasks.scan]\n"
        'task = "add the numbers"\n'
        'skill = "map-reduce"\n'
        f"params = {{ context = ['nums'], cmd = 'cat {{file}}', reduce_cmd = '{PY} {reducer} {{results}}' }}\n"
        "[tasks.report]\n"
        "cmd = 'echo total=$(cat {results}/scan.md)'\n"
        'after = ["scan"]\n'
    )
    sid = scope.spawn("--skill", "dag", "--dag", str(f), "nested")
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", result(scope, sid)
    scan, report = children(scope, sid)
    meta = scope.meta(scan)
    assert (meta["level"], meta["driver"], meta["skill"], meta["role"]) == (
        "tactical",
        "pattern",
        "map-reduce",
        "node:scan",
    )
    assert [scope.meta(k)["level"] for k in children(scope, scan)] == ["operational"] * 4
    assert result(scope, report).strip() == "total=60"
