"""The strategic level at its own timescale: the orchestrator reviews its subtree at a configured cadence
(offline by rules, with a model in one call through the real SDK against the stub), and decomposes a task
that is too big from whatever context it has. Real tmux, real engines, command children where no model
is involved."""

from __future__ import annotations

import json
import shlex
import sys

from scope_tui import api
from scope_tui.store import config
from scope_tui.store.project import Project
from tests.support.helpers import wait_until

PY = shlex.quote(sys.executable)


def escalate_cmd(reason: str, details: str) -> str:
    return f"{PY} -m scope_tui escalate {reason} {shlex.quote(details)}"


def reviews(scope, sid: str) -> list[dict]:
    return [e for e in scope.events(sid) if e["type"] == "decision" and e.get("review") == "cadence"]


def waits_for(path) -> str:
    """A ralph iteration (a command) that works until the test says so (the file appears), then keeps
    the promise."""
    return f"while [ ! -e {shlex.quote(str(path))} ]; do sleep 0.1; done; echo '<promise>DONE</promise>'"


def test_offline_the_orchestrator_reviews_at_the_configured_cadence_by_rules(scope, tmp_path):
    config.update(scope.scope_dir / "config.toml", {"ooda": {"review_every": 0.3}})
    go = tmp_path / "go"
    run = api.spawn(
        Project(scope.scope_dir),
        "tidy the docs",
        driver="orchestrator",
        level="strategic",
        budget=1.0,
        params={"candidates": [{"skill": "ralph", "params": {"cmd": waits_for(go), "promise": "DONE"}}]},
    )
    seen = wait_until(  # reviews once the worker runs under the supervisor
        lambda: [r for r in reviews(scope, run.id) if r["summary"]["workers"] == 1][1:],
        30,
        what="two reviews",
    )
    first, second = [r for r in reviews(scope, run.id) if r["summary"]["workers"] == 1][:2]
    assert second["t"] - first["t"] >= 0.25  # its own cadence, not every event
    assert (first["what"], first["by"]) == ("continue", "rules")
    assert first["why"].startswith("offline, by rules:") and "of $1.00" in first["why"]
    assert first["summary"]["pattern"] == "ralph" and first["summary"]["workers"] == 1
    assert first["summary"]["budget"] == 1.0 and seen
    go.write_text("")
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=30)
    assert scope.status(run.id) == "done"
    log = scope.ok("log", run.id, "--type", "decision")
    assert 'review="cadence"' in log and "offline, by rules" in log


def test_with_a_model_the_cadence_review_switches_pattern_in_one_call(scope, stub, monkeypatch, tmp_path):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    config.update(
        scope.scope_dir / "config.toml",
        {"models": {"strategic": "claude-strategic-test"}, "ooda": {"review_every": 0.3}},
    )
    why = "ralph shows no progress and the parts are independent: map them"
    stub.respond_with(
        lambda body: {"text": json.dumps({"decision": "switch_skill", "skill": "map-reduce", "why": why})}
    )
    run = api.spawn(
        Project(scope.scope_dir),
        "summarise the three reports",
        driver="orchestrator",
        level="strategic",
        params={
            "candidates": [
                {"skill": "ralph", "params": {"cmd": waits_for(tmp_path / "never"), "promise": "DONE"}},
                {
                    "skill": "map-reduce",
                    "params": {
                        "parts": [f"report {i} summarised" for i in (1, 2)],
                        "cmd": "cat {file}",
                        "reduce_cmd": "cat {results}",
                    },
                },
            ]
        },
    )
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=40)
    assert scope.status(run.id) == "done", scope.state(run.id)
    [d] = [e for e in reviews(scope, run.id) if e["what"] == "switch_skill"]
    assert (d["by"], d["model"], d["skill"], d["why"]) == (
        "model",
        "claude-strategic-test",
        "map-reduce",
        why,
    )
    # one call a review, each given the subtree's summary, all to the configured strategic model
    assert {r.body["model"] for r in stub.requests} == {"claude-strategic-test"}
    assert len(stub.requests) == len(reviews(scope, run.id))
    asked = json.loads(stub.requests[0].body["messages"][0]["content"])
    assert asked["trigger"] == "cadence" and asked["options"] == ["continue", "switch_skill", "reallocate"]
    assert asked["subtree"]["pattern"] == "ralph" and asked["subtree"]["left"] == ["map-reduce"]
    assert "summarise the three reports" in asked["task"]
    # what the person sees: ralph stopped with the reason, map-reduce did the work
    st = scope.state(f"{run.id}.1")
    assert st["status"] == "killed" and "switched by the strategic review" in st["reason"]
    assert scope.meta(f"{run.id}.2")["skill"] == "map-reduce"
    assert "report 2 summarised" in (scope.session(run.id) / "result.md").read_text()
    tree = scope.ok("tree")
    assert "ralph" in tree and "map-reduce" in tree


