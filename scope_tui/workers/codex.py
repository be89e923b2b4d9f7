"""The Codex CLI driver: interactive `codex` in the session's window, supervised by agent_cli.CliRun.

Codex is started with a `CODEX_HOME` of the session's own (`sessions/<id>/codex-home/`), never the
person's `~/.codex`, holding:

- `config.toml`: the model and its provider, the approval policy and sandbox, and this folder marked
  trusted (Codex otherwise asks before it takes input). A `[codex] base_url` (trust-gated) or an
  `OPENAI_API_KEY` goes in as a custom `[model_providers.scope]` with `env_key` and
  `wire_api = "responses"`: the built-in `openai` provider insists on a login. With neither, the
  person's own login (`auth.json`) is copied in, read only from their CODEX_HOME, never written.
- `hooks.json`: SessionStart, UserPromptSubmit, PreToolUse, PermissionRequest, PostToolUse and Stop
  call `scope hook EVENT` (workers/claude_hooks.py: Codex speaks Claude Code's hook protocol). Hooks
  run only once trusted; these are Scope's own, so Codex is started with
  `--dangerously-bypass-hook-trust`, and a project that brings hooks of its own (`.codex/hooks.json`
  or `[hooks]` in `.codex/config.toml`) is refused rather than have them run unreviewed.
- `AGENTS.md`: the skill, prompt.md (a persistent agent's identity and memory) and Scope's instructions;
  Codex reads it as the person's global instructions.

Known traps (0.169.0): Esc interrupts a turn without firing Stop (openai/codex#22858), so a session
stays `running` until the next hook; `approval_policy = "untrusted"` is refused; approval prompts fire
PermissionRequest (`needs_input` until the person answers in the window); SessionStart fires with the
first prompt, not at start; Codex makes no sandbox helper when CODEX_HOME is inside the temp dir (so a
project under /tmp gets a TMPDIR of its own, or every sandboxed command fails).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from scope_tui.store import config, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.project import Project
from scope_tui.workers import agent_cli
from scope_tui.workers.agent_cli import CliRun

HOME = "codex-home"
HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop")
_MATCHED = ("PreToolUse", "PermissionRequest", "PostToolUse")
KEY_VAR = "OPENAI_API_KEY"
# [codex] in .scope/config.toml; `bin` and `base_url` apply only to a trusted project (store/drivers.py)
DEFAULTS: dict[str, Any] = {
    "bin": "codex",
    "base_url": "",  # a Responses API server; empty: api.openai.com with OPENAI_API_KEY, else the login
    "model": "",  # empty: Codex's own default (or spawn --model)
    "approval": "on-request",  # Codex asks the person before an escalated command: needs_input
    "sandbox": "workspace-write",
    "keep_open": False,
    "ready_timeout": 60.0,
    "deliver_timeout": 8.0,
}
QUIET_ENV = {"CODEX_DISABLE_UPDATE_CHECK": "1"}


class CodexRun(CliRun):
    CLI = "codex"
    TITLE = "Codex CLI"
    FIRST_USE = {
        "Trust this folder?": "choose 'Trust and continue'",
        "Sign in with ChatGPT": "log in (codex login in your own shell) or set OPENAI_API_KEY, then restart",
        "Welcome to Codex": "finish Codex's first-run setup",
    }
    CHOICE = "Press enter to confirm"
    READY = ("? for shortcuts", "Ask Codex to do anything")
    KEY_VARS = (KEY_VAR, "CODEX_API_KEY")
    READY_ALONE_S = 1.0  # Codex fires SessionStart with the first prompt, not when its input box shows


def options(project: Project) -> dict[str, Any]:
    try:
        cfg = config.load(project.config_path).get("codex") or {}
    except Exception:
        cfg = {}
    return {**DEFAULTS, **(cfg if isinstance(cfg, dict) else {})}


def project_hooks(cwd: Path) -> Path | None:
    """The project's own Codex hooks file, if it has one (they would run unreviewed under Scope)."""
    for base in [cwd, *cwd.parents]:
        layer = base / ".codex"
        if (layer / "hooks.json").is_file():
            return layer / "hooks.json"
        try:
            if "[hooks" in (layer / "config.toml").read_text():
                return layer / "config.toml"
        except OSError:
            pass
        if (base / ".git").exists():
            break
    return None


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def codex_config(opts: dict[str, Any], cwd: str, model: str | None) -> str:
    lines = [
        f"approval_policy = {_toml_str(str(opts['approval']))}",
        f"sandbox_mode = {_toml_str(str(opts['sandbox']))}",
        "check_for_update_on_startup = false",
    ]
    if model:
        lines.insert(0, f"model = {_toml_str(model)}")
    base_url = str(opts.get("base_url") or "")
    if base_url or os.environ.get(KEY_VAR):
        lines.insert(0, 'model_provider = "scope"')
        lines += [
            "",
            "[model_providers.scope]",
            'name = "Scope (OpenAI Responses API)"',
            f"base_url = {_toml_str(base_url or 'https://api.openai.com/v1')}",
            f"env_key = {_toml_str(KEY_VAR)}",
            'wire_api = "responses"',
        ]
    lines += ["", f"[projects.{_toml_str(cwd)}]", 'trust_level = "trusted"', ""]
    return "\n".join(lines)


