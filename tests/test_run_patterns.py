"""`scope run` end to end, one test per pattern: the real CLI takes a task, the orchestrator profiles it and
selects (the model judge on the stub, given the measured facts), and the real engine runs it with real
workers: built-in agent loops on the real anthropic SDK against the Messages-API stub, whose scripted
model acts only through the tools (bash, write_file) on the real files. Each test checks the answer and the
tree a person sees (`scope tree`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

Reply = dict[str, Any] | str


def bash(command: str) -> dict[str, Any]:
    return {"tool_use": {"name": "bash", "input": {"command": command}}}


def said(body: dict[str, Any]) -> tuple[str, str | None]:
    """(the worker's task: its first user message, the newest tool output or None) of a model request."""

    def text(content: Any) -> str:
        if isinstance(content, str):
            return content
        return "\n".join(str(b.get("text") or b.get("content") or "") for b in content if isinstance(b, dict))

    msgs = body.get("messages") or []
    last = msgs[-1]["content"] if msgs else ""
    out = None
    if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last if isinstance(b, dict)):
        out = "\n".join(str(b["content"]) for b in last if b.get("type") == "tool_result")
    return (text(msgs[0]["content"]) if msgs else ""), out


def model(worker: Callable[[str, str | None, dict[str, Any]], Reply]) -> Callable[[dict[str, Any]], Reply]:
    """The stub's model: the skill-selection judge holds no prose criterion true (the measured facts
    decide), and a worker's turns go to `worker(task, tool_output, body)`."""

    def answer(body: dict[str, Any]) -> Reply:
        if "judge criteria" in str(body.get("system")):
            listing = said(body)[0]
            n = len(re.findall(r"^\d+\. \[", listing, re.M))
            return json.dumps({str(i): [False, "not by this criterion's words"] for i in range(n)})
        task, out = said(body)
        return worker(task, out, body)

    return answer


@pytest.fixture
def run(scope, stub):
    """`scope run ... --model claude-test-1 TASK` with the stub's address and key; returns the run's id."""
    scope.env.update(stub.env)

    def start(*args: str) -> str:
        return scope.ok("run", "--model", "claude-test-1", *args).strip()

    return start


def finished(scope, rid: str, timeout: float = 90) -> str:
    """Wait for the run to end done; its result."""
    st = scope.wait_status(rid, "done", "failed", "needs_input", "escalated", timeout=timeout)
    assert st["status"] == "done", (st, scope.ok("tree"))
    return (scope.session(rid) / "result.md").read_text().strip()


def selected(scope, rid: str) -> dict[str, Any]:
    [d] = [e for e in scope.events(rid) if e["type"] == "decision" and e.get("what") == "skill"]
    return d


def tree_rows(scope) -> dict[str, str]:
    """`scope tree` as {id: the rest of its line}."""
    rows = {}
    for line in scope.ok("tree").splitlines():
        parts = line.split()
        if len(parts) > 2 and re.fullmatch(r"[\d.]+", parts[1]):
            rows[parts[1]] = line.split(parts[1], 1)[1].strip()
    return rows


