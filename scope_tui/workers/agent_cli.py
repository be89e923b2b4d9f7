"""What every interactive agent CLI driver shares: its supervision loop, paste-and-confirm, its end.

A driver (workers/claude.py, workers/codex.py, ...) starts its CLI as this process's child on the pane's
terminal (so a person can attach and type), with hooks that call `scope hook <event>`
(workers/claude_hooks.py: the hook protocol Claude Code and Codex CLI share). The hooks write state
and events; `CliRun` only

- waits until the CLI takes input (the SessionStart hook, or its prompt on the screen) and says
  `needs_input` when a first-use question is on the screen instead;
- pastes the task and confirms it was taken (the UserPromptSubmit hook), retrying once;
- types in the inbox (redirects, answers, reflections), one message at a time, each confirmed;
- wakes the CLI when the children it stopped to wait for have all finished;
- ends the CLI once the session is terminal (unless keep_open), and when the CLI exits on its own,
  `finish` writes the status the hooks could not: a crash or an early exit is `failed` with why.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scope_tui.store import events, sessions
from scope_tui.store.project import Project

POLL_S = 0.2
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


class CliRun:
    """Everything the worker does while an agent CLI runs; `step()` once per tick, no blocking calls.

    A driver subclasses it with what its CLI shows: `FIRST_USE` (text of a question it asks before it
    takes input -> what the person should do), `CHOICE` (any other choice on screen), `READY` (text of
    its input box), `START_EVENT` (the event its SessionStart hook writes), `READY_ALONE_S` (how long
    its input box alone must show when SessionStart comes only with the first prompt, as Codex's does)
    and `KEY_VARS` (keys never to repeat from its screen).
    """

    CLI = "claude"
    TITLE = "Claude Code"
    FIRST_USE: dict[str, str] = {}
    CHOICE = "Enter to confirm"
    READY: tuple[str, ...] = ("? for shortcuts",)
    START_EVENT = "cli_session"
    KEY_VARS: tuple[str, ...] = ()
    READY_ALONE_S = HOOKLESS_S  # type on the input box alone (no SessionStart yet) after this long

    def __init__(self, s: sessions.Session, proc: subprocess.Popen[bytes], opts: dict[str, Any]) -> None:
        """Watch `proc`, the CLI of session `s` (as the driver read it)."""
        from scope_tui.substrate.server import tmux_for

        d = s.dir
        self.project, self.d, self.proc, self.opts = s.project, d, proc, opts
        self.tmux = tmux_for(self.project)
        self.pane = os.environ.get("TMUX_PANE") or ""
        self.reader = events.EventReader(d / events.EVENTS)
        self.reader.read_new()  # only what happens from here on counts
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

    @classmethod
    def first_use(cls, text: str) -> str | None:
        """The first-use question on the screen (the lowest one: an answered one may linger above), or None."""
        low = text.lower()
        found = [(low.rfind(m.lower()), m) for m in cls.FIRST_USE if m.lower() in low]
        if found:
            return max(found)[1]
        return cls.CHOICE if cls.CHOICE.lower() in low else None

    # -- one tick -------------------------------------------------------------------------------------
    def step(self) -> None:
        for ev in self.reader.read_new():
            kind = ev.get("type")
            if kind == self.START_EVENT:
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
            self._end_cli()
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
                todo = self.FIRST_USE.get(blocker, "answer it")
                sessions.set_status(
                    self.d,
                    "needs_input",
                    reason=f"{self.TITLE} asks a first-use question ({blocker!r}): "
                    f"scope attach {self.sid} and {todo}",
                )
            return
        ready = any(m in text for m in self.READY)
        # SessionStart is the sign; the prompt alone only when hooks never fire (keystrokes typed
        # before Claude Code's input is wired up are lost)
        if (self.started and (ready or not self.pane)) or (ready and now - self.t0 > self.READY_ALONE_S):
            s = sessions.load_dir(self.d)
            if s.status == "needs_input":
                sessions.set_status(self.d, "running", reason=f"{self.TITLE} ready")
            self._start_typing(Typing("task", self.task.rstrip("\n")), now)
            events.append(self.d, "task_pasted", chars=len(self.task))
        elif now - self.t0 > float(self.opts["ready_timeout"]) and not self.asked:
            self.asked = True
            sessions.set_status(
                self.d,
                "needs_input",
                reason=f"{self.TITLE} has not taken input yet: attach to see what it shows",
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

    def _end_cli(self) -> None:
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
                events.append(
                    self.d, "error", error=f"{type(exc).__name__}: {exc}", source=f"{self.CLI}-driver"
                )
            time.sleep(POLL_S)
        return int(self.proc.returncode)

    def last_words(self) -> str:
        """The last line the CLI left on the screen (why it quit early, e.g. no network), or ''."""
        lines = [ln.strip() for ln in self.screen().splitlines() if ln.strip().strip(".*░▓█ ")]
        for var in self.KEY_VARS:  # a reason is a state file: no part of a key goes there
            key = os.environ.get(var) or ""
            if key:
                lines = [ln for ln in lines if key[-12:] not in ln]
        return sessions.first_line(lines[-1], 160) if lines else ""


def _pipe(project: Project, pane: str, log: Path | None) -> bool:
    """Stop the pane's copy to pane.log (`log` None), or start it again; True when tmux agreed."""
    from scope_tui.substrate.server import tmux_for

    try:
        return tmux_for(project).pipe(pane, log)
    except Exception:
        return False


def resolve_bin(name: str) -> str | None:
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name)