def hooks(session_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ev in HOOK_EVENTS:
        entry: dict[str, Any] = {
            "hooks": [{"type": "command", "command": agent_cli.hook_command(ev, session_dir), "timeout": 60}]
        }
        if ev in _MATCHED:
            entry["matcher"] = "*"
        out[ev] = [entry]
    return {"hooks": out}


def person_home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


def write_home(project: Project, s: sessions.Session, opts: dict[str, Any], cwd: str) -> Path:
    """The session's CODEX_HOME: config, hooks, instructions; the person's login copied only if needed."""
    home = s.dir / HOME
    home.mkdir(mode=0o700, exist_ok=True)
    model = agent_cli.model_name(str(s.meta.get("model") or opts.get("model") or ""))
    write_text(home / "config.toml", codex_config(opts, cwd, model))
    write_json(home / "hooks.json", hooks(s.dir))
    write_text(home / "AGENTS.md", agent_cli.system_prompt(project, s))
    login = person_home() / "auth.json"
    if not opts.get("base_url") and not os.environ.get(KEY_VAR) and login.is_file():
        shutil.copyfile(login, home / "auth.json")  # a copy: Codex may refresh it, never in the person's
        os.chmod(home / "auth.json", 0o600)
    return home


def argv(exe: str, cwd: str) -> list[str]:
    return [exe, "--no-daemon", "--dangerously-bypass-hook-trust", "-C", cwd]


def usage(rollout: str | None) -> dict[str, Any] | None:
    """Tokens so far from a Codex rollout (its transcript): the last token_count's running total."""
    if not rollout:
        return None
    total: dict[str, Any] | None = None
    model = None
    try:
        with open(rollout, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                p = rec.get("payload") if isinstance(rec, dict) else None
                if not isinstance(p, dict):
                    continue
                if rec.get("type") == "turn_context" and p.get("model"):
                    model = p["model"]
                if p.get("type") == "token_count" and isinstance(p.get("info"), dict):
                    total = p["info"].get("total_token_usage") or total
    except OSError:
        return None
    if not total:
        return None
    return {
        "input": int(total.get("input_tokens") or 0),
        "output": int(total.get("output_tokens") or 0),
        "model": model,
    }


def _under(path: Path, folder: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def run(s: sessions.Session) -> int:
    """Run Codex CLI for session `s` (as the worker read it) until it exits; the worker's exit code."""
    d = s.dir
    project = s.project
    opts = options(project)
    started = agent_cli.prepare(s, "codex", str(opts["bin"]), "npm install -g @openai/codex")
    if isinstance(started, int):
        return started
    exe, cwd = started
    theirs = project_hooks(Path(cwd))
    if theirs is not None:
        return agent_cli.fail_start(
            d,
            "codex",
            f"this project has Codex hooks of its own ({theirs}): Scope runs Codex with its own hooks "
            "trusted, and will not run a project's unreviewed ones; move them aside or use another driver",
            2,
        )
    home = write_home(project, s, opts, cwd)
    env = agent_cli.env(None, QUIET_ENV)
    env["CODEX_HOME"] = str(home)
    if _under(home, tempfile.gettempdir()):
        # Codex will not make its sandbox helper (codex-linux-sandbox) inside the temp dir, and every
        # sandboxed command then fails: a project under /tmp (scope demo's) gets a temp dir of its own
        tmp = d / "codex-tmp"
        tmp.mkdir(mode=0o700, exist_ok=True)
        env["TMPDIR"] = str(tmp)
    try:
        return agent_cli.launch(CodexRun, s, argv(exe, cwd), env, cwd, opts, home=str(home))
    finally:
        (home / "auth.json").unlink(missing_ok=True)  # the person's login copy lives no longer than codex