def test_map_reduce_counts_each_file_with_real_mappers_and_a_reducer(scope, stub, run, tmp_path):
    orders = tmp_path / "orders"
    orders.mkdir()
    for day in range(1, 6):  # day d has d failed orders: 15 in all
        rows = [f"{i},{'failed' if i <= day else 'ok'}" for i in range(1, 9)]
        (orders / f"day{day}.csv").write_text("id,status\n" + "\n".join(rows) + "\n")

    def worker(task: str, out: str | None, body: dict[str, Any]) -> Reply:
        part = re.search(r"answer for (\S+) only", task)
        if part:  # a mapper counts its own file with grep, and says what grep said
            return bash(f"grep -c ,failed {part[1]}") if out is None else f"{out.strip()} failed"
        results = re.search(r"\(also in (\S+)\):", task)
        if not results:
            return "(neither a mapper's nor the reducer's task)"
        if out is None:  # the reducer adds up what the mappers said, from map_results.json
            add = "import json; print(sum(int(m['result'].split()[0]) for m in json.load(open('{}'))['mapped']))"
            return bash(f'python3 -c "{add.format(results[1])}"')
        return f"{out.strip()} failed orders in all 5 files"

    stub.respond_with(model(worker))
    rid = run("--context", str(orders), "--parallel", "5", "count the failed orders in each file")
    assert finished(scope, rid) == "15 failed orders in all 5 files"
    sel = selected(scope, rid)
    assert sel["chosen"] == "map-reduce" and sel["judge"] == "model claude-test-1"
    assert sel["profile"]["files"] == 5 and sel["profile"]["independent_parts"]
    judge = next(r for r in stub.requests if "judge criteria" in str(r.body.get("system")))
    assert "files=5" in judge.text, "the judge is given the measured facts"
    rows = tree_rows(scope)
    sup = f"{rid}.1"
    assert "[done, tactical, skill=map-reduce" in rows[sup]
    mappers = [f"{sup}.{i}" for i in range(1, 6)]
    assert [rows[m].split("  [")[0] for m in mappers] == [f"map {d}/5: day{d}.csv" for d in range(1, 6)]
    assert all("[done, operational, pattern=map-reduce, role=mapper" in rows[m] for m in mappers)
    assert rows[f"{sup}.6"].startswith("reduce 5 parts  [done") and "role=reducer" in rows[f"{sup}.6"]
    assert [(scope.session(m) / "result.md").read_text().strip() for m in mappers] == [
        f"{d} failed" for d in range(1, 6)
    ]


def test_maker_checker_makes_then_a_real_checker_runs_the_gate_and_a_model_judges_the_criterion(
    scope, stub, run, tmp_path
):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(
        'criteria = ["the greeting is polite"]\n'
        "[[gates]]\n"
        'name = "exact"\n'
        "cmd = \"grep -qx 'Hello, world.' greeting.txt\"\n"
    )
    judged: list[str] = []

    def worker(task: str, out: str | None, body: dict[str, Any]) -> Reply:
        if "checker in a maker-checker loop" in str(body.get("system")):
            judged.append(task)
            return json.dumps({"criteria": [{"criterion": "polite", "pass": True, "why": "it greets"}]})
        if out is not None:
            return "wrote greeting.txt"
        return {
            "tool_use": {
                "name": "write_file",
                "input": {"path": "greeting.txt", "content": "Hello, world.\n"},
            }
        }

    stub.respond_with(model(worker))
    rid = run("--rubric", str(rubric), "write a greeting into greeting.txt")
    result = finished(scope, rid)
    assert selected(scope, rid)["chosen"] == "maker-checker"
    sup = f"{rid}.1"
    maker, checker = f"{sup}.1", f"{sup}.2"
    assert result.startswith("wrote greeting.txt") and f"Accepted on attempt 1/3 (maker {maker}" in result
    assert (scope.root / "greeting.txt").read_text() == "Hello, world.\n"
    verdict = json.loads((scope.session(checker) / "verdict.json").read_text())
    assert verdict["accepted"] and [(g["name"], g["passed"]) for g in verdict["gates"]] == [("exact", True)]
    assert verdict["criteria"] == [
        {"text": "the greeting is polite", "judged": True, "pass": True, "why": "it greets"}
    ]
    # the checker's model saw the maker's own task and result
    [j] = judged
    assert "write a greeting into greeting.txt" in j and "wrote greeting.txt" in j
    rows = tree_rows(scope)
    assert "[done, tactical, skill=maker-checker" in rows[sup]
    assert rows[maker].startswith("maker 1/3  [done") and "role=maker" in rows[maker]
    assert rows[checker].startswith("checker 1/3  [done") and "role=checker" in rows[checker]