def finish(d: Path, code: int, last_words: str = "", cli: str = "claude") -> int:
    """After the CLI exited: keep a terminal status the hooks wrote, else say why the session ended."""
    s = sessions.load_dir(d)
    if s.terminal:
        return 0 if s.status == "done" else 1
    if code < 0:
        sig = -code
        events.append(d, "error", error=f"{cli} died (signal {sig})", source=f"{cli}-driver")
        sessions.set_status(d, "failed", reason="crashed", exit_code=code)
    elif code == 0 and s.result() is not None and s.status != "needs_input":
        sessions.set_status(d, "done", exit_code=0)
        return 0
    else:
        why = (
            f"{cli} exited while the session waited for the person"
            if s.status == "needs_input"
            else f"{cli} exited ({code}) before the task ended"
        )
        if last_words and code != 0:
            why += f": {last_words}"
        events.append(d, "error", error=why, source=f"{cli}-driver")
        sessions.set_status(d, "failed", reason=why, exit_code=code)
    return 1


# -- what every CLI is started with ---------------------------------------------------------------------
def scope_cmd() -> str:
    """How a shell inside the session calls Scope: `scope` when a `scope` is reachable there."""
    if (Path(sys.executable).parent / "scope").exists() or shutil.which("scope"):
        return "scope"  # env() puts this interpreter's bin folder first on PATH
    return f"{shlex.quote(sys.executable)} -m scope_tui"


def hook_command(event: str, session_dir: Path) -> str:
    """The shell line a CLI's hook runs: `scope hook EVENT` for this session (by its folder)."""
    return f"{shlex.quote(sys.executable)} -m scope_tui hook {event} --session-dir {shlex.quote(str(session_dir))}"


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
  (options: --driver builtin|claude|codex|gemini|opencode, --skill NAME, --worktree for a git worktree of its own).
- Wait for children: `{sc} wait ID [ID ...] --timeout 100` (exit 0 all done, 1 one failed, 3 timed out: wait again).
- Check without waiting: `{sc} poll ID` (or `{sc} poll --all`); a child's answer is in
  {project.sessions}/ID/result.md.
- When the task is finished, end your turn with the final answer as your last message: Scope records it as
  this session's result. Do not end your turn while children you need are still running.
