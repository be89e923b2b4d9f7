"""The RLM's limits and options at parity with the reference, each through the engine against the
Messages-API stub: hitting a limit ends the run with the reason and the best answer so far."""

from __future__ import annotations

import os
import threading

import pytest

from scope_tui.patterns import skill_files
from scope_tui.patterns.rlm import engine
from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from tests.test_rlm import rlm_requests, rlm_session, scripted
from tests.test_rlm_contain import run_bounded


@pytest.fixture
def sdk(stub, monkeypatch):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    return stub


def ended(s: sessions.Session, reason: str) -> str:
    st = sessions.load_dir(s.dir).state
    assert st["status"] == "failed" and st["reason"].startswith(reason), st
    return s.result()


def test_max_timeout_ends_a_run_stuck_in_a_block_with_the_best_answer(scope, sdk):
    scripted(sdk, ["```repl\nprint('partial: 17 so far')\n```\n```repl\nwhile True:\n    pass\n```"])
    s = rlm_session(scope, "count", "x", max_timeout=3, block_timeout=60)
    assert run_bounded(s, 60) == 1
    assert "partial: 17 so far" in ended(s, "max_timeout")


def test_max_tokens_stops_before_the_next_turn(scope, sdk):
    scripted(sdk, ["```repl\nprint('partial: 5')\n```", "FINAL(never asked)"])
    s = rlm_session(scope, "count", "x", max_tokens=1)
    assert engine.run(s.dir) == 1
    assert "partial: 5" in ended(s, "max_tokens")
    assert len(rlm_requests(sdk)) == 1


def test_max_errors_counts_blocks_in_a_row_that_raised(scope, sdk):
    scripted(
        sdk, ["```repl\nprint('ok so far')\n```", "```repl\n1/0\n```", "```repl\n[][1]\n```", "FINAL(no)"]
    )
    s = rlm_session(scope, "count", "x", max_errors=2)
    assert engine.run(s.dir) == 1
    assert "ok so far" in ended(s, "max_errors: 2 blocks in a row")
    assert len(rlm_requests(sdk)) == 3


@pytest.mark.parametrize("limit,peak", [(None, 4), (2, 2)])
def test_max_subcalls_bounds_concurrent_sub_calls(scope, sdk, limit, peak):
    barrier = threading.Barrier(peak, timeout=20)
    lock = threading.Lock()
    live, seen = [0], [0]
    turns = iter(["```repl\nr = llm_query_batched(['a', 'b', 'c', 'd'])\nprint(r)\n```", "FINAL_VAR(r)"])

    def answer(body):
        if "```repl" in str(body.get("system", "")):
            return next(turns)
        with lock:
            live[0] += 1
            seen[0] = max(seen[0], live[0])
        try:
            barrier.wait()  # `peak` calls in flight at once, or a BrokenBarrierError (a 500)
        finally:
            with lock:
                live[0] -= 1
        return "sub"

    sdk.respond_with(answer)
    params = {} if limit is None else {"max_subcalls": limit}
    s = rlm_session(scope, "fan out", "x", **params)
    assert engine.run(s.dir) == 0
    assert seen[0] == peak and s.result().count("sub") == 4


def test_sub_calls_use_the_rlm_sub_model(scope, sdk):
    (scope.scope_dir / "config.toml").write_text(
        '[models.tactical]\nname = "root-m"\n[models.rlm_sub]\nname = "sub-m"\n'
    )
    scripted(sdk, ["```repl\nr = llm_query('hi')\n```\nFINAL_VAR(r)"])
    s = rlm_session(scope, "ask", "x")
    assert engine.run(s.dir) == 0
    models = {r.body["model"] for r in sdk.requests}
    assert models == {"root-m", "sub-m"}
    assert engine.RlmRun(s.dir).sub_model() == "sub-m"  # what an rlm_query child is spawned with


def test_custom_tools_run_in_the_engine_and_children_get_sub_tools(scope, sdk):
    tools = scope.root / "tools"
    tools.mkdir()
    (tools / "wc.py").write_text(
        "import os\ndef words(text):\n    '''How many words a text has.'''\n    return len(text.split())\n"
        "def pid():\n    return os.getpid()\n"
    )
    (scope.scope_dir / "config.toml").write_text(
        '[rlm.tools]\nwords = "tools/wc.py:words"\nengine_pid = "tools/wc.py:pid"\n[rlm.sub_tools]\n'
    )
    # a cloned project's tools are code nobody has vouched for: ignored until a person trusts it
    assert engine.RlmRun(rlm_session(scope, "untrusted", "x").dir).tools == {}
    assert scope.run("trust").returncode == 0
    scripted(sdk, ["```repl\nn = words(context)\nprint(n, engine_pid())\n```\nFINAL_VAR(n)"])
    s = rlm_session(scope, "count words", "one two three")
    assert engine.run(s.dir) == 0
    assert s.result().strip() == "3"
    # the tool ran in the engine's process (this one), not in the REPL's
    from scope_tui.patterns.rlm import trajectory

    it = next(e for e in trajectory.read(s.dir) if e["type"] == "iteration")
    assert it["code_blocks"][0]["result"]["stdout"].strip() == f"3 {os.getpid()}"
    assert "words(...): How many words a text has." in str(rlm_requests(sdk)[0].body["system"])
    child = sessions.create(
        Project(scope.scope_dir),
        "x",
        driver="pattern",
        level="tactical",
        skill="rlm",
        params={"rlm_depth": 1},
    )
    assert engine.RlmRun(child.dir).tools == {}  # [rlm.sub_tools] is empty: children get none


