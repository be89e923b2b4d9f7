"""What a Claude Code session of Scope starts with: its own --settings file, its system prompt, its env.

Nothing here writes outside the session folder: the user's own ~/.claude stays untouched.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from scope_tui.store import config, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.project import Project
from scope_tui.workers import agent_cli
from scope_tui.workers.agent_cli import (  # noqa: F401  (shared by every agent CLI; named here as before)
    hook_command,
    instructions,
    scope_cmd,
    system_prompt,
)

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


def env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Claude's environment: the window's, quiet (no autoupdater, no nonessential traffic), Scope on PATH."""
    return agent_cli.env(base, HIDDEN_ENV)


def write_system_prompt(session_dir: Path, text: str) -> Path:
    """The appended system prompt as a file of the session (readable with cat; no argv length limit)."""
    path = session_dir / SYSTEM_PROMPT
    write_text(path, text)
    return path


def argv(exe: str, settings_path: Path, prompt_path: Path, model: str | None) -> list[str]:
    args = [exe, "--settings", str(settings_path), "--append-system-prompt-file", str(prompt_path)]
    name = agent_cli.model_name(model or "")  # `anthropic:claude-x` is claude-x; offline is claude's own
    if name:
        args += ["--model", name]
    return args
