"""A session is not a person, and a cloned project's config is data until trusted.

Each "inside a session" case runs the real CLI in a real session's tmux pane, by its environment and with
that environment stripped (`env -u`), since the guards must not rest on an environment variable alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import stat
import sys
from pathlib import Path

from scope_tui.gepa import patches
from scope_tui.store import config, sessions, trust
from scope_tui.store.project import Project
from tests.support.helpers import ScopeRunner

PY = shlex.quote(sys.executable)
STRIP = "env -u SCOPE_SESSION_ID -u SCOPE_SESSION_TOKEN"
PERSON_ONLY = "a person's decision: run it outside the session"


def in_session(scope: ScopeRunner, tmp_path: Path, lines: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Run each shell line inside one real session (a command worker in its tmux pane); returns each
    line's exit code and stderr, by name."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    script = tmp_path / "inside.sh"
    script.write_text(
        "".join(
            f"{line} >{out}/{name}.out 2>{out}/{name}.err </dev/null; echo $? >{out}/{name}.rc\n"
            for name, line in lines.items()
        )
    )
    sid = scope.spawn("--cmd", f"sh {shlex.quote(str(script))}", "the attacker")
    scope.wait_status(sid, "done", "failed", timeout=60)
    return {n: (int((out / f"{n}.rc").read_text()), (out / f"{n}.err").read_text()) for n in lines}


def scope_cli(*args: str, strip: bool = False) -> str:
    return (STRIP + " " if strip else "") + f"{PY} -m scope_tui " + " ".join(shlex.quote(a) for a in args)


def pending_patch(scope: ScopeRunner) -> str:
    p = patches.propose_rule(
        Project(scope.scope_dir), "dag", "NEVER start a task before its inputs exist.", signature="t"
    )
    assert p is not None
    return p["id"]


def test_a_session_cannot_approve_reject_edit_or_trust_even_with_its_environment_stripped(scope, tmp_path):
    pid = pending_patch(scope)
    runs = in_session(
        scope,
        tmp_path,
        {
            "approve": scope_cli("patches", "approve", pid),
            "approve_stripped": scope_cli("patches", "approve", pid, strip=True),
            "reject_stripped": scope_cli("patches", "reject", pid, "--reason", "x", strip=True),
            "edit": "EDITOR=true " + scope_cli("patches", "edit", pid),
            "trust": scope_cli("trust"),
            "trust_stripped": scope_cli("trust", strip=True),
            "revoke_stripped": scope_cli("trust", "--revoke", strip=True),
            "serve_stripped": scope_cli("serve", "--port", "8999", strip=True),  # its room would decide
        },
    )
    for name, (rc, err) in runs.items():
        assert rc == 2 and err.strip() == f"scope: {PERSON_ONLY}", (name, rc, err)
    assert patches.load_patch(Project(scope.scope_dir), pid)["status"] == "pending"
    assert trust.listed() == {}
    # outside any session, the person's own command approves it, recorded as the person's
    assert "approved" in scope.ok("patches", "approve", pid)
    assert patches.load_patch(Project(scope.scope_dir), pid)["decided_by"] == "person"


def test_the_cli_cannot_record_a_decision_by_someone_else(scope):
    pid = pending_patch(scope)
    p = scope.run("patches", "approve", pid, "--by", "auto")
    assert p.returncode == 2
    assert patches.load_patch(Project(scope.scope_dir), pid)["status"] == "pending"


def test_each_session_has_its_own_secret_file_and_the_worker_holds_it(scope, tmp_path):
    sid = scope.spawn("--cmd", f'printf %s "$SCOPE_SESSION_TOKEN" > {tmp_path}/seen', "show it")
    scope.wait_status(sid, "done", timeout=30)
    token = scope.session(sid) / "token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert (tmp_path / "seen").read_text() == token.read_text().strip() and len(token.read_text()) > 32
    other = scope.spawn("--cmd", "true", "another")
    assert (scope.session(other) / "token").read_text() != token.read_text()
    # never on tmux's argv nor in the window's environment as tmux keeps it
    env = scope.tmux("show-environment", "-t", scope.meta(sid)["tmux"]["pane"]).stdout
    assert "SCOPE_SESSION_TOKEN" not in env


def test_a_hook_cannot_mark_another_running_session_done(scope, tmp_path):
    victim = sessions.create(Project(scope.scope_dir), "long job", driver="claude")
    sessions.set_status(victim.dir, "running")
    hook = 'echo \'{"last_assistant_message": "all done"}\' | ' + scope_cli(
        "hook", "Stop", "--session-dir", str(victim.dir)
    )
    runs = in_session(scope, tmp_path, {"hook": hook})
    rc, err = runs["hook"]
    assert rc == 2 and "secret" in err
    assert sessions.load_dir(victim.dir).status == "running"
    assert not (victim.dir / "result.md").exists()
    # with its own secret, the same hook is recorded (what Claude Code's hooks do)
    p = scope.run(
        "hook",
        "Stop",
        "--session-dir",
        str(victim.dir),
        input='{"last_assistant_message": "all done"}',
        env=scope.secret(victim.id),
    )
    assert p.returncode == 0 and sessions.load_dir(victim.dir).status == "done"


def test_a_session_acts_only_on_its_own_subtree(scope, tmp_path):
    other = scope.spawn("--cmd", "sleep 60", "someone else's work")
    runs = in_session(
        scope,
        tmp_path,
        {
            "kill": scope_cli("kill", other, "--yes"),
            "kill_stripped": scope_cli("kill", other, "--yes", strip=True),
            "redirect": scope_cli("redirect", other, "stop now"),
            "escalate": scope_cli("escalate", "stuck", "help", "--session", other),
            "parent": scope_cli("spawn", "--parent", other, "--model", "offline", "a child of theirs"),
        },
    )
    for name, (rc, err) in runs.items():
        assert rc == 2 and ("own children" in err or "secret" in err), (name, rc, err)
    assert scope.status(other) == "running"
    assert not list((scope.session(other) / "inbox").iterdir())
    assert not (scope.session(other) / "1").exists()


def test_a_session_cannot_start_shell_commands_however_the_arguments_are_written(scope, tmp_path):
    marker = tmp_path / "pwned"
    touch = f"touch {marker}"
    dag = tmp_path / "plan.toml"
    dag.write_text(f'[tasks.a]\ncmd = "{touch}"\n')
    forms = {
        "plain": scope_cli("spawn", "--cmd", touch, "t"),
        "reordered": scope_cli("spawn", "t", "--cmd", touch),
        "joined": scope_cli("spawn", f"--cmd={touch}", "t"),
        "driver_joined": scope_cli("spawn", "--driver=command", f"--cmd={touch}", "t"),
        "stripped": scope_cli("spawn", "t", f"--cmd={touch}", strip=True),
        "reduce_cmd": scope_cli(
            "spawn", "--skill", "map-reduce", "--context", str(dag), f"--reduce-cmd={touch}", "t"
        ),
        "dag": scope_cli("spawn", "--skill", "dag", "--dag", str(dag), "t"),
        "run_python": f"{PY} -m scope_tui spawn --cmd {shlex.quote(touch)} t",
    }
    before = len(list((scope.scope_dir / "sessions").iterdir()))
    runs = in_session(scope, tmp_path, forms)
    for name, (rc, err) in runs.items():
        assert rc == 2 and "may not start shell commands" in err, (name, rc, err)
    assert not marker.exists()
    assert len(list((scope.scope_dir / "sessions").iterdir())) == before + 1  # only the attacker's own


def test_the_persons_trusted_config_can_allow_command_workers(scope, tmp_path):
    (scope.scope_dir / "config.toml").write_text("[sessions]\nallow_command_workers = true\n")
    marker = tmp_path / "made"
    line = scope_cli("spawn", f"--cmd=touch {marker}", "t")
    assert in_session(scope, tmp_path, {"untrusted": line})["untrusted"][0] == 2  # not yet trusted
    scope.ok("trust")
    assert in_session(scope, tmp_path, {"trusted": line})["trusted"][0] == 0


def test_a_session_cannot_raise_its_budget_through_a_child(scope, tmp_path):
    (scope.scope_dir / "config.toml").write_text("[sessions]\nallow_command_workers = true\n")
    scope.ok("trust")
    script = tmp_path / "b.sh"
    script.write_text(
        scope_cli("spawn", "--budget", "100", "--cmd", "true", "spend more")
        + f" 2>{tmp_path}/err; echo $? >{tmp_path}/rc\n"
    )
    sid = scope.spawn("--budget", "0.5", "--cmd", f"sh {script}", "a capped session")
    scope.wait_status(sid, "done", "failed", timeout=60)
    assert (tmp_path / "rc").read_text().strip() == "2"
    assert PERSON_ONLY in (tmp_path / "err").read_text()


def test_claude_code_may_not_write_scope_state_nor_read_a_secret(scope):
    from scope_tui.workers import claude_settings

    s = sessions.create(Project(scope.scope_dir), "x", driver="claude")
    deny = claude_settings.settings(s.dir)["permissions"]["deny"]
    root = "//" + str(scope.scope_dir.resolve()).lstrip("/")
    for rule in ("config.toml", "patches/**", "skills/**", "sessions/**"):
        assert f"Edit({root}/{rule})" in deny
    assert f"Read({root}/sessions/*/token)" in deny


# --- trust ------------------------------------------------------------------------------------------
def test_an_untrusted_projects_program_is_not_run(scope, tmp_path):
    tool = scope.root / "tools" / "claude"
    tool.parent.mkdir()
    ran = tmp_path / "ran"
    tool.write_text(f"#!/bin/sh\ntouch {ran}\n")
    tool.chmod(0o755)
    (scope.scope_dir / "config.toml").write_text('[claude]\nbin = "./tools/claude"\n')
    path = os.pathsep.join(
        {os.path.dirname(sys.executable), os.path.dirname(_which("tmux")), "/bin", "/usr/bin"} - {""}
    )
    env = {"PATH": path.replace("/usr/bin", "/nonexistent") if _which_in("claude", "/usr/bin") else path}
    sid = scope.spawn("--driver", "claude", "hello", env=env)
    st = scope.wait_status(sid, "failed", "done", timeout=60)
    assert not ran.exists(), "the repository's own script ran"
    assert "./tools/claude" not in (st.get("reason") or "")


def _which(name: str) -> str:
    import shutil

    return shutil.which(name) or ""


def _which_in(name: str, folder: str) -> bool:
    return os.path.exists(os.path.join(folder, name))


def test_auto_approve_applies_only_once_trusted_and_is_recorded_by_auto(scope):
    project = Project(scope.scope_dir)
    (scope.scope_dir / "config.toml").write_text("auto_approve = true\n")
    assert config.load(project.config_path)["auto_approve"] is False
    p1 = patches.propose_rule(project, "dag", "NEVER start a task before its inputs exist.", signature="a")
    assert p1["status"] == "pending"
    out = scope.ok("trust")
    assert "auto_approve = True" in out
    p2 = patches.propose_rule(project, "ralph", "ALWAYS run the tests before saying done.", signature="b")
    assert p2["status"] == "pending"  # untested: auto_approve takes only a strict improvement (learning)
    test = {
        "status": "done",
        "items": ["i1"],
        "candidate": {"version": 2, "scores": {"i1": 1.0}, "cost": 0.0},
        "parent": {"version": 1, "scores": {"i1": 0.0}, "cost": 0.0},
    }
    patches.tested(project, p2["id"], test)
    p2 = patches.load_patch(project, p2["id"])
    assert p2["status"] == "approved" and p2["decided_by"] == "auto"


def test_trust_is_kept_outside_the_repo_by_the_gated_values_only(scope, home):
    project = Project(scope.scope_dir)
    (scope.scope_dir / "config.toml").write_text('auto_approve = true\n[claude]\nbin = "claude"\n')
    scope.ok("trust")
    store = home / ".config" / "scope" / "trusted.json"
    entry = json.loads(store.read_text())[str(scope.root.resolve())]
    assert entry["keys"] == ["auto_approve", "claude.bin"]
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    config.update(project.config_path, {"theme": "scope-light", "bell": False})  # what the room writes
    assert config.load_trusted(project.config_path)[1] == []
    config.update(project.config_path, {"claude": {"bin": "./other"}})
    cfg, ignored = config.load_trusted(project.config_path)
    assert ignored == ["auto_approve", "claude.bin"] and cfg["auto_approve"] is False
    assert str(scope.root.resolve()) in scope.ok("trust", "--list")
    assert "no longer trusted" in scope.ok("trust", "--revoke")
    assert scope.ok("trust", "--list").strip() == "no trusted projects"


def test_gated_keys_are_listed_once_for_the_loader_and_the_validator():
    assert {"claude.bin", "claude.allow", "models.base_url", "auto_approve", "hooks"} <= set(trust.GATED)
    raw = {"claude": {"bin": "x", "keep_open": True}, "models": {"base_url": "http://evil"}, "theme": "t"}
    kept, ignored = trust.apply("/nonexistent-project", raw)
    assert ignored == ["claude.bin", "models.base_url"]
    assert kept == {"claude": {"keep_open": True}, "models": {}, "theme": "t"}


def test_the_room_names_the_ignored_keys_of_an_untrusted_project(scope):
    from textual.widgets import Static

    from scope_tui.tui.app import ScopeApp

    (scope.scope_dir / "config.toml").write_text('auto_approve = true\n[claude]\nallow = ["Bash"]\n')
    app = ScopeApp(Project(scope.scope_dir), live_pane=False, sweep=False)

    async def go() -> str:
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause()
            return str(app.query_one("#banner", Static).render())

    text = asyncio.run(go())
    assert "untrusted project" in text and "auto_approve" in text and "claude.allow" in text


# --- doctor -----------------------------------------------------------------------------------------
def test_doctor_reports_trust_serve_and_the_modes_of_dot_scope(scope):
    (scope.scope_dir / "config.toml").write_text(
        '[claude]\nbin = "./x"\n[serve]\nhost = "192.0.2.7"\npublic_url = "https://box.tail1.ts.net"\n'
    )
    out = scope.run("doctor").stdout
    assert "trust: not trusted; ignoring claude.bin, serve.host, serve.public_url" in out
    assert "serve: binds 127.0.0.1:8000, behind a token URL; no password (loopback only)" in out
    scope.ok("trust")
    p = scope.run("doctor")
    assert "ok  trust: trusted" in p.stdout
    assert (
        "!!  serve: binds 192.0.2.7:8000 (shown at https://box.tail1.ts.net), behind a token URL; no password"
        in p.stdout
        and p.returncode == 1
    )
    os.chmod(scope.scope_dir, 0o755)
    (scope.scope_dir / "config.toml").chmod(0o644)
    loose = scope.run("doctor").stdout
    assert "--  .scope modes:" in loose and "is 755; open to others: ., " in loose and "config.toml" in loose
    for folder, _, files in os.walk(scope.scope_dir):
        os.chmod(folder, 0o700)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o600)
    assert "nothing in it open to others" in scope.run("doctor").stdout


def test_a_room_opened_inside_a_session_decides_nothing(scope, monkeypatch):
    from tests.test_tui import quiet, run, until

    project = Project(scope.scope_dir)
    pid = pending_patch(scope)
    monkeypatch.setenv("SCOPE_SESSION_ID", "1")  # e.g. `scope serve` or `scope` started by a model
    app = quiet(project)

    async def body(pilot):
        log = app.query_one("#patch")
        await until(pilot, lambda: "NEVER start a task" in "\n".join(s.text for s in log.lines))
        await pilot.press("a")
        await until(pilot, lambda: any(PERSON_ONLY in n.message for n in app._notifications), what="refusal")

    run(app, body)
    assert patches.load_patch(project, pid)["status"] == "pending"