def _mapreduce(scope, run_id: str) -> tuple[str, dict]:
    """The decomposition's map-reduce session and its partition event, once it has partitioned."""

    def found():
        for sid in (f"{run_id}.2", f"{run_id}.3"):
            d = scope.session(sid)
            if (d / "events.jsonl").is_file():
                parts = [e for e in scope.events(sid) if e["type"] == "partition"]
                if parts and scope.meta(sid)["skill"] == "map-reduce":
                    return sid, parts[0]
        return None

    return wait_until(found, 30, what="the decomposition's partition")


def too_big_run(scope, task: str, **params):
    return api.spawn(
        Project(scope.scope_dir),
        task,
        driver="orchestrator",
        level="strategic",
        params={
            "candidates": [{"skill": "ralph", "params": {"cmd": escalate_cmd("task_too_big", "too long")}}],
            "parallel": 2,
            **params,
        },
    )


def test_offline_a_single_big_file_is_decomposed_into_chunks(scope, tmp_path):
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i} ERROR disk full\n" for i in range(40)))
    run = too_big_run(scope, "count the ERROR lines", context=[str(log)])
    mr, part = _mapreduce(scope, run.id)
    assert part["parts"] == 2 and "chunks of" in part["how"]
    [d] = [e for e in scope.events(run.id) if e["type"] == "decision" and e["what"] == "decompose"]
    assert d["by"] == "rules" and "big.log" in d["why"] and "chunks of" in d["why"]
    chunks = sorted((scope.session(mr) / "chunks").glob("*.txt"))
    assert "".join(c.read_text() for c in chunks) == log.read_text()  # nothing lost, nothing doubled
    scope.ok("kill", run.id)


def test_offline_a_task_without_a_context_file_is_decomposed_from_its_text(scope):
    lines = [f"item {i}: the {w} report" for i, w in enumerate(["first", "second", "third", "fourth"], 1)]
    run = too_big_run(scope, "summarise each item below\n" + "\n".join(lines))
    mr, part = _mapreduce(scope, run.id)
    assert part["parts"] == 2
    [d] = [e for e in scope.events(run.id) if e["type"] == "decision" and e["what"] == "decompose"]
    assert "the task's text" in d["why"]
    texts = [c.read_text() for c in sorted((scope.session(mr) / "chunks").glob("*.txt"))]
    assert "".join(texts).splitlines() == lines
    assert (scope.session(mr) / "task.md").read_text().startswith("summarise each item below")
    scope.ok("kill", run.id)


