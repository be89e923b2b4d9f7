"""Model-written code is contained (issue 13 item 5): the REPL through the RLM engine against the
Messages-API stub, and the offline stand-in, which must never run the task's text as code."""

from __future__ import annotations

import os
import threading

import pytest

from scope_tui.patterns.rlm import engine
from scope_tui.store import events, sessions
from scope_tui.substrate import sandbox
from tests.support.helpers import wait_until
from tests.test_rlm import rlm_requests, rlm_session, scripted


@pytest.fixture
def sdk(stub, monkeypatch):
    for k, v in stub.env.items():
        monkeypatch.setenv(k, v)
    return stub


def run_bounded(s: sessions.Session, seconds: float = 90) -> int:
    """engine.run in a thread: a REPL the engine cannot stop fails the test instead of hanging it."""
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(engine.run(s.dir)), daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"the run did not end within {seconds}s: the engine lost control of its REPL"
    return out[0]


def test_the_repl_has_no_keys_its_own_group_and_rlimits(scope, sdk):
    block = (
        "```repl\nimport os\n"
        "keys = sorted(k for k in os.environ if 'KEY' in k or 'TOKEN' in k or 'ANTHROPIC' in k)\n"
        "own_group = os.getpgid(0) == os.getpid()\n"
        "limits = open('/proc/self/limits').read()\n```\n"
        "```repl\nprint(keys, own_group)\nprint(limits)\n```"
    )
    scripted(sdk, [block, "FINAL(done)"])
    s = rlm_session(scope, "look around", "x", imports=["os"])
    assert os.environ["ANTHROPIC_API_KEY"]  # the engine itself has the key (it calls the model)
    assert engine.run(s.dir) == 0
    seen = rlm_requests(sdk)[1].last_user_text
    assert "[] True" in seen  # no key, no token, no ANTHROPIC_* variable; a process group of its own
    rows = {ln[:26].strip(): ln[26:].split() for ln in seen.splitlines() if ln.startswith("Max ")}
    assert rows["Max cpu time"][0] == "600"
    assert rows["Max address space"][0] == str(4096 << 20)
    assert rows["Max open files"][0] == "256"
    assert rows["Max processes"][0] != "unlimited"


def test_a_forged_pause_does_not_extend_the_deadline(scope, sdk):
    # the old REPL stopped its clock on a ("pause", None) from the child; now no frame moves it
    forge = (
        "```repl\nimport os, json, struct, signal, stat\n"
        "for fd in map(int, os.listdir('/proc/self/fd')):\n"
        "    try:\n"
        "        if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
        "            for msg in ({'op': 'pause'}, {'op': 'call', 'name': 'nothing'},\n"
        "                        {'op': 'call', 'name': 'llm_query', 'args': ['stall']}, {'op': 'resume'}):\n"
        "                data = json.dumps(msg).encode()\n"
        "                os.write(fd, struct.pack('>I', len(data)) + data)\n"
        "    except OSError:\n"
        "        pass\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n"
        "while True:\n    pass\n```"
    )
    scripted(sdk, ["```repl\nkept = 1\n```\n" + forge, "FINAL(stopped)"])
    s = rlm_session(scope, "loop", "x", block_timeout=0.5, imports=["os", "signal", "stat"])
    assert run_bounded(s) == 0
    told = rlm_requests(sdk)[1].last_user_text
    assert "restarted" in told and "every variable you defined earlier is gone" in told


def test_a_setsid_double_fork_does_not_outlive_the_session(scope, stub, tmp_path):
    marker = tmp_path / "orphan.pid"
    scope.env.update(stub.env)
    (scope.scope_dir / "config.toml").write_text('[rlm]\nimports = ["os", "time"]\n')
    block = (
        "```repl\nimport os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
        f"while not os.path.exists({str(marker)!r}):\n    time.sleep(0.05)\n"
        "```\nFINAL(forked)"
    )
    scripted(stub, [block])
    (scope.root / "doc.txt").write_text("x\n")
    sid = scope.spawn("--skill", "rlm", "--context", "doc.txt", "fork away")
    scope.wait_status(sid, "done", "failed", timeout=60)
    assert scope.status(sid) == "done", (scope.session(sid) / "result.md").read_text()
    pid = int(wait_until(lambda: marker.exists() and marker.read_text(), 10, what="the orphan's pid"))

    def gone() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().split(") ")[1][0] == "Z"  # a zombie is dead
        except OSError:
            return True

    wait_until(gone, 20, what=f"orphan {pid} killed with its session")


