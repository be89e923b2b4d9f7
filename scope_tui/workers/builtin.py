"""The built-in agent loop (driver `builtin`): a Model with tools, run in its tmux window.

Each turn is one OODA pass written to state.json: observe (the inbox: redirects, reflections, answers go
into the conversation as a user turn), orient (the model call), decide (read the reply), act (the tool
calls, each checked first by `gepa.online.before_action`). The pane shows a transcript a person can
follow; state, events and result.md are written here, never scraped from the screen.

Ends: finish -> done; escalate / budget -> escalated; a model error (bad key, API down) -> failed with
the one-line reason; max turns -> escalated (stuck). In every case result.md holds what was found.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

from scope_tui.models.base import BudgetExceeded, Model, ModelError, Reply
from scope_tui.store import config, events, sessions, transcript
from scope_tui.workers import tools

DEFAULT_MAX_TURNS = 30
MAX_CONVERSATION_CHARS = 400_000  # about 100k tokens: past it, old tool outputs are cut down
MAX_BAD_INPUTS = 3  # malformed tool calls in a row before the session fails

SYSTEM = """You are a worker agent run by Scope, a control room for LLM agents. You work in a folder on a real
machine through tools. Look at the real data before you conclude (list, read, grep), do what the task asks,
and call `finish` with the result (what you did and found: the person reads it in result.md). Split work that
is too big with `spawn` (children run in parallel and show under you in the tree) and `wait` for them.
If you cannot go on, call `escalate` with a reason (task_too_big, missing_context, wrong_approach, stuck).
Use `ask` only when a person must decide. Messages from the person or the supervisor may arrive between
turns: follow them."""

DIM, BOLD, CYAN, YELLOW, RED, GREEN, RESET = (
    "\x1b[2m",
    "\x1b[1m",
    "\x1b[36m",
    "\x1b[33m",
    "\x1b[31m",
    "\x1b[32m",
    "\x1b[0m",
)


def _short(text: str, n: int = 160) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


class Loop:
    def __init__(self, s: sessions.Session, model: Model | None = None) -> None:
        session_dir = self.dir = s.dir
        self.s = s
        self.project = self.s.project
        self.meta = self.s.meta
        self.cfg = config.load(self.project.config_path)
        cwd = Path(self.meta.get("worktree") or self.meta.get("cwd") or self.project.home)
        wcfg = self.cfg.get("worker", {}) if isinstance(self.cfg.get("worker"), dict) else {}
        self.ctx = tools.Context(
            self.project,
            session_dir,
            self.meta,
            cwd if cwd.is_dir() else self.project.home,
            bash_timeout=float(wcfg.get("bash_timeout") or 120),
            secrets=tools.secrets_from_env(),
        )
        params = self.meta.get("params") or {}
        self.max_turns = int(params.get("max_iter") or wcfg.get("max_turns") or DEFAULT_MAX_TURNS)
        self.max_tokens = int(self.cfg.get("models", {}).get("max_tokens") or 4096)
        self._model = model
        self.messages: list[dict[str, Any]] = []
        self.last_text = ""
        self.notes: list[str] = []  # short tool results, for a partial result if it never finishes

    # ---- the conversation
    def add(self, message: dict[str, Any], *, join: bool = False) -> None:
        """A message joins the conversation and its transcript (redacted there); `join` adds its content
        to the last message instead, which has the same role (the transcript joins them when read)."""
        transcript.append(self.dir, message, self.ctx.redact)
        if join:
            self.messages[-1]["content"].extend(message["content"])
        else:
            self.messages.append(message)

    # ---- output
    def say(self, text: str) -> None:
        print(self.ctx.redact(text), flush=True)

    # ---- prompt
    def system_prompt(self) -> str:
        parts = [SYSTEM, f"Your session id is {self.s.id}; your working folder is {self.ctx.cwd}."]
        prompt = self.dir / sessions.PROMPT
        if prompt.is_file():
            parts.append(prompt.read_text())
        skill = self.meta.get("skill")
        if skill:
            body = self._skill_text(str(skill))
            if body:
                parts.append(f"## Skill: {skill}\n\n{body}")
        return "\n\n".join(p.strip() for p in parts if p.strip())

    def _skill_text(self, name: str) -> str | None:
        from scope_tui.patterns import skill_files

        try:
            version = self.meta.get("skill_version")
            sk = skill_files.load(
                self.project,
                name,
                int(version) if isinstance(version, int) else None,
                agent_skill_root=self.meta.get("skill_root"),  # an agent's own skill lives in its folder
            )
        except Exception as exc:  # a missing or broken skill is worth a line, not a dead worker
            events.append(self.dir, "error", source="builtin", error=f"skill {name!r} not loaded: {exc}")
            return None
        events.append(self.dir, "skill_loaded", skill=sk.name, version=sk.version)
        return sk.body

    # ---- the loop
    def model(self) -> Model:
        if self._model is None:
            from scope_tui.models.select import model_for

            self._model = model_for(self.project, self.meta)
            if hasattr(self._model, "before_escalate"):  # result.md before the status says escalated
                self._model.before_escalate = lambda details: self.keep_partial(
                    f"Stopped: budget reached ({details})."
                )
        return self._model

    def run(self) -> int:
        task = self.s.task()
        sessions.set_status(self.dir, "running")
        try:
            model = self.model()
        except ModelError as exc:
            return self.fail(exc.reason)
        sessions.update_state(self.dir, model=model.name)
        self.say(f"{DIM}scope · session {self.s.id} · builtin · model {model.name}{RESET}")
        self.say(f"{BOLD}task:{RESET} {_short(task, 400)}")
        system = self.system_prompt()
        self.messages = transcript.load(self.dir)  # a resumed session's conversation (substrate/resume.py)
        if self.messages:
            events.append(self.dir, "transcript_loaded", messages=len(self.messages))
            self.say(f"{YELLOW}resumed: {len(self.messages)} messages of the conversation so far{RESET}")
        else:
            self.add({"role": "user", "content": [{"type": "text", "text": task or "(no task given)"}]})
        bad_inputs = 0
        for turn in range(1, self.max_turns + 1):
            self.say(f"{DIM}── turn {turn} {'─' * 40}{RESET}")
            now = sessions.load_dir(self.dir)
            if now.terminal:  # killed or escalated from outside: stop, keeping what was found
                self.keep_partial(f"Stopped: the session became {now.status} from outside.")
                return 1
            sessions.set_phase(self.dir, "observe", "reading the inbox")
            self.read_inbox()
            self.trim()
            sessions.set_phase(self.dir, "orient", "asking the model")
            try:
                reply = model.complete(
                    self.messages,
                    system=system,
                    tools=tools.SPECS,
                    max_tokens=self.max_tokens,
                    level=self.s.level,
                    purpose="worker",
                )
            except BudgetExceeded as exc:
                self.say(f"{YELLOW}budget reached: {exc.reason}{RESET}")
                self.keep_partial(f"Stopped: budget reached before turn {turn}.")
                return 1
            except ModelError as exc:
                return self.fail(exc.reason)
            sessions.set_phase(self.dir, "decide", f"turn {turn}: {reply.stop_reason}")
            outcome = self.act(reply, turn)
            if outcome == "bad":
                bad_inputs += 1
                if bad_inputs >= MAX_BAD_INPUTS:
                    return self.fail(f"the model sent malformed tool calls {bad_inputs} times in a row")
                continue
            bad_inputs = 0
            if outcome in ("done", "escalated"):
                return 0 if outcome == "done" else 1
        from scope_tui.models.accounting import escalate

        details = f"no finish after {self.max_turns} turns"
        self.keep_partial(f"Stopped: {details}.")
        escalate(self.project, self.dir, "stuck", details)
        self.say(f"{YELLOW}escalated: {details}{RESET}")
        return 1

    def read_inbox(self) -> None:
        msgs = sessions.take_messages(self.dir)
        if not msgs:
            return
        blocks = []
        for m in msgs:
            kind = str(m.get("kind") or "message")
            text = str(m.get("text") or "")
            self.say(f"{YELLOW}⇢ {kind}: {_short(text, 300)}{RESET}")
            events.append(self.dir, "inbox", kind=kind, chars=len(text))
            blocks.append({"type": "text", "text": f"[{kind}] {text}"})
        last = self.messages[-1]
        if last["role"] == "user" and isinstance(last["content"], str):
            last["content"] = [{"type": "text", "text": last["content"]}]
        self.add({"role": "user", "content": blocks}, join=last["role"] == "user")

    def trim(self, limit: int | None = None) -> int:
        """Cut old tool outputs (all but the last two turns) to a stub while the conversation is too long."""
        limit = limit or MAX_CONVERSATION_CHARS
        size = len(json.dumps(self.messages, ensure_ascii=False, default=str))
        cut = 0
        for m in self.messages[1:-4]:
            if size <= limit:
                break
            for b in m["content"] if isinstance(m["content"], list) else []:
                text = b.get("content") if b.get("type") == "tool_result" else None
                if isinstance(text, str) and len(text) > 200:
                    b["content"] = f"{text[:150]}… [older output cut: {len(text)} characters]"
                    size -= len(text) - len(b["content"])
                    cut += 1
        if cut:
            events.append(self.dir, "trim", results=cut, chars=size)
        return cut

    def act(self, reply: Reply, turn: int) -> str:
        """Run the reply's tool calls; returns 'done', 'escalated', 'bad' (malformed) or 'next'."""
        u = reply.usage
        cost = f" · ${reply.cost:.4f}" if reply.cost else ""
        self.say(
            f"{DIM}[{reply.model}: {u.get('input_tokens', 0)} in · {u.get('output_tokens', 0)} out{cost}]{RESET}"
        )
        if reply.text.strip():
            self.last_text = reply.text.strip()
            self.say(f"{CYAN}model:{RESET} {_short(reply.text, 400)}")
        self.add({"role": "assistant", "content": reply.content or [{"type": "text", "text": ""}]})
        uses = reply.tool_uses
        if not uses:
            # an answer with no tool call is the final answer
            return self.finish(reply.text.strip() or "(the model ended without a result)")
        sessions.set_phase(self.dir, "act", ", ".join(str(u.get("name")) for u in uses))
        results: list[dict[str, Any]] = []
        end: str | None = None
        end_text = ""
        bad = 0
        for u in uses:
            name, inp, uid = str(u.get("name")), u.get("input"), str(u.get("id"))
            if end is not None:
                results.append(self._result(uid, "not run: the session already ended", True))
                continue
            try:
                tools.check_input(name, inp)
            except tools.BadInput as exc:
                bad += 1
                events.append(
                    self.dir, "error", source="builtin", tool=name, error=f"malformed tool call: {exc}"
                )
                self.say(f"{RED}✗ {name}: {exc}{RESET}")
                results.append(self._result(uid, f"malformed call: {exc}", True))
                continue
            assert isinstance(inp, dict)
            self.say(f"{GREEN}→ {name}{RESET} {_short(self._show_input(name, inp), 200)}")
            blocked = self.check(name, inp)
            if blocked:
                self.say(f"{YELLOW}⚑ held back: {_short(blocked, 300)}{RESET}")
                results.append(self._result(uid, blocked, True))
                continue
            if name == "escalate":  # result.md before the status says escalated
                self.keep_partial(f"Escalated ({inp.get('reason')}): {inp.get('details') or ''}".strip())
            try:
                out = tools.run(self.ctx, name, inp)
            except tools.BadInput as exc:
                bad += 1
                events.append(
                    self.dir, "error", source="builtin", tool=name, error=f"malformed tool call: {exc}"
                )
                out = tools.Outcome(f"malformed call: {exc}", True)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # a tool that raises is told to the model, and recorded
                events.append(
                    self.dir, "error", source="builtin", tool=name, error=f"{type(exc).__name__}: {exc}"
                )
                out = tools.Outcome(f"tool error: {type(exc).__name__}: {exc}", True)
            self.record(name, inp, out)
            lines = out.text.strip().splitlines() or [""]
            more = f" … (+{len(lines) - 3} lines)" if len(lines) > 3 else ""
            colour = RED if out.is_error else DIM
            for ln in lines[:3]:
                self.say(f"  {colour}{ln[:200]}{RESET}")
            if more:
                self.say(f"  {DIM}{more.strip()}{RESET}")
            if out.end:
                end, end_text = out.end, out.text
            else:
                self.notes.append(f"{name}: {_short(out.text, 200)}")
            results.append(self._result(uid, out.text, out.is_error))
        self.add({"role": "user", "content": results})
        if end == "done":
            return self.finish(end_text)
        if end == "escalated":
            self.keep_partial(f"Escalated: {end_text}")
            self.say(f"{YELLOW}{end_text}{RESET}")
            return "escalated"
        return "bad" if bad and bad == len(uses) else "next"

    @staticmethod
    def _result(uid: str, text: str, is_error: bool) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": uid, "content": text or "(empty)"}
        if is_error:
            block["is_error"] = True
        return block

    @staticmethod
    def _show_input(name: str, inp: dict[str, Any]) -> str:
        if name == "bash":
            return str(inp.get("command"))
        if name == "write_file":
            return f"{inp.get('path')} ({len(str(inp.get('content', '')))} chars)"
        if name in ("read_file",):
            return str(inp.get("path"))
        if name == "spawn":
            return str(inp.get("cmd") or inp.get("task"))
        return json.dumps(inp, ensure_ascii=False)

    def action(self, name: str, inp: dict[str, Any]) -> dict[str, Any]:
        kind = self.kind(name, inp)
        action: dict[str, Any] = {"kind": kind, "tool": name, "input": inp}
        if name == "spawn":
            action["task"] = inp.get("task")
        return action

    @staticmethod
    def kind(name: str, inp: dict[str, Any]) -> str:
        from scope_tui.gepa.deviation import classify

        return str(classify(name, inp))

    def check(self, name: str, inp: dict[str, Any]) -> str | None:
        from scope_tui.gepa.online import before_action

        text = before_action(self.project, self.dir, self.action(name, inp))
        return self.ctx.redact(text) if text else None

    def record(self, name: str, inp: dict[str, Any], out: tools.Outcome) -> None:
        """One event a tool call: peek / grep / exec for reading and running, tool_call for the rest.

        A spawn is already recorded by the store (a `spawn` event with the child's id)."""
        if name == "spawn":
            return
        shown = {k: (v if not isinstance(v, str) or len(v) <= 500 else v[:500] + "…") for k, v in inp.items()}
        kind = self.kind(name, inp)
        etype = kind if kind in ("peek", "grep", "exec") else "tool_call"
        fields: dict[str, Any] = {
            "tool": name,
            "input": json.loads(self.ctx.redact(json.dumps(shown, ensure_ascii=False))),
            "is_error": out.is_error,
            "output": _short(out.text, 300),
        }
        if etype == "grep":
            fields["hits"] = len(
                [ln for ln in out.text.splitlines() if ln.strip() and not ln.startswith("[exit")]
            )
        events.append(self.dir, etype, **fields)

    # ---- ends
    def finish(self, text: str) -> str:
        text = self.ctx.redact(text)
        sessions.write_result(self.dir, text + ("\n" if not text.endswith("\n") else ""))
        events.append(self.dir, "result", chars=len(text), summary=_short(text, 200))
        sessions.set_status(self.dir, "done", exit_code=0)
        self.say(f"{GREEN}{BOLD}✓ done:{RESET} {_short(text, 400)}")
        return "done"

    def keep_partial(self, head: str) -> None:
        """Write what was found so far to result.md unless a result is already there."""
        if (self.dir / sessions.RESULT).exists():
            return
        body = [head]
        if self.last_text:
            body.append(f"Last model text: {self.last_text}")
        if self.notes:
            body.append("Found so far:\n" + "\n".join(f"- {n}" for n in self.notes[-10:]))
        sessions.write_result(self.dir, self.ctx.redact("\n\n".join(body)) + "\n")

    def fail(self, reason: str) -> int:
        reason = self.ctx.redact(reason)
        events.append(self.dir, "error", source="model", error=reason)
        self.keep_partial(f"Failed: {reason}")
        sessions.set_status(self.dir, "failed", reason=reason)
        self.say(f"{RED}✗ failed: {reason}{RESET}")
        return 1


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run(s: sessions.Session, model: Model | None = None) -> int:
    """Run session `s` (as the worker read it) to its end; the process exit code (0 done, 1 otherwise)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, _interrupt)
        except (ValueError, OSError):  # not the main thread (in-process tests)
            pass
    loop = Loop(s, model)
    try:
        return loop.run()
    except KeyboardInterrupt:
        loop.keep_partial("Interrupted before it finished.")
        raise
    finally:
        sys.stdout.flush()
