"""Trajectories a person can read: `scope log ID --rlm`, its JSONL in the reference logger's format."""

from __future__ import annotations

import json

import pytest

from scope_tui.patterns.rlm import engine
from tests.test_rlm import rlm_session, scripted

# the reference's RLMLogger / RLMIteration / REPLResult fields (alexzhang13/rlm, rlm/core/types.py)
METADATA = {
    "type",
    "timestamp",
    "root_model",
    "max_depth",
    "max_iterations",
    "backend",
    "backend_kwargs",
    "environment_type",
    "environment_kwargs",
    "other_backends",
}
ITERATION = {
    "type",
    "iteration",
    "timestamp",
    "prompt",
    "response",
    "code_blocks",
    "final_answer",
    "iteration_time",
}
RESULT = {"stdout", "stderr", "locals", "execution_time", "rlm_calls", "final_answer"}
CALL = {"root_model", "prompt", "response", "usage_summary", "execution_time"}


@pytest.fixture
def sdk(stub, monkeypatch):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    return stub


def test_scope_log_rlm_prints_the_run_and_exports_the_reference_jsonl(scope, sdk):
    scripted(
        sdk,
        [
            "Let me look.\n```repl\nprint(len(context))\nprint('\\x1b]0;OWNED\\x07')\n```",
            "```repl\nr = llm_query('what colour is the sky?')\nprint(r)\n```\n```repl\n1/0\n```",
            "FINAL(blue, said the sub-call)",
        ],
        sub=lambda body: "blue",
    )
    s = rlm_session(scope, "ask", "hello world")
    assert engine.run(s.dir) == 0
    out = scope.run("log", s.id, "--rlm")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for piece in (
        "iteration 1",
        "print(len(context))",
        "11",  # code and its output
        "iteration 2",
        "sub-call → llm_query: 'what colour is the sky?'",
        "blue",
        "ZeroDivisionError",  # a block's error is its stderr
        "iteration 3",
        "FINAL ANSWER:",
        "blue, said the sub-call",
    ):
        assert piece in text, (piece, text)
    assert "\x1b" not in text and "\\x1b]0;OWNED\\x07" in text  # escapes shown, never sent to the terminal
    lines = [json.loads(x) for x in scope.run("log", s.id, "--rlm", "--json").stdout.splitlines()]
    assert lines[0]["type"] == "metadata" and METADATA <= set(lines[0])
    its = lines[1:]
    assert [e["iteration"] for e in its] == [1, 2, 3] and all(ITERATION <= set(e) for e in its)
    block = its[1]["code_blocks"][0]
    assert set(block) == {"code", "result"} and RESULT <= set(block["result"])
    call = block["result"]["rlm_calls"][0]
    assert CALL <= set(call) and call["response"] == "blue"
    assert its[2]["final_answer"] == "blue, said the sub-call"
    assert "ZeroDivisionError" in its[1]["code_blocks"][1]["result"]["stderr"]


def test_scope_log_rlm_of_a_session_without_a_trajectory(scope):
    sid = scope.spawn("--cmd", "true", "nothing")
    scope.wait_status(sid, "done", "failed", timeout=30)
    out = scope.run("log", sid, "--rlm")
    assert out.returncode == 1 and "no trajectory" in out.stdout


def test_rlm_eval_offline_labels_every_number(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bench" / "rlm_eval.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--sizes", "8k", "--tasks", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    rows = [
        ln
        for ln in out.stdout.splitlines()
        if ln.split()[:1] and ln.split()[0] in ("S-NIAH", "OOLONG-Pairs", "OOLONG")
    ]
    assert len(rows) == 3 and all("offline stand-in: checks the harness, not a model" in r for r in rows)
    niah = rows[0].split()
    assert niah[4:6] == ["0%", "100%"]  # the offline base cannot read a needle; the offline RLM greps it
    bad = subprocess.run(
        [sys.executable, str(bench), "--sizes", "9k"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "unknown size '9k'" in bad.stderr
