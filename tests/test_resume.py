"""`scope resume`: a session lost with its tmux server continues as a new one that `wait` follows."""

from __future__ import annotations


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