def test_compaction_past_the_token_threshold(scope, sdk):
    filler = "x" * 4000
    scripted(
        sdk,
        [
            f"```repl\nkeep = 7\nprint('{filler}')\n```",
            "I found keep = 7; left: answer.",  # the summary
            "FINAL_VAR(keep)",
        ],
    )
    s = rlm_session(scope, "remember", "x", compact_tokens=500)
    assert engine.run(s.dir) == 0
    assert s.result().strip() == "7"
    reqs = rlm_requests(sdk)
    assert "Summarise your progress" in reqs[1].last_user_text
    assert len(reqs[2].body["messages"]) == 1 and "I found keep = 7" in reqs[2].last_user_text
    assert "keep = 7\nprint(" not in reqs[2].text  # the earlier turns are gone; the last output stays
    assert any(e.get("what") == "compaction" for e in events.read_all(s.dir))


def test_flag_wins_over_front_matter_which_wins_over_config_and_depth_defaults_to_3(scope):
    project = Project(scope.scope_dir)
    shipped = skill_files.load(project, "rlm")
    assert shipped.rules["max_depth"] == 2  # the rule: a deviation threshold, not the hard limit
    s = rlm_session(scope, "x", "x")
    assert engine.RlmRun(s.dir).max_depth == 3
    (scope.scope_dir / "config.toml").write_text("[rlm]\nmax_iter = 5\nmax_errors = 9\nmax_subcalls = 6\n")
    text = shipped.path.read_text().replace("[rules]", "[rlm]\nmax_iter = 3\nmax_errors = 4\n\n[rules]", 1)
    v = skill_files.write_version(project, "rlm", text)
    s = sessions.create(
        project,
        "x",
        driver="pattern",
        level="tactical",
        skill="rlm",
        skill_version=v.version,
        params={"max_iter": 2},
    )
    r = engine.RlmRun(s.dir)
    assert (r.max_iter, r.max_errors, r.max_subcalls) == (2, 4, 6)


def test_spawn_flags_reach_the_session(scope):
    (scope.root / "c.txt").write_text("x\n")
    out = scope.run(
        "spawn",
        "--skill",
        "rlm",
        "--model",
        "offline",
        "--context",
        "c.txt",
        "--max-depth",
        "1",
        "--max-timeout",
        "30",
        "--max-tokens",
        "999",
        "--max-errors",
        "2",
        "--max-subcalls",
        "3",
        "--json",
        "t",
    )
    assert out.returncode == 0, out.stderr
    import json

    sid = json.loads(out.stdout)["id"]
    params = scope.meta(sid)["params"]
    assert {
        k: params[k] for k in ("max_depth", "max_timeout", "max_tokens", "max_errors", "max_subcalls")
    } == {
        "max_depth": 1,
        "max_timeout": 30.0,
        "max_tokens": 999,
        "max_errors": 2,
        "max_subcalls": 3,
    }
    bad = scope.run("spawn", "--skill", "rlm", "--max-subcalls", "0", "t")
    assert bad.returncode == 2 and "--max-subcalls must be at least 1" in bad.stderr


def test_the_budget_ends_the_run_with_the_best_answer_so_far(scope, sdk):
    (scope.scope_dir / "config.toml").write_text(
        '[models.tactical]\nname = "root-m"\n[prices]\nroot-m = [50.0, 50.0]\n'
    )
    # the second turn carries 20,000 characters of output: its estimate alone passes the budget
    scripted(sdk, ["```repl\nprint('partial: 3 found')\nprint('y' * 20000)\n```", "FINAL(never asked)"])
    f = scope.root / "context.txt"
    f.write_text("x")
    s = sessions.create(
        Project(scope.scope_dir),
        "count",
        driver="pattern",
        level="tactical",
        skill="rlm",
        budget=0.1,
        params={"context": [str(f)], "output_limit": 30000},
    )
    assert engine.run(s.dir) == 1
    st = sessions.load_dir(s.dir).state
    assert st["status"] == "escalated" and st["reason"] == "budget"
    assert "partial: 3 found" in s.result() and len(rlm_requests(sdk)) == 1
