"""`scope resume`: a session lost with its tmux server continues as a new one that `wait` follows."""

from __future__ import annotations

import json

from tests.support.helpers import wait_until


def test_a_lost_command_session_resumes_only_with_rerun_and_wait_follows(scope):
    marker = scope.root / "go"
    sid = scope.spawn("long job", "--cmd", f"test -f {marker} && echo resumed-run || sleep 120")
    scope.wait_status(sid, "running")
    scope.kill_server()  # a reboot, as far as tmux is concerned
    scope.run("poll", sid)  # a reader sees the server gone and marks the session lost
    st = scope.wait_status(sid, "failed")
    assert st["reason"] == "lost"

    p = scope.run("resume", sid)
    assert p.returncode == 2 and "--rerun" in p.stderr and "Traceback" not in p.stderr
    marker.write_text("")
    out = scope.ok("resume", sid, "--rerun")
    new = out.split("resumed as ")[1].split()[0]
    assert new != sid and scope.meta(new)["resumed_from"] == sid
    # the final status stays final; `wait` on the old id follows the new session to its end
    assert scope.state(sid)["status"] == "failed"
    scope.ok("wait", sid, timeout=60)
    assert scope.state(new)["status"] == "done"
    assert "resumed-run" in (scope.session(new) / "result.md").read_text()
    p = scope.run("resume", sid, "--rerun")
    assert p.returncode == 2 and "resumed already" in p.stderr
    assert "no lost session" in scope.ok("resume", "--all")


def test_resume_refuses_what_is_not_lost_or_not_built(scope):
    sid = scope.spawn("quick", "--cmd", "true")
    scope.wait_status(sid, "done")
    p = scope.run("resume", sid, "--rerun")
    assert p.returncode == 2 and "not lost" in p.stderr
    p = scope.run("resume")
    assert p.returncode == 2 and "--all" in p.stderr
    p = scope.run("resume", "9")
    assert p.returncode == 2 and "no session 9" in p.stderr and "Traceback" not in p.stderr
    p = scope.run("resume", "x;y")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    # a driver that does not resume yet says so
    from scope_tui.store import sessions
    from scope_tui.store.project import Project

    s = sessions.create(Project(scope.scope_dir), "a codex task", driver="codex")
    sessions.set_status(s.dir, "failed", reason="lost")
    p = scope.run("resume", s.id)
    assert p.returncode == 2 and "a codex session does not resume yet" in p.stderr
    assert f"{s.id}: session {s.id} (codex)" in scope.ok("resume", "--all")


def _lost(scope, *sids: str) -> None:
    """Kill the tmux server under running sessions (a reboot, as far as tmux is concerned); a reader
    marks them lost."""
    scope.kill_server()
    scope.run("poll", "--all")
    for sid in sids:
        st = scope.wait_status(sid, "failed", "killed", "done")
        assert (st["status"], st.get("reason")) == ("failed", "lost"), (sid, st)


def _resumed(scope, sid: str, *args: str) -> str:
    out = scope.ok("resume", sid, *args)
    return out.split("resumed as ")[1].split()[0]


def test_a_lost_builtin_session_goes_on_from_its_whole_transcript(scope, stub):
    scope.env.update(stub.env)
    scope.env["SCOPE_RETRY_CAP"] = "0.2"
    notes = "".join(f"line {i}: {'detail ' * 8}\n" for i in range(40))  # far past a 200-character summary
    (scope.root / "notes.txt").write_text(notes + f"key={stub.key}\n")

    def script(body):
        msgs = body["messages"]
        if len(msgs) == 1:
            return {"tool_use": {"name": "bash", "input": {"command": "cat notes.txt"}}}
        if len(msgs) == 3:
            return {"tool_use": {"name": "bash", "input": {"command": "sleep 300"}}}
        return {"tool_use": {"name": "finish", "input": {"result": f"went on with {len(msgs)} messages"}}}

    stub.respond_with(script)
    task = "Read notes.txt and report.\n" + "context " * 60
    sid = scope.spawn("--model", "claude-test-1", task)
    wait_until(lambda: len(stub.requests) == 2 and scope.state(sid).get("phase") == "act", 60)
    _lost(scope, sid)
    # the transcript holds the whole conversation, the key redacted
    lines = [json.loads(ln) for ln in (scope.session(sid) / "transcript.jsonl").read_text().splitlines()]
    assert [m["role"] for m in lines] == ["user", "assistant", "user", "assistant"]
    assert lines[0]["content"][0]["text"] == task
    read = lines[2]["content"][0]["content"]
    assert "line 39: detail" in read and stub.key not in read and "key=" in read

    # what its prompt.md said (an agent's identity and memory) goes on with it, not prepared anew
    (scope.session(sid) / "prompt.md").write_text("You are ada, who checks twice.\n")
    new = _resumed(scope, sid)
    st = scope.wait_status(new, "done", "failed", "escalated", timeout=60)
    assert st["status"] == "done", (st, scope.events(new)[-5:])
    assert scope.meta(new)["resumed_from"] == sid and scope.state(sid)["status"] == "failed"
    # the model was sent the old conversation, the cut-short call answered, and told what happened
    assert "You are ada, who checks twice." in json.dumps(stub.requests[-1].body["system"])
    msgs = stub.requests[-1].body["messages"]
    assert len(msgs) == 5 and msgs[0]["content"][0]["text"] == task
    assert "line 39: detail" in json.dumps(msgs[2])
    last = msgs[4]["content"]
    assert last[0]["type"] == "tool_result" and "lost" in last[0]["content"]
    assert "[resumed]" in last[-1]["text"] and new in last[-1]["text"]
    assert (scope.session(new) / "result.md").read_text().strip() == "went on with 5 messages"
    assert scope.ok("wait", sid)  # the old id follows the new session to its end
    for path in scope.scope_dir.rglob("*"):
        if path.is_file():
            assert stub.key.encode() not in path.read_bytes(), path