def test_rlm_finds_the_needle_in_its_repl_and_the_context_never_reaches_the_prompt(
    scope, stub, run, tmp_path
):
    dump = tmp_path / "dump.txt"
    code = "K7-QX-4401"
    filler = "".join(f"record {i}: nothing to see here\n" for i in range(16_000))
    dump.write_text(filler + f"record 16000: the access code is {code}\n" + filler)

    def worker(task: str, out: str | None, body: dict[str, Any]) -> Reply:
        if "```repl" not in str(body.get("system")):
            return "(not an RLM turn)"
        turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if turns == 0:  # peek first, as the skill's rule asks
            return "```repl\nprint(len(context), context[:60])\n```"
        return "```repl\nimport re\nfound = re.search(r'access code is (\\S+)', context).group(1)\n```\nFINAL_VAR(found)"

    stub.respond_with(model(worker))
    rid = run("--context", str(dump), "find the access code in the dump")
    assert finished(scope, rid) == code
    sel = selected(scope, rid)
    assert sel["chosen"] == "rlm" and sel["profile"]["context_tokens"] > 100_000
    sup = f"{rid}.1"
    assert "[done, tactical, skill=rlm" in tree_rows(scope)[sup]
    rlm = [r for r in stub.requests if "```repl" in str(r.body.get("system"))]
    assert len(rlm) == 2 and all(code not in r.text for r in rlm), "the context is a REPL variable"
    kinds = [e["type"] for e in scope.events(sup) if e["type"] in ("peek", "grep")]
    assert kinds == ["peek", "grep"]


def test_ralph_iterates_in_fresh_sessions_until_the_promise_is_kept(scope, stub, run):
    def worker(task: str, out: str | None, body: dict[str, Any]) -> Reply:
        if "<promise>DONE</promise>" not in task:
            return "(ralph's prompt did not reach me)"
        if out is None:  # each iteration starts fresh: what earlier ones did is in notes.txt
            return bash("echo step >> notes.txt; wc -l < notes.txt")
        n = int(out.split()[0])
        return f"notes.txt has {n} lines" + (" <promise>DONE</promise>" if n >= 2 else "")

    stub.respond_with(model(worker))
    rid = run("--promise", "DONE", "append a step to notes.txt until it has two lines")
    result = finished(scope, rid)
    assert result.startswith("notes.txt has 2 lines") and "Promise kept at iteration 2/5" in result
    assert selected(scope, rid)["chosen"] == "ralph"
    assert (scope.root / "notes.txt").read_text() == "step\n" * 2
    sup = f"{rid}.1"
    rows = tree_rows(scope)
    assert "[done, tactical, skill=ralph" in rows[sup]
    assert [rows[f"{sup}.{k}"].split("  [")[0] for k in (1, 2)] == ["iteration 1/5", "iteration 2/5"]
    assert f"{sup}.3" not in rows
    first_turns = [r for r in stub.requests if len(r.body.get("messages") or []) == 1 and r.body.get("tools")]
    assert len(first_turns) == 2, "two iterations, each a fresh conversation"


def test_dag_runs_independent_nodes_and_their_results_flow_to_the_one_after(scope, stub, run, tmp_path):
    (scope.root / "api.log").write_text("ERROR a\nINFO b\nERROR c\n")
    (scope.root / "db.log").write_text("ERROR x\n" * 4)
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[tasks.api]\ntask = "Count the ERROR lines of api.log."\n'
        '[tasks.db]\ntask = "Count the ERROR lines of db.log."\n'
        '[tasks.report]\ntask = "Report both counts."\nafter = ["api", "db"]\n'
    )

    def worker(task: str, out: str | None, body: dict[str, Any]) -> Reply:
        log = re.search(r"ERROR lines of (\w+\.log)", task)
        if log and "## Results of the tasks" not in task:
            return bash(f"grep -c ERROR {log[1]}") if out is None else f"{log[1]}: {out.strip()}"
        # the report node is given the results of the nodes it runs after, each under its name
        found = re.findall(r"^(\w+\.log: \d+)$", task, re.M)
        return "; ".join(found) or "(no results reached me)"

    stub.respond_with(model(worker))
    rid = run("--dag", str(plan), "report the ERROR counts of the service logs")
    finished(scope, rid)
    assert selected(scope, rid)["chosen"] == "dag"
    sup = f"{rid}.1"
    keys = {scope.meta(f"{sup}.{i}")["key"]: f"{sup}.{i}" for i in (1, 2, 3)}
    report = (scope.session(keys["report"]) / "result.md").read_text().strip()
    assert report == "api.log: 2; db.log: 4"
    assert "api.log: 2; db.log: 4" in (scope.session(rid) / "result.md").read_text()
    rows = tree_rows(scope)
    assert "[done, tactical, skill=dag" in rows[sup]
    assert all("[done, operational, pattern=dag" in rows[keys[k]] for k in ("api", "db", "report"))
