"""The OpenCode driver: `opencode serve` on 127.0.0.1, driven through its HTTP API and event stream.

OpenCode has no shell hooks, so Scope does not type into a TUI: the worker starts `opencode serve` as its
child (a port of its own, a random `OPENCODE_SERVER_PASSWORD`), creates an OpenCode session, sends the
task with `POST /session/:id/prompt_async`, and follows `GET /event` (Server-Sent Events). The events
become the hook protocol workers/claude_hooks.py handles, in process:

- the task and every message sent -> UserPromptSubmit;
- `permission.asked` (OpenCode asks before bash, edit and webfetch: Scope's config says "ask") ->
  PreToolUse first: a call against the skill's rules is rejected at once through
  `POST /permission/:id/reply` with the reflection as the message; else PermissionRequest, so the
  session is needs_input until the person answers with `scope redirect ID allow|always|<why not>`;
- a tool part that ran without asking (read, glob, grep) -> a tool_call event, seen but not blockable;
  a tool part completed or failed -> PostToolUse;
- `session.idle` -> Stop, with the last assistant message's text and the tokens OpenCode counted.

Everything OpenCode writes lives in `sessions/<id>/opencode-home` (XDG_CONFIG_HOME, XDG_DATA_HOME,
XDG_CACHE_HOME, XDG_STATE_HOME): the person's `~/.config/opencode` and `~/.local/share/opencode` are
never written. The session's config goes in through `OPENCODE_CONFIG`. The person's login
(`~/.local/share/opencode/auth.json`) is copied in when there is one, and removed at the end.

Known traps (1.18.33): it fetches models.dev at start (`OPENCODE_DISABLE_MODELS_FETCH=1`); it runs
`npm install @opencode-ai/plugin` into its config folder at start (64 MB, from the network) unless
`OPENCODE_PURE=1`; `@ai-sdk/openai-compatible` is built in (older versions installed it at run time);
`--port 0` means its default 4096, not a free port; a project's own opencode.json (and its plugins)
would run unreviewed, so `OPENCODE_DISABLE_PROJECT_CONFIG=1`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from scope_tui.store import config, events, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.project import Project
from scope_tui.workers import agent_cli, claude_hooks
from scope_tui.workers.agent_cli import POLL_S, _say

HOME = "opencode-home"
PROVIDER = "scope"  # the custom provider a base_url becomes
DEFAULTS: dict[str, Any] = {
    "bin": "opencode",
    "base_url": "",  # an OpenAI-compatible server (Chat Completions): a custom provider in the config
    "model": "",  # provider/model as OpenCode names it, or a name on base_url's server
    "keep_open": False,
    "ready_timeout": 60.0,
}
QUIET = {
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_PURE": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
    "OPENCODE_DISABLE_SHARE": "1",
}
# OpenCode's permission names -> the Claude Code tools claude_hooks reads the skill's rules with
TOOLS = {
    "bash": "Bash",
    "edit": "Edit",
    "write": "Write",
    "read": "Read",
    "glob": "Glob",
    "grep": "Grep",
    "list": "LS",
    "webfetch": "WebFetch",
    "task": "Task",
}
ALLOW = {
    "y": "once",
    "yes": "once",
    "allow": "once",
    "ok": "once",
    "approve": "once",
    "once": "once",
    "always": "always",
}


def options(project: Project) -> dict[str, Any]:
    try:
        cfg = config.load(project.config_path).get("opencode") or {}
    except Exception:
        cfg = {}
    return {**DEFAULTS, **(cfg if isinstance(cfg, dict) else {})}


def settings(opts: dict[str, Any], model: str | None, instructions: Path) -> dict[str, Any]:
    """The session's opencode.json: its model (a custom provider for base_url), Scope's instructions,
    and "ask" before a shell command, an edit or a fetch, so each comes to Scope first."""
    out: dict[str, Any] = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "instructions": [str(instructions)],
        "permission": {"bash": "ask", "edit": "ask", "webfetch": "ask"},
    }
    name = model or str(opts["model"] or "")
    if opts.get("base_url"):
        name = name.split("/", 1)[1] if name.startswith(f"{PROVIDER}/") else name
        out["provider"] = {
            PROVIDER: {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Scope's OpenAI-compatible server",
                "options": {"baseURL": str(opts["base_url"]), "apiKey": "{env:OPENAI_API_KEY}"},
                "models": {name: {"name": name}},
            }
        }
        name = f"{PROVIDER}/{name}"
    if name:
        out["model"] = out["small_model"] = name
    return out


def write_home(project: Project, s: sessions.Session, opts: dict[str, Any]) -> Path:
    home = s.dir / HOME
    for sub in ("config", "data", "cache", "state"):
        (home / sub).mkdir(parents=True, mode=0o700, exist_ok=True)
    write_text(home / "AGENTS.md", agent_cli.system_prompt(project, s))
    model = agent_cli.model_name(str(s.meta.get("model") or ""))
    write_json(home / "opencode.json", settings(opts, model, home / "AGENTS.md"))
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    login = Path(data) / "opencode" / "auth.json"
    if login.is_file():  # a copy: what OpenCode writes goes to the session's, never the person's
        (home / "data" / "opencode").mkdir(mode=0o700, exist_ok=True)
        shutil.copyfile(login, home / "data" / "opencode" / "auth.json")
        os.chmod(home / "data" / "opencode" / "auth.json", 0o600)
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """OpenCode's HTTP API on 127.0.0.1:port, with the session's password."""

    def __init__(self, port: int, password: str) -> None:
        self.port = port
        token = base64.b64encode(f"opencode:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None, self.headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status >= 400:
                raise OSError(f"opencode {method} {path}: HTTP {resp.status} {data[:200]!r}")
            return json.loads(data) if data.strip() else None
        finally:
            conn.close()

    def follow(self, out: queue.Queue[dict[str, Any]]) -> None:
        """Put each event of GET /event on `out` until the stream ends (a thread's body)."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=None)
            conn.request("GET", "/event", headers={**self.headers, "Accept": "text/event-stream"})
            resp = conn.getresponse()
            for raw in resp:
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith("data:"):
                    with contextlib.suppress(ValueError):
                        out.put(json.loads(line[5:]))
        except OSError as exc:
            out.put({"type": "scope.stream_lost", "properties": {"error": str(exc)}})
        out.put({"type": "scope.stream_lost", "properties": {}})


def _tool_input(permission: str, meta: dict[str, Any], patterns: list[Any]) -> dict[str, Any]:
    if permission == "bash":
        return {"command": str(meta.get("command") or (patterns[0] if patterns else ""))}
    path = meta.get("filepath") or meta.get("filePath") or (patterns[0] if patterns else None)
    return {"file_path": path, "url": meta.get("url")}


class OpenCodeRun:
    """The worker's loop while `opencode serve` runs: events in, prompts and permission replies out."""

    def __init__(
        self, project: Project, d: Path, proc: subprocess.Popen[bytes], api: Server, opts: dict[str, Any]
    ) -> None:
        self.project, self.d, self.proc, self.api, self.opts = project, d, proc, api, opts
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.oc: str = ""  # OpenCode's session id
        self.pending: str | None = None  # the permission the person is asked
        self.seen: set[str] = set()  # tool calls recorded
        self.busy = False
        self.ending = False
        self.next_kids = 0.0

    def hook(self, event: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        return claude_hooks.handle(event, payload, self.d)

    def start(self) -> bool:
        deadline = time.monotonic() + float(self.opts["ready_timeout"])
        while True:
            if self.proc.poll() is not None:
                return False
            try:
                self.api.call("GET", "/session", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    sessions.set_status(
                        self.d, "needs_input", reason="OpenCode's server has not answered: attach to see why"
                    )
                    return False
                time.sleep(0.2)
        threading.Thread(target=self.api.follow, args=(self.events,), daemon=True).start()
        self.oc = str(self.api.call("POST", "/session", {"title": f"scope {self.d.name}"})["id"])
        events.append(self.d, "cli_session", opencode_session=self.oc, port=self.api.port)
        sessions.update_state(self.d, claude_session=self.oc)
        self.prompt(sessions.load_dir(self.d).task().rstrip("\n"), "task")
        return True

    def prompt(self, text: str, kind: str) -> None:
        self.api.call("POST", f"/session/{self.oc}/prompt_async", {"parts": [{"type": "text", "text": text}]})
        if kind != "task":
            events.append(self.d, "message_pasted", kind=kind, chars=len(text))
        self.busy = True
        self.hook("UserPromptSubmit", {"prompt": text})

    # -- events ---------------------------------------------------------------------------------------
    def on_event(self, ev: dict[str, Any]) -> None:
        kind = str(ev.get("type") or "")
        p = ev.get("properties") or {}
        if kind == "scope.stream_lost":
            if p.get("error") and self.proc.poll() is None:
                events.append(
                    self.d, "error", error=f"OpenCode's event stream: {p['error']}", source="opencode-driver"
                )
            return
        if p.get("sessionID") not in (None, self.oc):
            return  # a subagent's session, or another
        if kind in ("permission.asked", "permission.updated"):
            self.on_permission(p)
        elif kind == "permission.replied" and p.get("requestID") == self.pending:
            self.pending = None  # answered elsewhere (`opencode attach`): no redirect answers it again
            sessions.set_status(self.d, "running", reason=f"permission answered: {p.get('reply')}")
        elif kind == "message.part.updated":
            self.on_part(p.get("part") or {})
        elif kind == "session.status":
            self.busy = (p.get("status") or {}).get("type") == "busy"
        elif kind == "session.idle":
            self.busy = False
            self.on_idle()
        elif kind == "session.error":
            err = p.get("error") or {}
            why = str((err.get("data") or {}).get("message") or err.get("name") or err)
            events.append(self.d, "error", error=f"opencode: {why}"[:500], source="opencode-driver")

    def on_permission(self, p: dict[str, Any]) -> None:
        perm = str(p.get("permission") or p.get("type") or "")
        tool = TOOLS.get(perm, perm)
        meta: dict[str, Any] = p["metadata"] if isinstance(p.get("metadata"), dict) else {}
        tin = _tool_input(perm, meta, list(p.get("patterns") or []))
        call = str((p.get("tool") or {}).get("callID") or p.get("callID") or "")
        self.seen.add(call)
        out = self.hook("PreToolUse", {"tool_name": tool, "tool_input": tin, "tool_use_id": call})
        spec = (out or {}).get("hookSpecificOutput") or {}
        if spec.get("permissionDecision") == "deny":
            self.reply(str(p["id"]), "reject", str(spec.get("permissionDecisionReason") or ""))
            _say(f"[Scope refused {tool}: against the skill's rules]")
            return
        self.pending = str(p["id"])
        self.hook("PermissionRequest", {"tool_name": tool, "tool_input": tin})
        _say(
            f"[OpenCode asks to run {tool} {tin.get('command') or tin.get('file_path') or ''}: "
            f"scope redirect {self.d.name} allow|always|<why not>]"
        )

    def reply(self, pid: str, answer: str, message: str = "") -> None:
        body: dict[str, Any] = {"reply": answer}
        if message:
            body["message"] = message
        self.api.call("POST", f"/permission/{pid}/reply", body)

    def on_part(self, part: dict[str, Any]) -> None:
        if part.get("type") == "text" and (part.get("time") or {}).get("end"):
            print(str(part.get("text") or ""), flush=True)
        if part.get("type") != "tool":
            return
        call, state = str(part.get("callID") or ""), part.get("state") or {}
        tool = TOOLS.get(str(part.get("tool")), str(part.get("tool")))
        tin: dict[str, Any] = state["input"] if isinstance(state.get("input"), dict) else {}
        if call not in self.seen and state.get("status") in ("completed", "error"):
            # ran without asking (one that asks is `running` before its permission.asked): seen, not blocked
            self.seen.add(call)
            action = claude_hooks.classify(
                tool, {**tin, "file_path": tin.get("filePath") or tin.get("file_path")}
            )
            fields = {k: v for k, v in action.items() if k != "kind" and v is not None}
            events.append(self.d, "tool_call", kind=action["kind"], tool_use_id=call, **fields)
        if state.get("status") in ("completed", "error") and f"done:{call}" not in self.seen:
            self.seen.add(f"done:{call}")
            _say(f"[{tool} {state.get('status')}]")
            self.hook(
                "PostToolUse",
                {
                    "tool_name": tool,
                    "tool_use_id": call,
                    "tool_response": {"is_error": state.get("status") == "error"},
                },
            )

    def on_idle(self) -> None:
        msgs = self.api.call("GET", f"/session/{self.oc}/message") or []
        said = [m for m in msgs if (m.get("info") or {}).get("role") == "assistant"]
        text = ""
        if said:
            text = "".join(
                str(x.get("text") or "") for x in said[-1].get("parts") or [] if x.get("type") == "text"
            )
        inp = sum(int(((m["info"].get("tokens") or {}).get("input")) or 0) for m in said)
        outp = sum(int(((m["info"].get("tokens") or {}).get("output")) or 0) for m in said)
        model = str((said[-1]["info"].get("modelID") if said else "") or "")
        s = sessions.load_dir(self.d)
        if said and not s.terminal:
            change: dict[str, Any] = {"tokens": {"input": inp, "output": outp}}
            cost = claude_hooks._cost(self.project, {"input": inp, "output": outp, "model": model})
            if cost is not None:
                change["cost"] = cost
            sessions.update_state(self.d, **change)
        out = self.hook("Stop", {"last_assistant_message": text.strip()})
        if out and out.get("decision") == "block":  # children still running: back to work
            self.prompt(str(out.get("reason") or ""), "children")

    # -- messages -------------------------------------------------------------------------------------
    def forward_inbox(self) -> None:
        for msg in sessions.take_messages(self.d):
            text, kind = str(msg.get("text") or "").strip(), str(msg.get("kind") or "message")
            if not text:
                continue
            if self.pending is not None and kind == "redirect":  # the person answers OpenCode's ask
                pid, self.pending = self.pending, None
                answer = ALLOW.get(text.lower().rstrip(".!"))
                self.reply(pid, answer or "reject", "" if answer else text)
                events.append(self.d, "permission_answer", answer=answer or "reject")
                sessions.set_status(self.d, "running", reason=f"permission answered: {answer or 'reject'}")
            else:
                self.prompt(text, kind)

    def wake_when_children_done(self, s: sessions.Session) -> None:
        if claude_hooks.children_running(self.project, s.id):
            return
        kids = [c for c in sessions.list_all(self.project) if c.id != s.id and c.parent == s.id]
        summary = ", ".join(f"{c.id} {c.status}" for c in kids) or "none"
        if sessions.set_status(self.d, "running", reason="children finished"):
            events.append(self.d, "children_done", children=[c.id for c in kids])
            self.prompt(
                f"Scope: your child sessions have {agent_cli.CHILDREN_DONE} ({summary}). Their answers "
                f"are in {self.project.sessions}/ID/result.md. Use them to finish the task.",
                "children",
            )

    def step(self) -> None:
        while True:
            try:
                self.on_event(self.events.get_nowait())
            except queue.Empty:
                break
        s = sessions.load_dir(self.d)
        if s.corrupt:
            return
        if s.terminal and not self.opts.get("keep_open"):
            self.ending = True
            return
        now = time.monotonic()
        waiting = s.status == "waiting" and str(s.state.get("reason") or "").startswith("children running")
        if waiting and now >= self.next_kids:
            self.next_kids = now + 1.0
            self.wake_when_children_done(s)
        self.forward_inbox()

    def run(self) -> int:
        if not self.start():
            return self.stop()
        while self.proc.poll() is None and not self.ending:
            try:
                self.step()
            except Exception as exc:  # a supervisor hiccup must not leave OpenCode unwatched
                events.append(self.d, "error", error=f"{type(exc).__name__}: {exc}", source="opencode-driver")
            time.sleep(POLL_S)
        return self.stop()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return 0 if self.ending else int(self.proc.returncode or 0)


def run(s: sessions.Session) -> int:
    """Run OpenCode for session `s` (as the worker read it) until the task ends; the worker's exit code."""
    from scope_tui.workers.process import die_with_parent

    d = s.dir
    project = s.project
    opts = options(project)
    started = agent_cli.prepare(s, "opencode", str(opts["bin"]), "npm install -g opencode-ai")
    if isinstance(started, int):
        return started
    exe, cwd = started
    home = write_home(project, s, opts)
    password, port = secrets.token_urlsafe(24), free_port()
    env = agent_cli.env(None, QUIET)
    env.update({f"XDG_{k.upper()}_HOME": str(home / k) for k in ("config", "data", "cache", "state")})
    env.update({"OPENCODE_CONFIG": str(home / "opencode.json"), "OPENCODE_SERVER_PASSWORD": password})
    sessions.set_status(d, "running", reason="starting OpenCode")
    sessions.set_phase(d, "observe", "starting OpenCode")
    argv = [exe, "serve", "--hostname", "127.0.0.1", "--port", str(port)]
    with open(d / "opencode.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
    events.append(d, "cli_started", cli="opencode", pid=proc.pid, bin=exe, cwd=cwd, home=str(home))
    sup = OpenCodeRun(project, d, proc, Server(port, password), opts)
    try:
        code = sup.run()
    finally:
        (home / "data" / "opencode" / "auth.json").unlink(missing_ok=True)
    last = "" if sup.ending else _last_log_line(d / "opencode.log")
    rc = agent_cli.finish(d, code if not sup.ending else 0, last, "opencode")
    st = sessions.load_dir(d)
    _say(f"[opencode {'ended by Scope' if sup.ending else f'exited {code}'}; session {st.id} {st.status}]")
    return rc


def _last_log_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    key = os.environ.get("OPENAI_API_KEY") or ""
    lines = [ln for ln in lines if not key or key[-12:] not in ln]
    return sessions.first_line(lines[-1], 160) if lines else ""
