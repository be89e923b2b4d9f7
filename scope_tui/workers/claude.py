"""The Claude Code driver: interactive `claude` in the session's window, supervised by this process.

The supervision loop is agent_cli.CliRun's (shared by every agent CLI driver); what is Claude's is here:
its first-use questions (onboarding, API key, trust: `needs_input` while one is on the screen), its input
box, the pane log paused while it shows part of the API key, and how it is started (claude_settings).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from scope_tui.store import events, sessions
from scope_tui.workers import agent_cli
from scope_tui.workers import claude_settings as cs
from scope_tui.workers.agent_cli import (  # noqa: F401  (HOOKLESS_S, time: the driver's tests tune them)
    HOOKLESS_S,
    CliRun,
    Typing,
    _pipe,
    _say,
    finish,
    resolve_bin,
    time,
)
from scope_tui.workers.process import die_with_parent

# Text Claude Code shows before it will take a prompt, on first use or in a new folder, and what the
# person does about it. Versions order and number the choices differently (2.1.332 lists "No, exit"
# first, as the default, and numbers none), so the advice names the choice, never a key.
_TRUST = "choose 'Yes, I trust this folder' (Enter alone may pick 'No, exit')"
_KEY = "choose 'Yes' to use ANTHROPIC_API_KEY"
_SETUP = "finish Claude Code's first-run setup"
FIRST_USE: dict[str, str] = {
    "Do you trust the files in this folder": _TRUST,
    "trust this folder": _TRUST,
    "Is this a project you": _TRUST,
    "Detected a custom API key": _KEY,
    "Do you want to use this API key": _KEY,
    "Invalid API key": "set a valid ANTHROPIC_API_KEY and restart the session",
    "Choose the text style": _SETUP,
    "Select login method": _SETUP,
    "Press Enter to continue": _SETUP,
    "Security notes": _SETUP,
    "Browser didn't open": _SETUP,
}
# Any other choice Claude Code puts up before it takes input (a question newer than this list):
# still a question for the person, never a prompt to type the task into.
CHOICE = "Enter to confirm"
READY = ("? for shortcuts", "\u276f ")  # the input box's hint line, the prompt mark


class ClaudeRun(CliRun):
    """Claude Code in its window: its first-use questions, its input box, its SessionStart event."""

    CLI = "claude"
    TITLE = "Claude Code"
    FIRST_USE = FIRST_USE
    CHOICE = CHOICE
    READY = READY
    START_EVENT = "claude_session"
    KEY_VARS = ("ANTHROPIC_API_KEY",)


def key_would_be_shown(env: dict[str, str]) -> bool:
    """True when Claude Code will ask about ANTHROPIC_API_KEY, showing part of it on the screen: the key's
    tail is neither approved nor rejected in ~/.claude.json (read, never written)."""
    key = env.get("ANTHROPIC_API_KEY") or ""
    if not key:
        return False
    try:
        cfg = json.loads((Path(env.get("HOME") or "~").expanduser() / ".claude.json").read_text())
        resp = cfg.get("customApiKeyResponses") or {}
        known = [*(resp.get("approved") or []), *(resp.get("rejected") or [])]
    except (OSError, ValueError, AttributeError):
        return True
    return key[-20:] not in known


def run(s: sessions.Session) -> int:
    """Run Claude Code for session `s` (as the worker read it) until it exits; the worker's exit code."""
    d = s.dir
    project = s.project
    opts = cs.options(project)
    started = agent_cli.prepare(s, "claude", str(opts["bin"]), "npm install -g @anthropic-ai/claude-code")
    if isinstance(started, int):
        return started
    exe, cwd = started
    settings_path = cs.write_settings(d, list(opts.get("allow") or []))
    prompt_path = cs.write_system_prompt(d, cs.system_prompt(project, s))
    argv = cs.argv(exe, settings_path, prompt_path, s.meta.get("model"))
    resumed = s.meta.get("claude_resume")  # substrate/resume.py: a lost session's conversation goes on
    if resumed:
        argv += ["--resume", str(resumed)]
    sessions.set_status(d, "running", reason="starting Claude Code")
    sessions.set_phase(d, "observe", "starting Claude Code")
    # A Python handler (not SIG_IGN) is reset to the default at exec: Ctrl-C reaches claude, not us.
    signal.signal(signal.SIGINT, lambda *_: None)
    env = cs.env()
    sup_pane = os.environ.get("TMUX_PANE") or ""
    paused = bool(sup_pane) and key_would_be_shown(env) and _pipe(project, sup_pane, None)
    if paused:  # Claude Code is about to show part of the API key: keep it out of pane.log
        events.append(d, "pane_log_paused", why="Claude Code asks about the API key, showing part of it")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, preexec_fn=die_with_parent(signal.SIGTERM))
    events.append(d, "claude_started", pid=proc.pid, bin=exe, cwd=cwd, settings=str(settings_path))
    sup = ClaudeRun(s, proc, opts)
    if resumed:  # the task is in the conversation already: what is typed in is the word to go on
        from scope_tui.substrate.resume import CONTINUE

        sup.task = CONTINUE.format(new=s.id)
        events.append(d, "claude_resumed", claude_session_id=str(resumed))
    sup.log_paused = paused
    code = sup.run()
    if sup.log_paused:
        _pipe(project, sup.pane, d / sessions.PANE_LOG)
    rc = finish(d, code, "" if sup.ending else sup.last_words(), "claude")
    st = sessions.load_dir(d)
    sid = st.state.get("claude_session")
    how = "ended by Scope" if sup.ending else f"exited {code}"
    _say(f"[claude {how}; session {st.id} {st.status}]")
    if sid:
        _say(f"continue this conversation: cd {cwd} && claude --resume {sid}")
    sys.stdout.flush()
    return rc
