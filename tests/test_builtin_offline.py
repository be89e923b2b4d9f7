"""The built-in worker with the offline model, end to end in real tmux through the real CLI."""

from __future__ import annotations

from tests.support.helpers import wait_until


def types(events):
    return [e["type"] for e in events]


def test_offline_file_task_end_to_end(scope):
    lines = [
        "boot ok",
        "ERROR disk full",
        "retry",
        "ERROR disk full again",
        "ok",
        "ERROR: gave up",
        "error lower",
    ]
    (scope.root / "log.txt").write_text("\n".join(lines) + "\n")
    sid = scope.spawn("count the lines containing ERROR in log.txt and write the number to answer.txt")
    st = scope.wait_status(sid, "done", "failed", "escalated", timeout=90)
    assert st["status"] == "done", st
    assert (scope.root / "answer.txt").read_text().strip() == "3"
    assert st["model"] == "offline"
    assert st["tokens"]["input"] > 0 and st["cost"] == 0.0
    result = (scope.session(sid) / "result.md").read_text()
    assert "3 line(s) of log.txt contain 'ERROR'" in result and "answer.txt" in result
    evs = scope.events(sid)
    calls = [e for e in evs if e["type"] == "llm_call"]
    assert calls and all(c["model"] == "offline" for c in calls)
    assert any(e["type"] == "grep" and "grep -c" in e["input"]["command"] for e in evs)
    assert any(e["type"] == "tool_call" and e["tool"] == "write_file" for e in evs)
    assert "result" in types(evs)
    # every turn went through the OODA phases in order
    phases = [e["phase"] for e in evs if e["type"] == "phase"]
    assert phases[:4] == ["observe", "orient", "decide", "act"]
    # a person attached to the window can follow it: the transcript is in the pane (and its log)
    pane = scope.session(sid) / "pane.log"

    def done_in_pane():
        t = pane.read_text(errors="replace")
        return t if "done:" in t else None

    text = wait_until(done_in_pane, what="transcript in pane.log")
    assert "grep -c -- ERROR log.txt" in text and "write_file" in text and "turn 4" in text


def test_offline_worker_spawns_children_and_waits(scope):
    task = "spawn children in parallel:\n- run `echo alpha-out`\n- run `echo beta-out`\n"
    sid = scope.spawn(task)
    st = scope.wait_status(sid, "done", "failed", "escalated", timeout=90)
    assert st["status"] == "done", (st, (scope.session(sid) / "result.md").read_text())
    kids = sorted(p.name for p in (scope.scope_dir / "sessions").iterdir() if p.name.startswith(f"{sid}."))
    assert kids == [f"{sid}.1", f"{sid}.2"]
    assert all(scope.meta(k)["parent"] == sid and scope.meta(k)["driver"] == "command" for k in kids)
    assert all(scope.status(k) == "done" for k in kids)
    result = (scope.session(sid) / "result.md").read_text()
    assert "alpha-out" in result and "beta-out" in result
    # the tree shows them under the parent
    assert f"{sid}.1" in scope.ok("tree") and f"{sid}.2" in scope.ok("tree")


def test_offline_missing_file_says_so(scope):
    sid = scope.spawn("count the lines containing ERROR in nothere.txt")
    st = scope.wait_status(sid, "done", "failed", "escalated", timeout=90)
    assert st["status"] == "done"
    assert "Could not count 'ERROR' in nothere.txt" in (scope.session(sid) / "result.md").read_text()
