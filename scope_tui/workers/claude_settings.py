"""What a Claude Code session of Scope starts with: its own --settings file, its system prompt, its env.

Nothing here writes outside the session folder: the user's own ~/.claude stays untouched.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from scope_tui.store import config, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.project import Project

SETTINGS = "claude-settings.json"
SYSTEM_PROMPT = "claude-system-prompt.md"
HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "Notification")
# Tool events take a matcher (the tool name); "*" is every tool.
_MATCHED = ("PreToolUse", "PostToolUse")

# [claude] in .scope/config.toml; a person may override any of these.
DEFAULTS: dict[str, Any] = {
    "bin": "claude",  # the Claude Code executable (name on PATH, or a path)
    "keep_open": False,  # leave claude running in its window after the task is done
    "allow": [],  # extra permission rules, e.g. ["Bash(pytest:*)"]
    "ready_timeout": 60.0,  # seconds to wait for Claude Code to take input before saying why not
    "deliver_timeout": 8.0,  # seconds to wait for a pasted task to be submitted before pressing Enter again
}
BASE_ALLOW = ("Bash(scope:*)", "Read", "Grep", "Glob", "LS", "Edit", "MultiEdit", "Write", "TodoWrite")
HIDDEN_ENV = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}


def options(project: Project) -> dict[str, Any]:
    """The [claude] settings of the project over the defaults (a broken config.toml gives the defaults)."""
    try:
        cfg = config.load(project.config_path).get("claude") or {}
    except Exception:
        cfg = {}
    return {**DEFAULTS, **(cfg if isinstance(cfg, dict) else {})}


def scope_cmd() -> str:
    """How a shell inside the session calls Scope: `scope` when a `scope` is reachable there."""
    if (Path(sys.executable).parent / "scope").exists() or shutil.which("scope"):
        return "scope"  # env() puts this interpreter's bin folder first on PATH
    return f"{shlex.quote(sys.executable)} -m scope_tui"


def hook_command(event: str, session_dir: Path) -> str:
    return f"{shlex.quote(sys.executable)} -m scope_tui hook {event} --session-dir {shlex.quote(str(session_dir))}"


def settings(session_dir: Path, allow: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The --settings content: permissions this session needs, and hooks that call `scope hook <event>`."""
    rules = [*BASE_ALLOW, *allow]
    if scope_cmd() != "scope":
        rules.append(f"Bash({sys.executable} -m scope_tui:*)")
    hooks: dict[str, Any] = {}
    for ev in HOOK_EVENTS:
        entry: dict[str, Any] = {
            "hooks": [{"type": "command", "command": hook_command(ev, session_dir), "timeout": 60}]
        }
        if ev in _MATCHED:
            entry["matcher"] = "*"
        hooks[ev] = [entry]
    # defaultMode stays "default": bypass mode is refused as root and would skip the person's say.
    return {
        "permissions": {"allow": rules, "deny": deny_rules(session_dir), "defaultMode": "default"},
        "hooks": hooks,
    }


def deny_rules(session_dir: Path) -> list[str]:
    """What Claude Code may never do, whatever `allow` says (deny wins): write what no session may write
    (substrate/guard.py `protected`), or read a session's secret. `Edit` rules cover every file-writing
    tool; `//` starts an absolute path. Which shell commands a session may start through Scope is checked
    by Scope itself (guard.check_spawn): prefix rules cannot be narrowed safely."""
    from scope_tui.substrate.guard import protected

    scope_dir = Path(session_dir).resolve().parent.parent
    files, folders = protected(str(scope_dir))

    def absolute(p: str) -> str:
        return "//" + p.lstrip("/")

    return (
        [f"Edit({absolute(f)})" for f in files]
        + [f"Edit({absolute(f)}/**)" for f in folders]
        + [f"Read({absolute(str(scope_dir / 'sessions' / '*' / sessions.TOKEN))})"]
    )


def write_settings(session_dir: Path, allow: list[str] | tuple[str, ...] = ()) -> Path:
    path = session_dir / SETTINGS
    write_json(path, settings(session_dir, allow))
    return path


def _skill_text(project: Project, s: sessions.Session) -> str:
    name = s.meta.get("skill")
    if not name:
        return ""
    try:
        from scope_tui.patterns import skill_files

        sk = skill_files.load(
            project, str(name), agent_skill_root=s.meta.get("skill_root")
        )  # an agent's own skill
    except Exception as exc:  # an unreadable skill must not stop the session; say so in its prompt
        return f"(Scope could not load the skill {name!r}: {exc})"
    return f"# Skill: {sk.ref}\n\n{sk.body.strip()}"


def instructions(project: Project, s: sessions.Session) -> str:
    """Scope's own instructions: who this session is and how it spawns, waits on and polls children."""
    sc = scope_cmd()
    return f"""# Scope
You run as Scope session {s.id} ({s.level} level) of the project at {project.home}.
SCOPE_DIR and SCOPE_SESSION_ID are set in your environment, so Scope commands you run act for this session.
- Split off work: `{sc} spawn "TASK"` starts a child session and prints its id at once
  (options: --driver claude|builtin, --skill NAME, --worktree for a git worktree of its own).
- Wait for children: `{sc} wait ID [ID ...] --timeout 100` (exit 0 all done, 1 one failed, 3 timed out: wait again).
- Check without waiting: `{sc} poll ID` (or `{sc} poll --all`); a child's answer is in
  {project.sessions}/ID/result.md.
- When the task is finished, end your turn with the final answer as your last message: Scope records it as
  this session's result. Do not end your turn while children you need are still running.
- If you cannot go on without the person, ask one clear question ending with '?' and end your turn.
  Scope reads a turn that ends with '?' as such a question, so do not end a finished answer with one."""


def system_prompt(project: Project, s: sessions.Session) -> str:
    """What goes in through --append-system-prompt-file: the skill, the session's prompt.md, Scope's
    instructions."""
    parts = [_skill_text(project, s)]
    try:
        parts.append((s.dir / sessions.PROMPT).read_text().strip())
    except FileNotFoundError:
        pass
    parts.append(instructions(project, s))
    return "\n\n".join(p for p in parts if p)


def env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Claude's environment: the window's, quiet (no autoupdater, no nonessential traffic), Scope on PATH."""
    out = dict(os.environ if base is None else base)
    out.update(HIDDEN_ENV)
    bindir = str(Path(sys.executable).parent)
    if (Path(bindir) / "scope").exists():
        parts = out.get("PATH", "").split(os.pathsep)
        if bindir not in parts:
            out["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p]])
    return out


def write_system_prompt(session_dir: Path, text: str) -> Path:
    """The appended system prompt as a file of the session (readable with cat; no argv length limit)."""
    path = session_dir / SYSTEM_PROMPT
    write_text(path, text)
    return path


def argv(exe: str, settings_path: Path, prompt_path: Path, model: str | None) -> list[str]:
    args = [exe, "--settings", str(settings_path), "--append-system-prompt-file", str(prompt_path)]
    if model and model != "offline":
        args += ["--model", model]
    return args
