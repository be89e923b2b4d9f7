"""The RLM REPL and engine: offline over a real 5 MB context, and the real SDK against the stub with
scripted REPL code. The engine runs in-process on a session folder; the recursive and stdin cases run
through `scope spawn` in real tmux."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from scope_tui.patterns.rlm import engine
from scope_tui.patterns.rlm.protocol import final_of
from scope_tui.patterns.rlm.repl import Repl, ReplCore, classify
from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from tests.support.helpers import wait_until


def make_log(path: Path, size: int, seed: int = 7) -> int:
    """A log of about `size` characters; returns how many of its lines contain ERROR."""
    rnd = random.Random(seed)
    out, total, n = [], 0, 0
    while total < size:
        lvl = rnd.choice(("INFO", "DEBUG", "WARN", "ERROR", "INFO"))
        n += lvl == "ERROR"
        line = f"2026-11-27T10:{rnd.randint(0, 59):02d} {lvl} req={rnd.randint(1, 10**6)} took {rnd.randint(1, 999)}ms\n"
        out.append(line)
        total += len(line)
    path.write_text("".join(out))
    return n


def rlm_session(scope, task: str, context: str, **params) -> sessions.Session:
    f = scope.root / "context.txt"
    f.write_text(context)
    return sessions.create(
        Project(scope.scope_dir),
        task,
        driver="pattern",
        level="tactical",
        skill="rlm",
        params={"context": [str(f)], **params},
    )


def scripted(stub, turns: list[str], sub=lambda body: "sub-answer"):
    """Stub replies: the RLM turns in order (requests whose system prompt holds ```repl), `sub` for sub-calls."""
    left = list(turns)

    def answer(body):
        if "```repl" in str(body.get("system", "")):
            return left.pop(0) if left else "FINAL(script exhausted)"
        return sub(body)

    stub.respond_with(answer)


def rlm_requests(stub):
    return [r for r in stub.requests if "```repl" in str(r.body.get("system", ""))]


# --------------------------------------------------------------------------------------------- unit


def test_final_only_at_line_start_and_final_var_wins():
    assert final_of("so the answer is FINAL(3)") is None
    assert final_of("  FINAL(3)") == ("text", "3")  # leading spaces are still the start of a line
    assert final_of("done\nFINAL(3)\n") == ("text", "3")
    # balanced, not greedy: the close that matches, not the last one in the reply
    assert final_of("FINAL(42)\nThe parts: (a) reading, (b) counting)") == ("text", "42")
    assert final_of("FINAL(f(x) = (1 + 2))\nok)") == ("text", "f(x) = (1 + 2)")
    assert final_of('FINAL("a ) inside")') == ("text", "a ) inside")
    assert final_of("FINAL(it's 3)") == ("text", "it's 3")
    assert final_of("FINAL(never closed") is None
    assert final_of("FINAL(1)\nFINAL_VAR(ans)\n") == ("var", "ans")
    assert final_of("```repl\nFINAL_VAR(x)\n```\n") is None  # inside a block it is code, not an answer


def test_blocks_are_told_apart_from_their_syntax_tree():
    taint: set[str] = set()
    assert classify("print(len(context)); print(context[:200])", tainted=taint) == "peek"
    assert classify("import re\nhits = re.findall(r'ERROR.*', context)", tainted=taint) == "grep"
    assert classify("lines = context.splitlines()", tainted=taint) == "peek"
    assert classify("n = sum(1 for l in lines if 'ERROR' in l)", tainted=taint) == "grep"  # taint from before
    assert (
        classify("parts = [context[i:i+1000] for i in range(0, len(context), 1000)]", tainted=taint)
        == "partition"
    )
    assert classify("x = 2 + 2\nprint(x)", tainted=taint) == "exec"


def test_output_is_cut_with_a_note():
    core = ReplCore("abc", output_limit=100)
    res = core.run("print('x' * 1000)")
    assert res.cut == 901 and "901" in res.output and "characters not shown" in res.output


def test_native_hang_restarts_the_repl_and_says_so():
    with Repl("ctx", timeout=0.3, grace=0.5, imports=["signal"]) as r:
        r.run("kept = 1")
        # SIGALRM blocked: the timer cannot reach Python, so only a restart ends the block
        res = r.run(
            "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\nwhile True: pass"
        )
        assert res.restarted and "restarted" in res.output and "gone" in res.output
        assert r.get("kept") == (False, "")
        assert r.run("print(len(context))").output.strip() == "3"


# --------------------------------------------------------------------------------------------- offline


def test_offline_counts_exactly_over_5mb_through_final_var(scope):
    (scope.scope_dir / "config.toml").write_text("[rlm]\nchunk_chars = 10_000_000\n")  # no children here
    path = scope.root / "app.log"
    n = make_log(path, 5_000_000)
    s = sessions.create(
        Project(scope.scope_dir),
        "How many lines contain ERROR?",
        driver="pattern",
        level="tactical",
        skill="rlm",
        params={"context": [str(path)]},
    )
    assert engine.run(s.dir) == 0
    assert s.result().strip() == str(n)
    ev = events.read_all(s.dir)
    kinds = [e["type"] for e in ev]
    assert kinds.index("peek") < kinds.index("grep") < kinds.index("partition")
    assert next(e for e in ev if e["type"] == "grep")["hits"] == n  # what the grep_hit_limit rule reads
    final = [e for e in ev if e["type"] == "decision" and e.get("what") == "final"]
    assert final and final[0]["via"] == "FINAL_VAR"
    st = sessions.load_dir(s.dir).state
    assert st["status"] == "done" and st["context_chars"] >= 5_000_000


# --------------------------------------------------------------------------------------------- SDK + stub


@pytest.fixture
def sdk(stub, monkeypatch):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    return stub


def test_context_never_enters_the_prompt_and_final_mid_line_is_ignored(scope, sdk):
    secret = "NEEDLE-8f3a41"
    ctx = "filler line\n" * 2000 + f"the code is {secret}\n" + "more filler\n" * 2000
    scripted(
        sdk,
        [
            "Maybe the answer is FINAL(guess) but let me check.\n```repl\nimport re\ncode = re.search(r'NEEDLE-\\w+', context).group(0)\n```",
            "FINAL_VAR(code)",
        ],
    )
    s = rlm_session(scope, "What is the code?", ctx)
    assert engine.run(s.dir) == 0
    assert s.result().strip() == secret
    reqs = rlm_requests(sdk)
    assert len(reqs) == 2  # the mid-line FINAL did not end the run
    assert secret not in reqs[0].text  # the context is a variable, not prompt text
    assert "24,0" in reqs[0].text or "characters" in reqs[0].text  # only its size and shape
    assert secret not in reqs[1].text  # the block's output was assigned, not printed
    assert [e["type"] for e in events.read_all(s.dir)].count("grep") == 1


def test_missing_final_var_keeps_the_run_going(scope, sdk):
    scripted(
        sdk, ["FINAL_VAR(answer)", "```repl\nanswer = len(context.splitlines())\n```\nFINAL_VAR(answer)"]
    )
    s = rlm_session(scope, "How many lines?", "a\nb\nc\n")
    assert engine.run(s.dir) == 0
    assert s.result().strip() == "3"
    second = rlm_requests(sdk)[1]
    assert "no variable named 'answer'" in second.last_user_text


def test_endless_loop_is_stopped_and_the_namespace_survives(scope, sdk):
    scripted(
        sdk,
        [
            "```repl\nkeep = 41 + 1\n```\n```repl\nwhile True:\n    try:\n        pass\n    except Exception:\n        pass\n```",
            "FINAL_VAR(keep)",
        ],
    )
    s = rlm_session(scope, "loop", "x", block_timeout=0.5)
    assert engine.run(s.dir) == 0
    assert s.result().strip() == "42"
    told = rlm_requests(sdk)[1].last_user_text
    assert "TimeoutError" in told and "namespace is intact" in told
    assert any(e["type"] == "error" and e.get("timed_out") for e in events.read_all(s.dir))


def test_batched_sub_calls_run_in_parallel(scope, sdk):
    import threading

    armed = threading.Lock()
    code = (
        "```repl\nparts = [context[:5], context[5:]]\n"
        "answers = llm_query_batched(['first: ' + parts[0], 'second: ' + parts[1]])\nprint(answers)\n```"
    )
    turns = iter([code, "FINAL_VAR(answers)"])

    def answer(body):
        if "```repl" in str(body.get("system", "")):
            return next(turns)
        if armed.acquire(blocking=False):
            # the first sub-call is held until a second is in flight: sequential calls would never get there
            sdk.hold_until(2)
        text = body["messages"][-1]["content"]
        text = text if isinstance(text, str) else text[0]["text"]
        return "got " + text.split(":")[0]

    sdk.respond_with(answer)
    s = rlm_session(scope, "split and ask", "helloworld")
    assert engine.run(s.dir) == 0
    assert not sdk.hold_failed, "the two sub-calls were not in flight at the same time"
    assert "got first" in s.result() and "got second" in s.result()
    calls = [e for e in events.read_all(s.dir) if e["type"] == "llm_call"]
    assert len(calls) == 4  # two turns, two sub-calls


def test_exhaustion_ends_failed_with_the_best_partial_answer(scope, sdk):
    scripted(sdk, ["```repl\nprint('partial: 17 so far')\n```", "still thinking", "no idea"])
    s = rlm_session(scope, "count", "x", max_iter=2)
    assert engine.run(s.dir) == 1
    st = sessions.load_dir(s.dir).state
    assert st["status"] == "failed" and "iterations" in st["reason"]
    assert "partial: 17 so far" in s.result()
    assert "last turn" in rlm_requests(sdk)[2].last_user_text


# --------------------------------------------------------------------------------------------- real tmux


def test_stdin_context_through_scope_spawn(scope):
    lines = "".join(f"{'ERROR' if i % 7 == 0 else 'INFO'} line {i}\n" for i in range(5000))
    sid = scope.spawn(
        "--skill", "rlm", "--model", "offline", "--context", "-", "How many lines contain ERROR?", input=lines
    )
    scope.wait_status(sid, "done", "failed", timeout=60)
    assert scope.status(sid) == "done", (scope.session(sid) / "pane.log").read_text()[-2000:]
    assert (scope.session(sid) / "result.md").read_text().strip() == str(len(range(0, 5000, 7)))
    assert (scope.session(sid) / "context-stdin.txt").read_text() == lines
    assert scope.meta(sid)["level"] == "tactical"
    both = scope.run("spawn", "--skill", "rlm", "--context", "-", "-", input="x")
    assert both.returncode == 2 and "stdin cannot be both" in both.stderr


def test_rlm_query_recurses_as_a_child_session_and_depth_is_respected(scope, stub):
    scope.env.update(stub.env)

    def answer(body):
        system = str(body.get("system", ""))
        if "```repl" not in system:
            return "leaf answer"
        n = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if "depth 0 of" in system:
            return [
                "```repl\nprint(len(context))\n```\n```repl\na = rlm_query('look inside', context[:40])\n```",
                "FINAL_VAR(a)",
            ][min(n, 1)]
        return "```repl\nb = rlm_query('deeper', context[:10])\n```\nFINAL_VAR(b)"

    stub.respond_with(answer)
    (scope.scope_dir / "config.toml").write_text("[rlm]\nmax_depth = 1\n")
    (scope.root / "doc.txt").write_text("alpha beta gamma delta\n" * 200)
    sid = scope.spawn("--skill", "rlm", "--context", "doc.txt", "what is inside?", "--max-iter", "3")
    scope.wait_status(sid, "done", "failed", timeout=60)
    assert scope.status(sid) == "done", (scope.session(sid) / "result.md").read_text()
    assert (scope.session(sid) / "result.md").read_text().strip() == "leaf answer"
    child = f"{sid}.1"
    assert scope.meta(child)["skill"] == "rlm" and scope.meta(child)["parent"] == sid
    assert (scope.session(child) / "context.txt").read_text() == ("alpha beta gamma delta\n" * 200)[:40]
    q = [e for e in scope.events(sid) if e["type"] == "rlm_query"]
    assert q and q[0]["child"] == child and q[0]["context_chars"] == 40
    # the child is at max depth (1): its rlm_query became a plain llm_query, no grandchild
    assert not scope.session(f"{child}.1").exists()
    assert any(
        e["type"] == "decision" and "instead of rlm_query" in e.get("what", "") for e in scope.events(child)
    )
    wait_until(lambda: scope.status(child) == "done", 10, what="child done")


# --------------------------------------------------------------------------------------------- answer forms


@pytest.mark.parametrize(
    "reply",
    [
        "```repl\nx = 6 * 7\nFINAL(x)\nprint('not reached')\n```\n```repl\nprint('nor this block')\n```",
        "```repl\nx = 6 * 7\nFINAL_VAR('x')\n```",
        "```repl\nanswer['content'] = str(6 * 7)\nanswer['ready'] = True\n```",
        "```repl\nanswer = {'content': 42, 'ready': True}\n```",
        "Done.\n   FINAL(42)\nwhere (a) is reading and (b) counting)",
    ],
    ids=["FINAL-in-block", "FINAL_VAR-in-block", "answer-dict", "answer-rebound", "FINAL-indented-balanced"],
)
def test_every_answer_form_ends_the_run(scope, sdk, reply):
    scripted(sdk, [reply])
    s = rlm_session(scope, "the answer", "x")
    assert engine.run(s.dir) == 0
    assert s.result().strip() == "42"
    assert len(rlm_requests(sdk)) == 1
    final = [e for e in events.read_all(s.dir) if e["type"] == "decision" and e.get("what") == "final"]
    assert final and final[0]["via"] == ("FINAL" if reply.startswith("Done") else "block")


def test_the_namespace_is_guarded(scope, sdk):
    block = (
        "```repl\n"
        + "\n".join(
            f"try:\n    {stmt}\n    print('ran: {name}')\nexcept Exception as e:\n    print('refused: {name}', type(e).__name__)"
            for name, stmt in (
                ("eval", "eval('1')"),
                ("exec", "exec('1')"),
                ("compile", "compile('1', 'x', 'eval')"),
                ("input", "input()"),
                ("os", "import os"),
                ("subprocess", "import subprocess"),
                ("socket", "import socket"),
                ("ctypes", "import ctypes"),
                ("json", "import json, collections, statistics, difflib"),
            )
        )
        + "\n```"
    )
    scripted(sdk, [block, "FINAL(ok)"])
    s = rlm_session(scope, "probe", "x")
    assert engine.run(s.dir) == 0
    seen = rlm_requests(sdk)[1].last_user_text
    for name in ("eval", "exec", "compile", "input"):
        assert f"refused: {name} NameError" in seen
    for name in ("os", "subprocess", "socket", "ctypes"):
        assert f"refused: {name} ImportError" in seen
    assert "ran: json" in seen


# --------------------------------------------------------------------------------------------- recursion


def error_log(n: int) -> tuple[str, int]:
    lines = [f"{'ERROR' if i % 3 == 0 else 'INFO'} event {i}" for i in range(n)]
    return "\n".join(lines) + "\n", sum(1 for i in range(n) if i % 3 == 0)


def test_offline_stand_in_recurses_in_parallel_children(scope):
    text, n = error_log(400)
    (scope.scope_dir / "config.toml").write_text("[rlm]\nchunk_chars = 2000\n")
    (scope.root / "log.txt").write_text(text)
    sid = scope.spawn(
        "--skill", "rlm", "--model", "offline", "--context", "log.txt", "How many lines contain ERROR?"
    )
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", (scope.session(sid) / "result.md").read_text()
    assert (scope.session(sid) / "result.md").read_text().strip() == str(n)
    children = [e["child"] for e in scope.events(sid) if e["type"] == "rlm_query"]
    parts = -(-len(text) * 11 // 20000)
    assert children == [f"{sid}.{i}" for i in range(1, parts + 1)]
    assert all(scope.meta(c)["role"] == "rlm_query" and scope.status(c) == "done" for c in children)
    tree = scope.run("tree").stdout
    assert all(c in tree for c in children)


def test_offline_stand_ins_children_overlap(scope, stub):
    """A barrier: the children (on [models.rlm_sub], here the stub) hold their first replies until two
    are in flight at once; children run one after another would never get there."""
    text, n = error_log(150)
    scope.env.update(stub.env)
    (scope.scope_dir / "config.toml").write_text(
        '[rlm]\nchunk_chars = 2000\n[models.rlm_sub]\nname = "sub-m"\n'
    )
    (scope.root / "log.txt").write_text(text)
    stub.respond_with(lambda body: "FINAL(5)")
    stub.hold_until(2)
    sid = scope.spawn(
        "--skill", "rlm", "--model", "offline", "--context", "log.txt", "How many lines contain ERROR?"
    )
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert not stub.hold_failed, "the children were never in flight at the same time"
    assert scope.status(sid) == "done", (scope.session(sid) / "result.md").read_text()
    children = [e["child"] for e in scope.events(sid) if e["type"] == "rlm_query"]
    assert len(children) >= 2 and {r.body["model"] for r in stub.requests} == {"sub-m"}
    assert (scope.session(sid) / "result.md").read_text().strip() == str(5 * len(children))
