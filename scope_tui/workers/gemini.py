"""The Gemini CLI driver: interactive `gemini` in the session's window, supervised by agent_cli.CliRun.

Gemini is started with `GEMINI_CLI_HOME=sessions/<id>/gemini-home` (its home of its own: the person's
`~/.gemini` is never read for settings nor written), holding `.gemini/settings.json` (API-key auth,
the model, no update checks, and hooks that call `scope hook EVENT`) and `.gemini/GEMINI.md` (the
skill, prompt.md and Scope's instructions, read as global context). The person's OAuth login
(`~/.gemini/oauth_creds.json`) is copied in only when no `GEMINI_API_KEY` is set, and removed at the end.

Its hooks have their own names and shapes; `to_claude` / `from_claude` translate them to the protocol
workers/claude_hooks.py handles: BeforeAgent -> UserPromptSubmit, BeforeTool -> PreToolUse (its tool
names to Claude's, so the skill's rules read them alike; a denial is `{"decision": "deny"}`),
AfterTool -> PostToolUse, AfterAgent -> Stop (`prompt_response` is the turn's text), Notification
(ToolPermission) -> needs_input.

Known traps (0.61.0): `GEMINI_CLI_SYSTEM_SETTINGS_PATH` is read only when the file and every folder
above it are root's and not group- or world-writable (so not for a person's session, nor under /tmp);
hooks run only in a trusted folder, so the folder is trusted for the session
(`GEMINI_CLI_TRUST_WORKSPACE=true`, never by writing trustedFolders.json) and a project that brings its
own `.gemini` hooks is refused; with the model on "Auto" every prompt first goes to a router model, so
the model is named; `GOOGLE_GEMINI_BASE_URL` takes plain http only for localhost.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from scope_tui.store import config, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.project import Project
from scope_tui.workers import agent_cli
from scope_tui.workers.agent_cli import CliRun

HOME = "gemini-home"
KEY_VAR = "GEMINI_API_KEY"
HOOK_EVENTS = ("SessionStart", "BeforeAgent", "BeforeTool", "AfterTool", "AfterAgent", "Notification")
_MATCHED = ("BeforeTool", "AfterTool")
DEFAULTS: dict[str, Any] = {
    "bin": "gemini",
    "base_url": "",  # GOOGLE_GEMINI_BASE_URL: a Gemini API server (plain http only on localhost)
    "model": "gemini-2.5-flash",  # named: "Auto" sends every prompt to a router model first
    "keep_open": False,
    "ready_timeout": 90.0,
    "deliver_timeout": 8.0,
}
# Gemini CLI's hook events -> the Claude Code names claude_hooks handles; its tools -> Claude's
EVENTS = {
    "SessionStart": "SessionStart",
    "BeforeAgent": "UserPromptSubmit",
    "BeforeTool": "PreToolUse",
    "AfterTool": "PostToolUse",
    "AfterAgent": "Stop",
    "Notification": "Notification",
}
TOOLS = {
    "run_shell_command": "Bash",
    "read_file": "Read",
    "read_many_files": "Read",
    "list_directory": "LS",
    "glob": "Glob",
    "search_file_content": "Grep",
    "grep_search": "Grep",
    "write_file": "Write",
    "replace": "Edit",
}


class GeminiRun(CliRun):
    CLI = "gemini"
    TITLE = "Gemini CLI"
    FIRST_USE = {
        "Do you trust the files in this folder": "choose 'Trust folder'",
        "Get started": "choose how to authenticate (or set GEMINI_API_KEY), then restart",
        "How would you like to authenticate": "choose how to authenticate (or set GEMINI_API_KEY)",
    }
    CHOICE = "(Use Enter to select"
    READY = ("Type your message",)
    KEY_VARS = (KEY_VAR, "GOOGLE_API_KEY")
    READY_ALONE_S = 2.0  # its input box shows before it is wired up ("Initializing...": queued)


def options(project: Project) -> dict[str, Any]:
    try:
        cfg = config.load(project.config_path).get("gemini") or {}
    except Exception:
        cfg = {}
    return {**DEFAULTS, **(cfg if isinstance(cfg, dict) else {})}


def to_claude(event: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A Gemini CLI hook as the Claude Code hook claude_hooks handles."""
    p = dict(payload)
    if p.get("tool_name"):
        p["tool_name"] = TOOLS.get(str(p["tool_name"]), str(p["tool_name"]))
    tin = p.get("tool_input")
    if isinstance(tin, dict) and "file_path" not in tin and tin.get("absolute_path"):
        p["tool_input"] = {**tin, "file_path": tin["absolute_path"]}
    if event == "AfterAgent":
        p["last_assistant_message"] = p.get("prompt_response") or ""
    if event == "Notification":
        p.setdefault("notification_type", p.get("notification_type") or "")
    return EVENTS.get(event, event), p