- If you cannot go on without the person, ask one clear question ending with '?' and end your turn.
  Scope reads a turn that ends with '?' as such a question, so do not end a finished answer with one."""


def system_prompt(project: Project, s: sessions.Session) -> str:
    """What a CLI is told besides the task: the skill, the session's prompt.md (a persistent agent's
    identity and memory), Scope's instructions. Claude Code takes it as --append-system-prompt-file."""
    parts = [_skill_text(project, s)]
    try:
        parts.append((s.dir / sessions.PROMPT).read_text().strip())
    except FileNotFoundError:
        pass
    parts.append(instructions(project, s))
    return "\n\n".join(p for p in parts if p)


def env(base: dict[str, str] | None = None, quiet: dict[str, str] | None = None) -> dict[str, str]:
    """A CLI's environment: the window's, with `quiet` (a CLI's no-autoupdate switches), Scope on PATH."""
    out = dict(os.environ if base is None else base)
    out.update(quiet or {})
    bindir = str(Path(sys.executable).parent)
    if (Path(bindir) / "scope").exists():
        parts = out.get("PATH", "").split(os.pathsep)
        if bindir not in parts:
            out["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p]])
    return out


def prepare(s: sessions.Session, cli: str, binary: str, install: str) -> tuple[str, str] | int:
    """The start every CLI driver shares: say in the pane which driver runs, find its binary and the folder
    it works in (the session's worktree, else its cwd, else the project). Returns (exe, cwd), or the exit
    code of a start that failed because the binary is missing (said in the pane, events and status)."""
    _say(f"scope · session {s.id} · {cli} driver")
    exe = resolve_bin(binary)
    if exe is None:
        return fail_start(s.dir, cli, f"the {cli} CLI ({binary}) is not installed: {install}", 127)
    cwd = s.meta.get("worktree") or s.meta.get("cwd") or str(s.project.home)
    if not Path(cwd).is_dir():
        cwd = str(s.project.home)
    return exe, cwd


def fail_start(d: Path, cli: str, why: str, code: int) -> int:
    """The CLI could not be started: say why in the pane, the events and the status."""
    print(f"scope: {why}", flush=True)
    events.append(d, "error", error=why, source=f"{cli}-driver")
    sessions.set_status(d, "failed", reason=why)
    return code


def launch(
    run_cls: type[CliRun],
    s: sessions.Session,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    opts: dict[str, Any],
    **fields: Any,
) -> int:
    """Start the CLI as this process's child on the pane, supervise it to its end, and finish the session."""
    import signal

    from scope_tui.workers.process import die_with_parent

    cli, d = run_cls.CLI, s.dir
    sessions.set_status(d, "running", reason=f"starting {run_cls.TITLE}")
    sessions.set_phase(d, "observe", f"starting {run_cls.TITLE}")
    signal.signal(signal.SIGINT, lambda *_: None)  # a Python handler is reset at exec: Ctrl-C reaches the CLI
    proc = subprocess.Popen(argv, cwd=cwd, env=env, preexec_fn=die_with_parent(signal.SIGTERM))
    events.append(d, "cli_started", cli=cli, pid=proc.pid, bin=argv[0], cwd=cwd, **fields)
    sup = run_cls(s, proc, opts)
    code = sup.run()
    rc = finish(d, code, "" if sup.ending else sup.last_words(), cli)
    st = sessions.load_dir(d)
    _say(f"[{cli} {'ended by Scope' if sup.ending else f'exited {code}'}; session {st.id} {st.status}]")
    sys.stdout.flush()
    return rc


def model_name(model: str) -> str | None:
    """The name a CLI asks for: `provider:name` loses its provider; offline (or none) means the CLI's own."""
    from scope_tui.models.select import parse_model

    provider, name = parse_model(model) if model else (None, "")
    return None if not name or provider == "offline" else name
