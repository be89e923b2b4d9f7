"""The Claude Code driver: interactive `claude` in the session's window, supervised by this process.

The worker starts claude as its child on the pane's terminal (so a person can attach and type), with a
--settings file of the session's own whose hooks call `scope hook <event>` (workers/claude_hooks.py):
the hooks write state and events, this process only

- waits until Claude Code takes input (the SessionStart hook, or its prompt on the screen) and says
  `needs_input` when a first-use question (onboarding, API key, trust) is on the screen instead;
- pastes the task and confirms it was taken (the UserPromptSubmit hook), retrying once;
- wakes claude when the children it stopped to wait for have all finished;
- ends claude once the session is terminal (unless [claude] keep_open), and when claude exits on
  its own, writes the status the hooks could not: a crash or an early exit is `failed` with why.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from scope_tui.workers import claude_settings as cs
from scope_tui.workers.process import die_with_parent

POLL_S = 0.2
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
CHILDREN_DONE = "finished"
HOOKLESS_S = 20.0  # paste on the prompt alone when no SessionStart came in this long
ENTER_AFTER_S = 2.0  # send Enter this long after the paste even if it does not show


@dataclass
class Typing:
    """One text on its way into claude's input box."""

    kind: str  # "task", "children", or the inbox message's kind
    text: str
    pasted_at: float | None = None
    entered_at: float | None = None
    retries: int = 0


def _say(text: str) -> None:
    print(f"\x1b[2m{text}\x1b[0m", flush=True)