def from_claude(event: str, out: dict[str, Any] | None) -> dict[str, Any] | None:
    """claude_hooks' answer in Gemini CLI's shape: a denied tool call, a turn sent back to work."""
    if not out:
        return None
    spec = out.get("hookSpecificOutput") or {}
    if spec.get("permissionDecision") == "deny":
        return {"decision": "deny", "reason": spec.get("permissionDecisionReason") or ""}
    if out.get("decision") == "block":
        return {"decision": "deny", "reason": out.get("reason") or ""}
    return out


def project_hooks(cwd: Path) -> Path | None:
    """The project's own Gemini settings with hooks, if any (they would run unreviewed under Scope)."""
    for base in [cwd, *cwd.parents]:
        f = base / ".gemini" / "settings.json"
        try:
            if "hooks" in json.loads(f.read_text()):
                return f
        except (OSError, ValueError, TypeError):
            pass
        if (base / ".git").exists():
            break
    return None


def settings(session_dir: Path, opts: dict[str, Any], model: str | None) -> dict[str, Any]:
    hooks: dict[str, Any] = {}
    for ev in HOOK_EVENTS:
        cmd = agent_cli.hook_command(ev, session_dir)
        entry: dict[str, Any] = {"hooks": [{"type": "command", "command": cmd, "name": f"scope-{ev}"}]}
        if ev in _MATCHED:
            entry["matcher"] = "*"
        hooks[ev] = [entry]
    auth = "gemini-api-key" if os.environ.get(KEY_VAR) else "oauth-personal"
    return {
        "security": {"auth": {"selectedType": auth}},
        "model": {"name": model or str(opts["model"])},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "ui": {"theme": "Default"},
        "hooksConfig": {"enabled": True},
        "hooks": hooks,
    }


def write_home(project: Project, s: sessions.Session, opts: dict[str, Any]) -> Path:
    home = s.dir / HOME
    dot = home / ".gemini"
    dot.mkdir(parents=True, mode=0o700, exist_ok=True)
    write_json(
        dot / "settings.json", settings(s.dir, opts, agent_cli.model_name(str(s.meta.get("model") or "")))
    )
    write_text(dot / "GEMINI.md", agent_cli.system_prompt(project, s))
    login = Path.home() / ".gemini" / "oauth_creds.json"
    if not os.environ.get(KEY_VAR) and login.is_file():
        shutil.copyfile(login, dot / "oauth_creds.json")  # a copy: never written back into the person's
        os.chmod(dot / "oauth_creds.json", 0o600)
    return home


def usage(transcript: str | None) -> dict[str, Any] | None:
    """Tokens so far from a Gemini CLI chat log (JSONL): each message's latest `tokens`, summed."""
    if not transcript:
        return None
    seen: dict[str, dict[str, Any]] = {}
    model = None

    def walk(x: Any) -> None:
        nonlocal model
        if isinstance(x, dict):
            if isinstance(x.get("tokens"), dict) and x.get("id"):
                seen[str(x["id"])] = x["tokens"]
                model = x.get("model") or model
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    try:
        with open(transcript, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    walk(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        return None
    if not seen:
        return None
    return {
        "input": sum(int(t.get("input") or 0) for t in seen.values()),
        "output": sum(int(t.get("output") or 0) for t in seen.values()),
        "model": model,
    }


def run(s: sessions.Session) -> int:
    """Run Gemini CLI for session `s` (as the worker read it) until it exits; the worker's exit code."""
    d = s.dir
    project = s.project
    opts = options(project)
    started = agent_cli.prepare(s, "gemini", str(opts["bin"]), "npm install -g @google/gemini-cli")
    if isinstance(started, int):
        return started
    exe, cwd = started
    theirs = project_hooks(Path(cwd))
    if theirs is not None:
        why = (
            f"this project has Gemini CLI hooks of its own ({theirs}): Scope trusts the folder for its "
            "own hooks, and will not run a project's unreviewed ones; move them aside or use another driver"
        )
        return agent_cli.fail_start(d, "gemini", why, 2)
    home = write_home(project, s, opts)
    env = agent_cli.env(None, {"GEMINI_CLI_TRUST_WORKSPACE": "true", "NO_BROWSER": "true"})
    env["GEMINI_CLI_HOME"] = str(home)
    if opts.get("base_url"):
        env["GOOGLE_GEMINI_BASE_URL"] = str(opts["base_url"])
    try:
        return agent_cli.launch(GeminiRun, s, [exe], env, cwd, opts, home=str(home))
    finally:
        (home / ".gemini" / "oauth_creds.json").unlink(missing_ok=True)
