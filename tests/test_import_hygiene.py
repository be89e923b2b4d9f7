"""Import hygiene of the start-up kernel: the processes that start by the hundred import only what they need.

The kernel is what these entry points import: `scope spawn`, `scope hook` (every tool call of every
Claude Code session), a window's worker (started as the window starts it: `python -P -S -c WORKER_CODE`)
and the reaper (`scope reap`, run when a worker did not settle its session). Each test runs the real
entry point in a fresh interpreter and reads its `sys.modules` at exit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scope_tui.store.project import Project

# Never in the kernel: the faces, the SDKs, parsers the kernel has no use for
HEAVY = {"textual", "rich", "anthropic", "openai", "httpx", "yaml", "libtmux", "tomli_w", "watchfiles"}
# The standard library the kernel keeps out (each costs a short-lived process milliseconds)
LEAN = {
    "json",
    "pathlib",
    "re",
    "shlex",
    "typing",
    "dataclasses",
    "argparse",
    "subprocess",
    "enum",
    "hashlib",
}
# Layers a plain command session never needs
UPPER = ("scope_tui.agents", "scope_tui.gepa", "scope_tui.patterns", "scope_tui.models", "scope_tui.ooda")

DUMP = (
    "\nexcept SystemExit:\n    pass\nfinally:\n    open(sys.argv[-1], 'w').write('\\n'.join(sys.modules))\n"
)


def imported(tmp: Path, body: str, env: dict[str, str], *flags: str, stdin: bytes = b"", args=()) -> set[str]:
    """The modules a fresh interpreter holds after `body` (the entry point) ran."""
    out = tmp / f"modules-{len(list(tmp.glob('modules-*')))}.txt"
    code = "import sys\ntry:\n" + "\n".join("    " + ln for ln in body.splitlines()) + DUMP
    proc = subprocess.run(
        [sys.executable, *flags, "-c", code, *args, str(out)], env=env, input=stdin, capture_output=True
    )
    assert out.exists(), proc.stderr.decode()
    return set(out.read_text().split("\n"))


def scope_layers(mods: set[str]) -> set[str]:
    return {m for m in mods if m.startswith(UPPER) or m.startswith("scope_tui.tui")}


def test_scope_spawn_imports_only_the_kernel(scope, tmp_path):
    mods = imported(
        tmp_path, 'from scope_tui.cli import main\nmain(["spawn", "--cmd", "true", "t"])', scope.environ()
    )
    assert (scope.scope_dir / "sessions" / "1").is_dir(), "the spawn ran"
    assert not mods & (HEAVY | LEAN), sorted(mods & (HEAVY | LEAN))
    assert not scope_layers(mods), sorted(scope_layers(mods))


def test_a_windows_worker_imports_only_the_kernel(scope, tmp_path):
    from scope_tui.substrate.server import FIND_SCOPE, PACKAGE_ROOT
    from scope_tui.substrate.spawn import spawn

    s = spawn(Project(scope.scope_dir), "t", cmd="true", launch_now=False)  # the worker is run below
    body = FIND_SCOPE.replace("sys.argv[1]", repr(PACKAGE_ROOT)) + "\nimport scope_tui.__main__ as scope\n"
    body += f"scope.worker([{str(s.dir)!r}])"
    mods = imported(tmp_path, body, scope.environ(), "-P", "-S")
    assert json.loads((s.dir / "state.json").read_text())["status"] == "done", "the worker ran"
    # it reads config.toml (is the sandbox asked for?): tomllib brings re, store/config pathlib
    lean = LEAN - {"re", "pathlib", "typing", "enum"}
    assert not mods & (HEAVY | lean), sorted(mods & (HEAVY | lean))
    assert not scope_layers(mods), sorted(scope_layers(mods))


def _ended_session(scope) -> Path:
    out = scope.run("spawn", "--cmd", "true", "t")
    sid = out.stdout.strip()
    scope.run("wait", "--timeout", "30", sid)
    return scope.scope_dir / "sessions" / sid


def test_scope_hook_has_no_parser_no_sdk_and_no_upper_layer(scope, tmp_path):
    d = _ended_session(scope)
    env = scope.environ({"SCOPE_SESSION_TOKEN": (d / "token").read_text().strip()})
    payload = json.dumps({"tool_name": "Read", "tool_input": {"file_path": "x"}, "tool_response": "ok"})
    body = f'from scope_tui.cli import main\nmain(["hook", "PostToolUse", "--session-dir", {str(d)!r}])'
    mods = imported(tmp_path, body, env, stdin=payload.encode())
    assert '"tool_result"' in (d / "events.jsonl").read_text(), "the hook ran"
    assert not mods & (HEAVY | {"argparse", "subprocess"}), sorted(mods & HEAVY)
    assert not scope_layers(mods), sorted(scope_layers(mods))


def test_the_reaper_imports_no_sdk_and_no_agent_layer_for_a_session_without_agent(scope, tmp_path):
    d = _ended_session(scope)
    body = f'from scope_tui.cli import main\nmain(["reap", {str(scope.scope_dir)!r}, {d.name!r}, "1"])'
    mods = imported(tmp_path, body, scope.environ())
    assert not mods & HEAVY, sorted(mods & HEAVY)
    assert not scope_layers(mods), sorted(scope_layers(mods))