class ClaudeRun:
    """Everything the worker does while claude runs; `step()` once per tick, no blocking calls."""

    def __init__(
        self, project: Project, d: Path, proc: subprocess.Popen[bytes], opts: dict[str, Any]
    ) -> None:
        from scope_tui.substrate.server import tmux_for

        self.project, self.d, self.proc, self.opts = project, d, proc, opts
        self.tmux = tmux_for(project)
        self.pane = os.environ.get("TMUX_PANE") or ""
        self.reader = events.EventReader(d / events.EVENTS)
        self.reader.read_new()  # only what happens from here on counts
        s = sessions.load_dir(d)
        self.sid, self.task = s.id, s.task()
        self.t0 = time.monotonic()
        self.started = False  # SessionStart seen
        self.typing: Typing | None = None  # what is being typed into claude now
        self.queue: list[Typing] = []  # what waits to be typed after it
        self.delivered = False  # the task itself was submitted
        self.asked = False  # said needs_input for a first-use screen
        self.asked_about: str | None = None  # the first-use question said last
        self.next_look = 0.0
        self.ending = False
        self.log_paused = False
        self.next_kids = 0.0

    # -- screen ---------------------------------------------------------------------------------------
    def screen(self) -> str:
        if not self.pane:
            return ""
        try:
            return self.tmux.capture(self.pane, escapes=False)
        except Exception:
            return ""

    @staticmethod
    def first_use(text: str) -> str | None:
        """The first-use question on the screen (the lowest one: an answered one may linger above), or None."""
        low = text.lower()
        found = [(low.rfind(m.lower()), m) for m in FIRST_USE if m.lower() in low]
        if found:
            return max(found)[1]
        return CHOICE if CHOICE.lower() in low else None

    # -- one tick -------------------------------------------------------------------------------------
    def step(self) -> None:
        for ev in self.reader.read_new():
            kind = ev.get("type")
            if kind == "claude_session":
                self.started = True
                self.next_look = 0.0  # look at once: the prompt is about to show
                if self.log_paused:  # the API key question is answered and off the screen
                    self.log_paused = not _pipe(self.project, self.pane, self.d / sessions.PANE_LOG)
                    if not self.log_paused:
                        events.append(self.d, "pane_log_resumed")
            elif kind == "prompt" and self.typing is not None and self._submitted(self.typing, ev):
                if self.typing.kind == "task":
                    self.delivered = True
                self.typing = None
        now = time.monotonic()
        if not self.delivered:
            if self.typing is not None:
                self._type(now)
            else:
                self._wait_ready(now)
            return
        s = sessions.load_dir(self.d)
        if s.corrupt:
            return
        if s.terminal and not self.opts.get("keep_open") and not self.ending:
            self.ending = True
            self._end_claude()
            return
        waiting = s.status == "waiting" and str(s.state.get("reason") or "").startswith("children running")
        if waiting and now >= self.next_kids:  # reading the children costs a folder scan: once a second
            self.next_kids = now + 1.0
            self._wake_when_children_done(s)
        if self.typing is not None:
            self._type(now, busy=s.status == "running")
            return
        if not self.queue:  # the inbox is read only when there is nothing left to type: what a session
            self._forward_inbox()  # ends with still unread stays in its inbox, not in this memory
        if self.queue:
            self._start_typing(self.queue.pop(0), now)

    def _wait_ready(self, now: float) -> None:
        if now < self.next_look:
            return
        self.next_look = now + (0.3 if self.started else 1.0)
        text = self.screen()
        # SessionStart fires only once those questions are answered; their text may linger above
        blocker = None if self.started else self.first_use(text)
        if blocker:
            if blocker != self.asked_about:  # a new question (the API key after the trust): say which
                self.asked = True
                self.asked_about = blocker
                events.append(self.d, "first_use", screen=blocker)
                todo = FIRST_USE.get(blocker, "answer it")
                sessions.set_status(
                    self.d,
                    "needs_input",
                    reason=f"Claude Code asks a first-use question ({blocker!r}): "
                    f"scope attach {self.sid} and {todo}",
                )
            return
        ready = any(m in text for m in READY)
        # SessionStart is the sign; the prompt alone only when hooks never fire (keystrokes typed
        # before Claude Code's input is wired up are lost)
        if (self.started and (ready or not self.pane)) or (ready and now - self.t0 > HOOKLESS_S):
            s = sessions.load_dir(self.d)
            if s.status == "needs_input":
                sessions.set_status(self.d, "running", reason="Claude Code ready")
            self._start_typing(Typing("task", self.task.rstrip("\n")), now)
            events.append(self.d, "task_pasted", chars=len(self.task))
        elif now - self.t0 > float(self.opts["ready_timeout"]) and not self.asked:
            self.asked = True
            sessions.set_status(
                self.d,
                "needs_input",
                reason="Claude Code has not taken input yet: attach to see what it shows",
            )

    # -- typing: paste, Enter once the paste shows, confirmed by the UserPromptSubmit hook -----------
    def _start_typing(self, t: Typing, now: float) -> None:
        first = t.pasted_at is None
        self.typing = t
        t.pasted_at, t.entered_at = now, None
        if self.pane:
            self.tmux.paste(self.pane, t.text, enter=False)
        if first and t.kind != "task":
            events.append(self.d, "message_pasted", kind=t.kind, chars=len(t.text))

    @staticmethod
    def _submitted(t: Typing, ev: dict[str, Any]) -> bool:
        """Whether a UserPromptSubmit (`ev`) is `t` going in: after its Enter, and its text when the
        event has one (a person typing in the pane, or a message claude had queued, is not `t`)."""
        if t.entered_at is None:
            return False
        said = str(ev.get("text") or "")
        head = next((ln.strip() for ln in t.text.splitlines() if ln.strip()), "")[:20]
        return not said or not head or head in said

    def _type(self, now: float, busy: bool = False) -> None:
        t = self.typing
        assert t is not None and t.pasted_at is not None
        if t.entered_at is None:
            # Enter only once the paste shows, so it cannot arrive inside the paste
            if now - t.pasted_at > ENTER_AFTER_S or self._visible(t.text):
                t.entered_at = now
                if self.pane:
                    self.tmux.send_keys(self.pane, "Enter")
                if busy:  # claude is mid-turn: it queues what is typed and takes it when the turn ends
                    self.typing = None
            return
        if now - t.entered_at <= float(self.opts["deliver_timeout"]):
            return
        if t.retries < 1:
            t.retries += 1
            events.append(self.d, "deliver_retry", attempt=t.retries, what=t.kind)
            if self._visible(t.text):  # the paste landed but the Enter did not
                t.entered_at = now
                if self.pane:
                    self.tmux.send_keys(self.pane, "Enter")
            else:  # the paste itself was lost: once more, Enter when it shows
                self._start_typing(t, now)
            return
        self.typing = None
        if t.kind == "task":
            self.delivered = True  # nothing more to type it with; the person takes it from here
        events.append(self.d, "not_submitted", what=t.kind, chars=len(t.text))
        sessions.set_status(
            self.d,
            "needs_input",
            reason=f"the {'task' if t.kind == 'task' else 'message'} was pasted but not submitted: "
            "attach and press Enter",
        )

    def _visible(self, text: str) -> bool:
        head = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")[:30]
        screen = self.screen()
        return "[Pasted text" in screen or (bool(head) and head in screen)

    def _wake_when_children_done(self, s: sessions.Session) -> None:
        from scope_tui.workers.claude_hooks import children_running

        if children_running(self.project, s.id):
            return
        kids = [c for c in sessions.list_all(self.project) if c.id != s.id and c.parent == s.id]
        summary = ", ".join(f"{c.id} {c.status}" for c in kids) or "none"
        text = (
            f"Scope: your child sessions have {CHILDREN_DONE} ({summary}). Their answers are in "
            f"{self.project.sessions}/ID/result.md. Use them to finish the task."
        )
        if sessions.set_status(self.d, "running", reason="children finished"):
            events.append(self.d, "children_done", children=[c.id for c in kids])
            self.queue.append(Typing("children", text))

    def _forward_inbox(self) -> None:
        # a redirect, a supervisor's nudge, a child's escalation: typed in one at a time, each confirmed
        for msg in sessions.take_messages(self.d):
            if msg.get("text") and self.pane:
                self.queue.append(Typing(str(msg.get("kind") or "message"), str(msg["text"])))

    def _end_claude(self) -> None:
        try:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        except OSError:
            pass

    # -- the loop -------------------------------------------------------------------------------------
    def run(self) -> int:
        while self.proc.poll() is None:
            try:
                self.step()
            except Exception as exc:  # a supervisor hiccup must not leave claude unwatched
                events.append(self.d, "error", error=f"{type(exc).__name__}: {exc}", source="claude-driver")
            time.sleep(POLL_S)
        return int(self.proc.returncode)

    def last_words(self) -> str:
        """The last line claude left on the screen (why it quit early, e.g. no network), or ''."""
        lines = [ln.strip() for ln in self.screen().splitlines() if ln.strip().strip(".*░▓█ ")]
        key = os.environ.get("ANTHROPIC_API_KEY") or ""
        if key:  # a reason is a state file: no part of a key goes there
            lines = [ln for ln in lines if key[-12:] not in ln]
        return sessions.first_line(lines[-1], 160) if lines else ""