def test_a_worker_whose_pane_hangs_up_before_its_sighup_comes_is_lost_and_resumes(scope, stub, tmp_path):
    """A write to a pane that already went fails with EIO before the pane's SIGHUP is handled: that is a
    lost session (which resume continues), not a `worker error` (which it refuses)."""
    import os
    import subprocess
    import sys

    from scope_tui.store.project import Project
    from scope_tui.substrate.spawn import spawn

    go = tmp_path / "go"

    def script(body):
        if len(body["messages"]) == 1:
            wait = f"while [ ! -e {go} ]; do sleep 0.05; done; echo the pane is gone by now"
            return {"tool_use": {"name": "bash", "input": {"command": wait}}}
        return {"tool_use": {"name": "finish", "input": {"result": "should not get here"}}}

    stub.respond_with(script)
    scope.env.update(stub.env)
    s = spawn(Project(scope.scope_dir), "wait for go", model="claude-test-1", launch_now=False)
    master, slave = os.openpty()
    # the worker writes to a terminal it does not control, so closing the master hangs it up without a SIGHUP
    worker = subprocess.Popen(
        [sys.executable, "-m", "scope_tui", "worker", str(s.dir)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=scope.environ(),
        start_new_session=True,
    )
    os.close(slave)
    try:
        wait_until(lambda: len(stub.requests) == 1 and scope.state(s.id).get("phase") == "act", 60)
        os.close(master)
        go.write_text("")
        worker.wait(timeout=60)
    finally:
        worker.kill()
    st = scope.state(s.id)
    assert (st["status"], st.get("reason")) == ("failed", "lost"), (st, scope.events(s.id)[-3:])
    assert any("its tmux pane went" in str(e.get("error")) for e in scope.events(s.id))
    assert "resumed as " in scope.ok("resume", s.id)


def _children(scope, sid: str) -> list[str]:
    return sorted(
        (p.name for p in scope.scope_dir.joinpath("sessions").iterdir() if p.name.rpartition(".")[0] == sid),
        key=lambda x: [int(n) for n in x.split(".")],
    )


def _parts(tmp_path):
    """Three files to map; the mapper logs each run and holds on c.txt until `go` exists."""
    data = tmp_path / "data"
    data.mkdir()
    for name, n in (("a", 2), ("b", 3), ("c", 4)):
        (data / f"{name}.txt").write_text("x\n" * n)
    runs, go = tmp_path / "runs", tmp_path / "go"
    mapper = tmp_path / "mapper.sh"
    mapper.write_text(
        f'echo "$1" >> {runs}\ncase "$1" in *c.txt) while [ ! -e {go} ]; do sleep 0.1; done;; esac\nwc -l < "$1"\n'
    )
    return data, runs, go, mapper


def test_a_lost_map_reduce_keeps_its_finished_mappers_and_starts_the_rest_again(scope, tmp_path):
    data, runs, go, mapper = _parts(tmp_path)
    sid = scope.spawn(
        "--skill", "map-reduce", "--context", str(data), "--parallel", "3",
        "--cmd", f"sh {mapper} {{file}}", "--reduce-cmd", "cat {results}", "count the lines",
    )  # fmt: skip
    wait_until(lambda: len(_children(scope, sid)) == 3, 60)
    a, b, c = _children(scope, sid)
    scope.wait_status(a, "done"), scope.wait_status(b, "done")
    wait_until(lambda: runs.read_text().count("c.txt") == 1, 60)  # c's mapper is at work
    _lost(scope, sid, c)

    p = scope.run("resume", c)  # a lost command resumes only with --rerun; its parent resumes it itself
    assert p.returncode == 2 and "--rerun" in p.stderr
    go.write_text("")
    new = _resumed(scope, sid)
    st = scope.wait_status(new, "done", "failed", timeout=90)
    assert st["status"] == "done", (st, scope.events(new)[-5:])
    # a and b ran once, c again: as a child of the resumed session, in the lost one's place
    assert sorted(runs.read_text().split()) == sorted(
        [str(data / f) for f in ("a.txt", "b.txt", "c.txt", "c.txt")]
    )
    kept = [e for e in scope.events(new) if e["type"] == "decision" and e["what"] == "kept"]
    assert [e["why"].split(":")[0] for e in kept] == [a, b]
    again = [k for k in _children(scope, new) if scope.meta(k).get("role") == "mapper"]
    assert len(again) == 1 and scope.meta(again[0])["resumed_from"] == c
    assert scope.meta(c)["resumed_as"] == again[0]
    mapped = json.loads((scope.session(new) / "map_results.json").read_text())["mapped"]
    assert [m["result"].strip() for m in mapped] == ["2", "3", "4"]
    # the tree shows the resumed session where the lost one was, the kept mappers under it
    tree = scope.ok("tree").splitlines()
    rows = [ln.split()[1] for ln in tree]
    assert sid not in rows and c not in rows
    assert rows[:4] == [new, a, b, again[0]]
    assert tree[1].startswith("  ") and tree[3].startswith("  ")


def test_a_lost_orchestrator_resumes_its_supervisor_which_keeps_what_finished(scope, tmp_path):
    from scope_tui import api
    from scope_tui.store.project import Project

    data, runs, go, mapper = _parts(tmp_path)
    run = api.spawn(
        Project(scope.scope_dir),
        "count the lines",
        driver="orchestrator",
        level="strategic",
        params={
            "candidates": [
                {
                    "skill": "map-reduce",
                    "params": {
                        "context": [str(data)],
                        "cmd": f"sh {mapper} {{file}}",
                        "reduce_cmd": "cat {results}",
                    },
                }
            ]
        },
    )
    sup = f"{run.id}.1"
    wait_until(lambda: len(_children(scope, sup)) == 3, 60)
    a, b, c = _children(scope, sup)
    scope.wait_status(a, "done"), scope.wait_status(b, "done")
    wait_until(lambda: runs.read_text().count("c.txt") == 1, 60)
    _lost(scope, run.id, sup, c)
    go.write_text("")
    out = scope.ok("resume", "--all")  # the orchestrator only: it resumes what is under it
    assert out.count("resumed as") == 1
    new = out.split("resumed as ")[1].split()[0]
    st = scope.wait_status(new, "done", "failed", "needs_input", timeout=90)
    assert st["status"] == "done", (st, scope.events(new)[-5:])
    new_sup = scope.meta(sup)["resumed_as"]
    assert new_sup.rpartition(".")[0] == new and scope.meta(new_sup)["resumed_from"] == sup
    assert runs.read_text().count("a.txt") == 1 and runs.read_text().count("c.txt") == 2
    assert scope.meta(c)["resumed_as"].rpartition(".")[0] == new_sup
    mapped = json.loads((scope.session(new_sup) / "map_results.json").read_text())["mapped"]
    assert [m["result"].strip() for m in mapped] == ["2", "3", "4"]
    assert scope.ok("wait", run.id)


def test_a_lost_plain_supervisor_keeps_its_done_child_and_starts_the_lost_one_again(scope, tmp_path):
    from scope_tui import api
    from scope_tui.store.project import Project

    runs, go = tmp_path / "runs", tmp_path / "go"
    sup = api.spawn(
        Project(scope.scope_dir),
        "two parts",
        driver="pattern",
        level="tactical",
        params={
            "children": [
                {"task": "part 1", "cmd": f"echo one >> {runs}"},
                {"task": "part 2", "cmd": f"echo two >> {runs}; while [ ! -e {go} ]; do sleep 0.1; done"},
            ]
        },
    ).id
    scope.wait_status(f"{sup}.1", "done", timeout=60)
    wait_until(lambda: runs.exists() and "two" in runs.read_text(), 60)
    _lost(scope, sup, f"{sup}.2")
    go.write_text("")
    new = _resumed(scope, sup)
    st = scope.wait_status(new, "done", "failed", "escalated", timeout=90)
    assert st["status"] == "done", (st, scope.events(new)[-5:])
    # part 1 kept, part 2 started again (the two children start at once: their first lines in either order)
    assert sorted(runs.read_text().split()) == ["one", "two", "two"]
    again = scope.meta(f"{sup}.2")["resumed_as"]
    assert again.rpartition(".")[0] == new and scope.status(again) == "done"
    assert [e["what"] for e in scope.events(new) if e["type"] == "decision"].count("kept") == 1


def test_another_hosts_resumed_row_is_replaced_by_that_hosts_successor_not_a_local_id():
    from scope_tui.store import succession
    from scope_tui.store.sessions import Session

    def row(sid: str, **meta: str) -> Session:
        return Session(sid, sid, meta, {"status": "running"}, None)

    by_id = {
        "3": row("3"),
        "4": row("4"),
        "box:3": row("box:3", resumed_as="4"),  # the host's meta names its own ids, bare
        "box:3.1": row("box:3.1"),
        "box:4": row("box:4", resumed_from="3"),
    }
    assert succession.order(by_id) == [("3", 0), ("4", 0), ("box:4", 0), ("box:3.1", 1)]