def test_with_a_model_the_parts_of_a_decomposition_are_the_models(scope, stub, monkeypatch):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    config.update(scope.scope_dir / "config.toml", {"models": {"strategic": "claude-strategic-test"}})
    parts = ["the auth module", "the billing module", "the search module"]

    def script(body):
        if body["model"] == "claude-strategic-test":
            return {"text": json.dumps({"decision": "decompose", "parts": parts, "why": "three modules"})}
        return {"tool_use": {"name": "finish", "input": {"result": "audited"}}}  # the mappers and reducer

    stub.respond_with(script)
    run = too_big_run(scope, "audit the code base")
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=60)
    assert scope.status(run.id) == "done", scope.state(run.id)
    mr = f"{run.id}.2"
    assert scope.meta(mr)["params"]["parts"] == parts
    [d] = [e for e in scope.events(run.id) if e["type"] == "decision" and e["what"] == "decompose"]
    assert d["by"] == "model" and "the strategic model proposed 3 parts" in d["why"]
    mapped = json.loads((scope.session(mr) / "map_results.json").read_text())
    assert len(mapped["mapped"]) == 3 and not mapped["failed"]


def test_with_a_model_the_review_reallocates_parallelism_of_the_parts_not_yet_started(
    scope, stub, monkeypatch, tmp_path
):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    config.update(
        scope.scope_dir / "config.toml",
        {"models": {"strategic": "claude-strategic-test"}, "ooda": {"review_every": 0.3}},
    )
    why = "the parts cost more than planned: one at a time"
    stub.respond_with(
        lambda body: {"text": json.dumps({"decision": "reallocate", "parallel": 1, "why": why})}
    )
    go = tmp_path / "go"
    run = api.spawn(
        Project(scope.scope_dir),
        "summarise the four reports",
        driver="orchestrator",
        level="strategic",
        params={
            "parallel": 2,
            "candidates": [
                {
                    "skill": "map-reduce",
                    "params": {
                        "parts": [f"report {i}" for i in range(1, 5)],
                        "cmd": f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.1; done; cat {{file}}",
                        "reduce_cmd": "cat {results}",
                    },
                }
            ],
        },
    )
    mr = f"{run.id}.1"
    wait_until(
        lambda: [e for e in reviews(scope, run.id) if e["what"] == "reallocate"], 30, what="a reallocation"
    )
    [first] = [e for e in reviews(scope, run.id) if e["what"] == "reallocate"][:1]
    assert (first["by"], first["parallel"], first["why"]) == ("model", 1, why)
    assert first["summary"]["parallel"] == 2
    inbox = scope.session(mr) / "inbox"
    wait_until(lambda: list(inbox.rglob("*-reallocate.json")), 10, what="the message to the map-reduce")
    go.write_text("")
    scope.wait_status(run.id, "done", "failed", "needs_input", timeout=60)
    assert scope.status(run.id) == "done", scope.state(run.id)
    [d] = [e for e in scope.events(mr) if e["type"] == "decision" and e["what"] == "reallocate"]
    assert "1 at a time" in d["why"]
    # the first two ran side by side; after the reallocation the other two ran one after the other
    ended = [e["t"] for e in scope.events(f"{mr}.3") if e["type"] == "status" and e.get("status") == "done"]
    assert ended and ended[0] <= scope.meta(f"{mr}.4")["created_at"], (ended, scope.meta(f"{mr}.4"))
    assert "report 4" in (scope.session(run.id) / "result.md").read_text()


def test_offline_cadence_rules_switch_when_failures_dominate_and_slow_down_before_the_budget_passes():
    from scope_tui.ooda.review import cadence_rules

    base = {
        "workers": 4,
        "pattern": "map-reduce",
        "left": ["ralph"],
        "budget": 1.0,
        "spent": 0.6,
        "parallel": 4,
    }
    d = cadence_rules({**base, "workers_by_status": {"failed": 2, "done": 1, "running": 1}})
    assert (d.what, d.skill, d.by) == ("switch_skill", "ralph", "rules")
    d = cadence_rules({**base, "workers_by_status": {"done": 1, "running": 3}})
    assert (d.what, d.parallel) == ("reallocate", 1) and "$0.6000 a worker, 3 more would pass" in d.why
    d = cadence_rules({**base, "spent": 0.1, "workers_by_status": {"done": 1, "running": 3}})
    assert d.what == "continue" and d.why.startswith("offline, by rules: 1 of 4 workers done")