def _pipe(project: Project, pane: str, log: Path | None) -> bool:
    """Stop the pane's copy to pane.log (`log` None), or start it again; True when tmux agreed."""
    from scope_tui.substrate.server import tmux_for

    try:
        return tmux_for(project).pipe(pane, log)
    except Exception:
        return False


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


def resolve_bin(name: str) -> str | None:
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name)


def finish(d: Path, code: int, last_words: str = "") -> int:
    """After claude exited: keep a terminal status the hooks wrote, else say why the session ended."""
    s = sessions.load_dir(d)
    if s.terminal:
        return 0 if s.status == "done" else 1
    if code < 0:
        sig = -code
        events.append(d, "error", error=f"claude died (signal {sig})", source="claude-driver")
        sessions.set_status(d, "failed", reason="crashed", exit_code=code)
    elif code == 0 and s.result() is not None and s.status != "needs_input":
        sessions.set_status(d, "done", exit_code=0)
        return 0
    else:
        why = (
            "claude exited while the session waited for the person"
            if s.status == "needs_input"
            else f"claude exited ({code}) before the task ended"
        )
        if last_words and code != 0:
            why += f": {last_words}"
        events.append(d, "error", error=why, source="claude-driver")
        sessions.set_status(d, "failed", reason=why, exit_code=code)
    return 1


def run(session_dir: str | Path) -> int:
    """Run Claude Code for the session in `session_dir` until it exits; returns the worker's exit code."""
    d = Path(session_dir)
    project = Project(d.parent.parent)
    s = sessions.load_dir(d)
    opts = cs.options(project)
    exe = resolve_bin(str(opts["bin"]))
    _say(f"scope · session {s.id} · claude driver")
    if exe is None:
        why = f"the claude CLI ({opts['bin']}) is not installed: npm install -g @anthropic-ai/claude-code"
        print(f"scope: {why}", flush=True)
        events.append(d, "error", error=why, source="claude-driver")
        sessions.set_status(d, "failed", reason=why)
        return 127
    settings_path = cs.write_settings(d, list(opts.get("allow") or []))
    prompt_path = cs.write_system_prompt(d, cs.system_prompt(project, s))
    argv = cs.argv(exe, settings_path, prompt_path, s.meta.get("model"))
    cwd = s.meta.get("worktree") or s.meta.get("cwd") or str(project.home)
    if not Path(cwd).is_dir():
        cwd = str(project.home)
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
    sup = ClaudeRun(project, d, proc, opts)
    sup.log_paused = paused
    code = sup.run()
    if sup.log_paused:
        _pipe(project, sup.pane, d / sessions.PANE_LOG)
    rc = finish(d, code, "" if sup.ending else sup.last_words())
    st = sessions.load_dir(d)
    sid = st.state.get("claude_session")
    how = "ended by Scope" if sup.ending else f"exited {code}"
    _say(f"[claude {how}; session {st.id} {st.status}]")
    if sid:
        _say(f"continue this conversation: cd {cwd} && claude --resume {sid}")
    sys.stdout.flush()
    return rc