def test_offline_task_text_is_data_not_code(scope, tmp_path):
    marker = tmp_path / "pwned"
    task = f'summarise `{{__import__("os").system("id > {marker}")}}`'
    s = rlm_session(scope, task, "line one\nline two\n", model="offline")
    s.meta["model"] = "offline"
    assert engine.run(s.dir) == 0, s.result()
    assert not marker.exists()
    q = rlm_session(scope, 'summarise "it\'s"', "it's here\nnot there\n")
    assert engine.run(q.dir) == 0, q.result()
    st = sessions.load_dir(q.dir).state
    assert st["iteration"] <= 3 and "it's: 1 lines" in q.result()


@pytest.mark.skipif(not sandbox.probe().ok, reason=f"bwrap cannot run here: {sandbox.probe().why}")
def test_sandbox_no_network_read_only_project_own_folder_writable(scope, sdk):
    (scope.scope_dir / "patches").mkdir(exist_ok=True)
    (scope.scope_dir / "patches" / "p1.json").write_text("{}")
    port = sdk.url.rsplit(":", 1)[1].strip("/")
    block = (
        "```repl\nimport os, socket\nout = []\n"
        "for path in (os.path.join(SESSION, 'mine.txt'), os.path.join(ROOT, 'theirs.txt')):\n"
        "    try:\n        open(path, 'w').write('x'); out.append('wrote')\n"
        "    except OSError as e:\n        out.append(type(e).__name__)\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2); out.append('connected')\n"
        "except OSError as e:\n    out.append('no network')\n"
        "out.append(sorted(os.listdir(os.path.join(ROOT, '.scope', 'patches'))))\n"
        "print(out)\n```"
    )
    scripted(sdk, [block, "FINAL(ok)"])
    s = rlm_session(scope, "escape", "x", sandbox=True, imports=["os", "socket"])
    text = (block.replace("SESSION", repr(str(s.dir)))).replace("ROOT", repr(str(scope.root)))
    scripted(sdk, [text, "FINAL(ok)"])
    assert engine.run(s.dir) == 0
    assert "['wrote', 'OSError', 'no network', []]" in rlm_requests(sdk)[1].last_user_text
    assert (s.dir / "mine.txt").exists() and not (scope.root / "theirs.txt").exists()
    assert any(e["type"] == "decision" and e.get("what") == "sandbox" for e in events.read_all(s.dir))


def test_sandbox_falls_back_with_a_clear_line_when_bwrap_cannot_run(scope, sdk, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "probe", lambda: sandbox.Probe(False, None, "bwrap not found (test)"))
    scripted(sdk, ["FINAL(ok)"])
    s = rlm_session(scope, "x", "x", sandbox=True)
    assert engine.run(s.dir) == 0
    assert "no sandbox: bwrap not found (test)" in capsys.readouterr().out
    assert any(e["type"] == "error" and e.get("where") == "sandbox" for e in events.read_all(s.dir))


def test_doctor_reports_the_sandbox_probe(scope):
    out = scope.run("doctor").stdout
    line = next(ln for ln in out.splitlines() if "sandbox: probed" in ln)
    assert ("bwrap runs" in line) == sandbox.probe().ok


@pytest.mark.skipif(not sandbox.probe().ok, reason=f"bwrap cannot run here: {sandbox.probe().why}")
def test_a_sandboxed_command_worker_cannot_write_the_project_or_reach_the_network(scope, stub):
    (scope.root / "keep.txt").write_text("mine\n")
    port = stub.url.rsplit(":", 1)[1].strip("/")  # a listener on this host's loopback
    cmd = (
        "echo x >> keep.txt 2>/dev/null && echo wrote-project || echo ro-project; "
        'echo y > "$SCOPE_DIR/sessions/$SCOPE_SESSION_ID/own.txt" && echo wrote-own; '
        f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=2)' "
        "2>/dev/null && echo online || echo offline"
    )
    sid = scope.spawn("--sandbox", "--cmd", cmd, "try")
    scope.wait_status(sid, "done", "failed", timeout=30)
    out = (scope.session(sid) / "result.md").read_text()
    assert "ro-project" in out and "wrote-own" in out and "offline" in out, out
    assert (scope.root / "keep.txt").read_text() == "mine\n"
