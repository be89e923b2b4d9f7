"""The RLM engine: the model explores a context held in a REPL, turn by turn, until FINAL / FINAL_VAR.

`run(ctx_or_session_dir)` is what the pattern session's tmux window runs. Each reply's ```repl blocks
run first (each one announced as a peek / grep / partition / exec event, and offered to the
`before_action` hook, which may refuse it with a text the model gets instead), then FINAL_VAR(name)
(precedence) or FINAL(text) ends the run. `llm_query` is a plain call on the cheaper model;
`rlm_query` is a child session (skill rlm) over a sub-context saved in the child's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scope_tui.models.base import Model
from scope_tui.models.select import model_for
from scope_tui.patterns.rlm import protocol as P
from scope_tui.patterns.rlm import repl as R
from scope_tui.patterns.rlm.tools import tools_of
from scope_tui.patterns.rlm.trajectory import Trajectory
from scope_tui.store import config, events, sessions
from scope_tui.store.project import Project

MAX_ITER = 20
MAX_DEPTH = 3  # the seed's dive depth; the skill's max_depth rule is a deviation threshold below it
CHUNK_CHARS = 500_000  # a sub-context's size the prompt suggests (the offline stand-in recurses past it)
MAX_SUBCALLS = 4  # concurrent sub-calls, as the reference's max_concurrent_subcalls
STDIN_FILE = "context-stdin.txt"
CHILD_CONTEXT = ("context.txt", "context.json")

SYSTEM = """{skill}

## How this REPL works
Write Python inside fenced blocks that open with ```repl and close with ```. Blocks run in order, in one
persistent namespace; you see what they print (cut after {limit:,} characters). Each block may run at
most {timeout:g} seconds of computation (waiting on sub-calls does not count).
When you know the answer, put FINAL_VAR(variable_name) or FINAL(your answer) at the START of a line of
your reply, outside any block. FINAL_VAR wins over FINAL. Blocks in the same reply run first. Inside a
block, FINAL(value) and FINAL_VAR("name") are functions, and `answer["content"] = ...` then
`answer["ready"] = True` answers too. Imports are limited to a list of safe modules.
Depth: this session is at depth {depth} of at most {max_depth}{depth_note}. A sub-context for rlm_query is
best at most {chunk:,} characters; up to {subcalls} sub-calls run at once.{tools}
"""


# ------------------------------------------------------------------------------------- context


def read_context(paths: list[str], session_dir: Path) -> Any:
    """A file -> str; a folder -> {relative path: text}; several -> {name: text}; '-' -> the saved stdin."""
    loaded: dict[str, Any] = {}
    for p in paths:
        if p == "-":
            loaded["stdin"] = (session_dir / STDIN_FILE).read_text(errors="replace")
            continue
        path = Path(p)
        if path.is_dir():
            files = {}
            for f in sorted(path.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts):
                    files[str(f.relative_to(path))] = f.read_text(errors="replace")
            loaded[path.name] = files
        elif path.suffix == ".json" and path.name in CHILD_CONTEXT:
            loaded[path.name] = json.loads(path.read_text())
        else:
            loaded[path.name] = path.read_text(errors="replace")
    if len(loaded) == 1:
        return next(iter(loaded.values()))
    flat: dict[str, str] = {}
    for name, v in loaded.items():
        if isinstance(v, dict):
            flat.update({f"{name}/{k}": val for k, val in v.items()})
        else:
            flat[name] = v
    return flat


def context_paths(session_dir: Path, params: dict[str, Any]) -> list[str]:
    """The session's context: --context paths, else a context file a parent left in its folder."""
    paths = list(params.get("context") or [])
    if "-" in paths:
        adopt_stdin(session_dir, params)
    if not paths:
        paths = [str(session_dir / n) for n in CHILD_CONTEXT if (session_dir / n).exists()]
    return paths


def adopt_stdin(session_dir: Path, params: dict[str, Any]) -> None:
    """Move stdin saved by `scope spawn --context -` (params `stdin_file`) into the session folder."""
    src = params.get("stdin_file")
    dst = session_dir / STDIN_FILE
    if src and Path(src).exists() and not dst.exists():
        try:
            os.replace(src, dst)
        except OSError:
            shutil.copyfile(src, dst)


def size_of(context: Any) -> int:
    if isinstance(context, str):
        return len(context)
    if isinstance(context, dict):
        return sum(size_of(v) for v in context.values())
    if isinstance(context, (list, tuple)):
        return sum(size_of(v) for v in context)
    return len(str(context))


# ------------------------------------------------------------------------------------- the run


def _num(value: Any) -> float | None:
    """A limit's number, or None for no limit (absent, 0 or negative)."""
    if value is None:
        return None
    n = float(value)
    return n if n > 0 else None


class RlmRun:
    """One RLM session's run: its REPL, its model, its limits."""

    def __init__(self, ctx: Any) -> None:
        from scope_tui.patterns.engines.context import EngineContext

        self.ctx = EngineContext.coerce(ctx)
        self.project: Project = self.ctx.project
        self.dir: Path = self.ctx.session_dir
        self.meta = self.ctx.meta
        self.params = self.ctx.params
        self.full_cfg = config.load(self.project.config_path)
        cfg = self.cfg = self.full_cfg.get("rlm", {}) or {}
        from scope_tui.patterns import skill_files

        try:
            ver = self.meta.get("skill_version")
            self.skill = skill_files.load(self.project, "rlm", int(ver) if ver else None)
            rules = self.skill.rules
        except Exception:  # a broken or missing skill must not stop the run: use the built-in limits
            self.skill, rules = None, {}  # type: ignore[assignment]
        fm = self.front = (self.skill.front if self.skill else {}) or {}
        rlm_fm = fm.get("rlm")
        self.front_rlm: dict[str, Any] = rlm_fm if isinstance(rlm_fm, dict) else {}
        # limits: the flag (the session's params), then the skill's front matter [rlm], then config [rlm]
        self.max_iter = int(self.opt("max_iter", rules.get("max_iterations") or MAX_ITER))
        self.max_depth = int(self.opt("max_depth", MAX_DEPTH))
        self.max_timeout = _num(self.opt("max_timeout", None))
        self.max_tokens = _num(self.opt("max_tokens", None))
        self.max_errors = _num(self.opt("max_errors", None))
        self.max_subcalls = max(1, int(self.opt("max_subcalls", MAX_SUBCALLS)))
        self.compact_tokens = _num(self.opt("compact_tokens", None))
        self.chunk_chars = int(self.opt("chunk_chars", CHUNK_CHARS))
        self.depth = int(self.params.get("rlm_depth", 0))
        self.max_parallel = self.max_subcalls
        self.started = time.monotonic()
        self.tokens = 0
        self.errors_in_a_row = 0
        self.compactions = 0
        self.calls: list[dict[str, Any]] = []  # the sub-calls of the block now running (trajectory)
        self.block_log: list[dict[str, Any]] = []
        self.tools = tools_of(self.cfg, self.depth, self.project.home)
        self.output_limit = int(self.params.get("output_limit") or cfg.get("output_limit", R.OUTPUT_LIMIT))
        self.timeout = float(self.params.get("block_timeout") or cfg.get("block_timeout", R.BLOCK_TIMEOUT))
        self.child_timeout = float(cfg.get("child_timeout", 1800))
        self.imports = [
            str(m)
            for m in [
                *(cfg.get("imports") or []),
                *(self.front_rlm.get("imports") or []),
                *(self.params.get("imports") or []),
            ]
        ]
        self.taint: set[str] = set()
        self._last_phase, self._last_tick = "observe", 0.0
        self.partial = ""
        self.block_final: str | None = None  # an answer a block gave (FINAL(), FINAL_VAR(), answer dict)

    def opt(self, key: str, default: Any) -> Any:
        """A limit: the flag (params) wins over the skill's front matter [rlm], which wins over config [rlm]."""
        sources: tuple[dict[str, Any], ...] = (self.params, self.front_rlm, self.cfg)
        for source in sources:
            if source.get(key) is not None:
                return source[key]
        return default

    def left(self) -> float | None:
        """Seconds of --max-timeout left, or None without one."""
        if self.max_timeout is None:
            return None
        return self.max_timeout - (time.monotonic() - self.started)

    def limit_hit(self) -> str | None:
        """The reason the run must end now (a limit passed), or None."""
        left = self.left()
        if left is not None and left <= 0:
            return f"max_timeout: {self.max_timeout:g}s of wall time used"
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"max_tokens: {self.tokens:,} tokens used of {int(self.max_tokens):,}"
        if self.max_errors is not None and self.errors_in_a_row >= self.max_errors:
            return f"max_errors: {self.errors_in_a_row} blocks in a row raised"
        return None

    # -- helpers given to the REPL (served by this process: the REPL has no keys) ----------------------
    def _hook(self, action: dict[str, Any]) -> str | None:
        try:
            return self.ctx.before_action(action)
        except Exception as exc:  # a broken checker must not kill the run
            events.append(self.dir, "error", where="before_action", message=str(exc)[:300])
            return None

    def llm_query(self, prompt: str, model: str | None = None) -> str:
        """A plain sub-call on the cheaper model (config [models.rlm_sub], else the operational one)."""
        refusal = self._hook({"kind": "llm_call", "prompt_chars": len(str(prompt))})
        if refusal:
            return f"[refused] {refusal}"
        meta = dict(self.meta, model=model) if model else self.meta
        m = model_for(
            self.project, meta, "rlm_sub", session_dir=self.dir
        )  # [models.rlm_sub], else operational
        t0 = time.perf_counter()
        reply = m.complete(
            [{"role": "user", "content": str(prompt)}], system="", max_tokens=2048, purpose="llm_query"
        )
        self.calls.append(
            {
                "root_model": getattr(reply, "model", "") or getattr(m, "name", ""),
                "prompt": str(prompt)[:4000],
                "response": reply.text[:4000],
                "usage_summary": {"model_usage_summaries": {}},
                "execution_time": round(time.perf_counter() - t0, 4),
            }
        )
        return reply.text

    def llm_query_batched(self, prompts: list[str], model: str | None = None) -> list[str]:
        """Several llm_query calls at once (threads); answers in the order of `prompts`."""
        prompts = [str(p) for p in prompts]
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_subcalls, len(prompts))) as pool:
            return list(pool.map(lambda p: self._safe(self.llm_query, p, model), prompts))

    def _safe(self, fn: Any, *a: Any) -> str:
        try:
            return str(fn(*a))
        except Exception as exc:
            return f"[error] {type(exc).__name__}: {exc}"

    def _spawn_child(self, prompt: str, sub_context: Any) -> str | dict[str, Any]:
        """Start one child RLM session; returns its id, or a dict with `answer` when no child is made."""
        size = size_of(sub_context)
        if self.depth + 1 > self.max_depth:
            events.append(
                self.dir,
                "decision",
                what="llm_query instead of rlm_query",
                why=f"depth {self.depth + 1} would pass max_depth {self.max_depth}",
            )
            text = sub_context if isinstance(sub_context, str) else json.dumps(sub_context)[:200_000]
            return {"answer": self.llm_query(f"{prompt}\n\n---\n{text}")}
        from scope_tui.patterns.engines.context import ChildSpec

        spec = ChildSpec(task=str(prompt), skill="rlm", role="rlm_query")
        refusal = self._hook(
            {
                "kind": "spawn",
                "spec": spec,
                "skill": "rlm",
                "context_chars": size,
                "parent_context_chars": self.context_size,
                "task": str(prompt),
                "context_tokens": size // 4,
                "parent_tokens": self.context_size // 4,
                "depth": self.depth + 1,
            }
        )
        if refusal:
            return {"answer": f"[refused] {refusal}"}
        from scope_tui.substrate.spawn import launch, spawn

        s = spawn(
            self.project,
            str(prompt),
            parent=self.ctx.sid,
            driver="pattern",
            level="tactical",
            skill="rlm",
            model=self.sub_model(),
            cwd=self.ctx.cwd,
            launch_now=False,
            params=self.child_params(),
            pattern="rlm",
            role="rlm_query",
        )
        if isinstance(sub_context, str):
            (s.dir / CHILD_CONTEXT[0]).write_text(sub_context)
        else:
            (s.dir / CHILD_CONTEXT[1]).write_text(json.dumps(sub_context))
        # sessions.create already wrote the `spawn` event (child id) here; this one adds the context size
        events.append(
            self.dir,
            "rlm_query",
            child=s.id,
            context_chars=size,
            context_tokens=size // 4,
            parent_context_chars=self.context_size,
            depth=self.depth + 1,
        )
        launch(self.project, s)
        return s.id

    def sub_model(self) -> str | None:
        """The children's model: [models.rlm_sub] when configured (the reference's other_backends), else ours."""
        models = self.full_cfg.get("models") or {}
        if isinstance(models, dict) and models.get("rlm_sub"):
            from scope_tui.models.select import spec_for

            return spec_for(self.full_cfg, {}, "rlm_sub").label
        return self.meta.get("model")

    def child_params(self) -> dict[str, Any]:
        """What a child inherits: its depth, the hard limits, what is left of the wall time."""
        out: dict[str, Any] = {"rlm_depth": self.depth + 1, "max_depth": self.max_depth}
        for key in ("max_tokens", "max_errors", "max_subcalls", "compact_tokens", "imports", "sandbox"):
            if self.params.get(key) is not None:
                out[key] = self.params[key]
        left = self.left()
        if left is not None:
            out["max_timeout"] = max(1.0, left)
        return out

    def _answers(self, sids: list[str | dict[str, Any]]) -> list[str]:
        from scope_tui.substrate.wait import wait

        live = [s for s in sids if isinstance(s, str)]
        done: dict[str, sessions.Session] = {}
        if live:
            left = self.left()  # children never outlast the run's max_timeout
            res = wait(
                self.project,
                live,
                timeout=self.child_timeout if left is None else max(1.0, min(self.child_timeout, left)),
            )
            done = {s.id: s for s in res.sessions}
        out = []
        for s in sids:
            if isinstance(s, dict):
                out.append(str(s["answer"]))
                continue
            child = done.get(s)
            text = (child.result() if child else None) or ""
            if child is None or child.status != "done":
                status = child.status if child else "unknown"
                reason = (child.state.get("reason") if child else "") or ""
                text = f"[child {s} {status}{': ' + reason if reason else ''}] {text}".strip()
            out.append(text.strip())
            self.calls.append(
                {
                    "root_model": str(child.meta.get("model") or "") if child else "",
                    "prompt": (child.meta.get("title") if child else "") or "",
                    "response": text.strip()[:4000],
                    "usage_summary": {"model_usage_summaries": {}},
                    "execution_time": 0.0,
                    "child": s,
                }
            )
            # a dive that came back with nothing: what the empty_dive_ratio rule counts
            events.append(
                self.dir,
                "dive",
                child=s,
                chars=len(text.strip()),
                empty=not text.strip(),
                ok=child is not None and child.status == "done",
            )
        return out

    def rlm_query(self, prompt: str, sub_context: Any = None) -> str:
        """Recurse: a child RLM session over `sub_context` (shown in the tree); waits for its answer."""
        return self._answers([self._spawn_child(prompt, sub_context if sub_context is not None else "")])[0]

    def rlm_query_batched(self, prompts: list[str], sub_contexts: list[Any] | None = None) -> list[str]:
        """Several child sessions at once: all spawned, then all waited for."""
        subs = list(sub_contexts) if sub_contexts is not None else [""] * len(prompts)
        if len(subs) != len(prompts):
            raise ValueError("rlm_query_batched needs as many sub_contexts as prompts")
        if len(prompts) <= self.max_subcalls:  # all at once: spawned, then waited for together
            return self._answers([self._spawn_child(str(p), c) for p, c in zip(prompts, subs, strict=True)])
        # at most max_subcalls children running: each slot spawns one and waits for it, then the next
        with ThreadPoolExecutor(max_workers=self.max_subcalls) as pool:
            return list(
                pool.map(lambda pc: self.rlm_query(str(pc[0]), pc[1]), zip(prompts, subs, strict=True))
            )

    # -- the loop -------------------------------------------------------------------------------------
    def system_prompt(self) -> str:
        body = self.skill.body if self.skill else "Answer the task by exploring `context` with code."
        note = " (rlm_query will answer with a plain llm_query)" if self.depth >= self.max_depth else ""
        return SYSTEM.format(
            skill=body.strip(),
            limit=self.output_limit,
            timeout=self.timeout,
            depth=self.depth,
            max_depth=self.max_depth,
            depth_note=note,
            chunk=self.chunk_chars,
            subcalls=self.max_subcalls,
            tools=(
                "\nYour own tools, callable in blocks: "
                + "; ".join(
                    f"{k}(...): {(getattr(f, '__doc__', '') or '').strip()[:200]}"
                    for k, f in self.tools.items()
                )
                if self.tools
                else ""
            ),
        )

    def first_message(self, task: str, context: Any) -> str:
        return f"TASK:\n{task.strip()}\n\nCONTEXT:\n{R.describe(context)}\n\nStart by looking at the context in a ```repl block."

    def turn(self, model: Model, messages: list[dict[str, Any]], system: str) -> str:
        reply = model.complete(messages, system=system, max_tokens=4096, purpose="rlm")
        usage = getattr(reply, "usage", None) or {}
        self.tokens += int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
        return reply.text

    def compact(self, model: Model, messages: list[dict[str, Any]], system: str) -> list[dict[str, Any]]:
        """Past `compact_tokens` (about 4 characters a token), the turns so far become one summary the
        model writes; the first message (task and context shape) and the last user message stay."""
        size = sum(len(str(m.get("content", ""))) for m in messages) // 4
        if self.compact_tokens is None or size < self.compact_tokens or len(messages) < 3:
            return messages
        ask = {
            "role": "user",
            "content": messages[-1]["content"]
            + "\n\nThe history is getting long. Summarise your progress so far for yourself: what you "
            "found, which REPL variables hold what, and what is left to do. No code block this time.",
        }
        summary = model.complete(
            [*messages[:-1], ask], system=system, max_tokens=2048, purpose="compaction"
        ).text
        self.compactions += 1
        events.append(
            self.dir,
            "decision",
            what="compaction",
            why=f"history ~{size:,} tokens >= {int(self.compact_tokens):,}",
        )
        head = str(messages[0]["content"])
        return [
            {
                "role": "user",
                "content": f"{head}\n\nYOUR SUMMARY OF THE WORK SO FAR (the history was compacted; the REPL "
                f"variables are all still there):\n{summary}\n\n{messages[-1]['content']}",
            }
        ]

    def run_blocks(self, repl: R.Repl, text: str, iteration: int) -> list[str]:
        outputs = []
        for i, code in enumerate(P.code_blocks(text)):
            looks = R.classify(code, tainted=self.taint)
            # a block that recurses or calls a model is that sub-call, whatever it prints: checked as one
            sub = R.subcall_kind(code)
            kind = sub or looks
            action = {"kind": kind, "code": code[:2000], "iteration": iteration, "block": i}
            refusal = self._hook(action)
            if refusal:
                events.append(self.dir, "decision", what=f"{kind} refused", why=refusal)
                outputs.append(f"[block {i + 1} was not run] {refusal}")
                continue
            fields = {
                "code": code[:2000],
                "iteration": iteration,
                "block": i,
                "context_chars": self.context_size,
            }
            # a sub-call block is recorded as an exec (its spawns and calls record themselves): it is
            # no look at the context, so "spawned before any peek" fires; any other block after it
            # ran, with what it found (a grep's hits feed the grep_hit_limit rule)
            early = sub is not None
            if early:
                events.append(self.dir, "exec", calls=sub, looks=looks, **fields)
            self.calls = []
            res = repl.run(code, cap=self.left())
            self.block_log.append({"code": code, "result": self._result_entry(res)})
            self.errors_in_a_row = self.errors_in_a_row + 1 if res.error else 0
            if not early:
                if kind == "grep" and not res.error:
                    hits = repl.measure(R.assigned_names(code))
                    if hits is not None:
                        fields["hits"] = hits
                events.append(self.dir, kind, output_chars=len(res.output), **fields)
            if res.timed_out or res.error:
                events.append(
                    self.dir,
                    "error",
                    where=f"repl block {i + 1}",
                    timed_out=res.timed_out,
                    restarted=res.restarted,
                    message=(res.error or "")[:300],
                )
            if res.restarted:
                self.taint = set()
            if res.output.strip() and not res.error:
                self.partial = res.output.strip()
            outputs.append(res.render())
            first = next((ln for ln in res.output.splitlines() if ln.strip()), "(no output)")
            self.ctx.say(f"  [{iteration}.{i + 1}] {kind:<9} {first[:100]}")
            if res.final is not None:  # FINAL(), FINAL_VAR() or answer["ready"] inside the block
                self.block_final = res.final
                break
            if self.limit_hit():
                break
        return outputs

    def _result_entry(self, res: R.BlockResult) -> dict[str, Any]:
        """A block's result in the reference logger's REPLResult shape (trajectory.jsonl)."""
        return {
            "stdout": res.output.replace(res.error, "").strip("\n") if res.error else res.output,
            "stderr": res.error or "",
            "locals": {},
            "execution_time": round(res.seconds, 4),
            "rlm_calls": list(self.calls),
            "final_answer": res.final,
        }

    def run(self) -> int:
        task = self.ctx.task()
        self.ctx.begin("loading the context into the REPL")
        try:
            context = read_context(context_paths(self.dir, self.params), self.dir)
        except (OSError, ValueError) as exc:
            return self.ctx.finish(False, f"could not read the context: {exc}", "missing_context")
        self.context_size = size_of(context)
        sessions.update_state(self.dir, context_chars=self.context_size, depth=self.depth)
        self.ctx.say(f"rlm: depth {self.depth}, context {R.describe(context)}")
        model = model_for(self.project, self.meta, "tactical", session_dir=self.dir)
        system = self.system_prompt()
        messages: list[dict[str, Any]] = [{"role": "user", "content": self.first_message(task, context)}]
        fns: dict[str, Any] = {
            **self.tools,
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "rlm_query": self.rlm_query,
            "rlm_query_batched": self.rlm_query_batched,
        }
        self.trajectory = Trajectory(self.dir)
        self.trajectory.metadata(
            root_model=getattr(model, "name", "") or str(self.meta.get("model") or ""),
            max_depth=self.max_depth,
            max_iterations=self.max_iter,
            backend=type(model).__name__,
            other_backends=[self.sub_model()] if self.sub_model() != self.meta.get("model") else None,
            depth=self.depth,
        )
        repl = self.make_repl(context, fns)
        try:
            return self._loop(repl, model, system, messages)
        except Exception as exc:
            if sessions.load_dir(self.dir).terminal:  # e.g. the budget escalated it: keep the best so far
                sessions.write_result(self.dir, self._partial_text(f"{type(exc).__name__}: {exc}"))
                return 1
            events.append(self.dir, "error", where="rlm", message=f"{type(exc).__name__}: {exc}"[:500])
            return self.ctx.finish(
                False,
                self._partial_text(f"{type(exc).__name__}: {exc}"),
                f"error: {type(exc).__name__}: {str(exc)[:200]}",
            )
        finally:
            repl.close()

    def make_repl(self, context: Any, fns: dict[str, Any]) -> R.Repl:
        """The contained REPL: rlimits from [rlm], imports the skill or config allows, bwrap when asked."""
        from scope_tui.substrate import sandbox

        lim = R.Limits()
        for key in ("cpu_seconds", "memory_mb", "open_files", "processes"):
            if self.cfg.get(key) is not None:
                setattr(lim, key, int(self.cfg[key]))
        wrap = None
        if config.sandbox_wanted(self.params, self.full_cfg):
            probe = sandbox.probe()
            if probe.ok:
                writable = [self.dir, self.ctx.cwd] if self.ctx.cwd != self.project.home else [self.dir]
                hidden = sandbox.hidden_paths(self.project.root)

                def wrap(argv: list[str]) -> list[str]:
                    return sandbox.wrap(argv, readonly=[self.project.home], writable=writable, hidden=hidden)

                events.append(self.dir, "decision", what="sandbox", why=probe.why)
            else:
                self.ctx.say(f"rlm: no sandbox: {probe.why}; the REPL runs contained but unsandboxed")
                events.append(self.dir, "error", where="sandbox", message=probe.why)
        return R.Repl(
            context,
            fns,
            output_limit=self.output_limit,
            timeout=self.timeout,
            imports=self.imports,
            limits=lim,
            wrap=wrap,
            reap=os.environ.get("SCOPE_SESSION_ID") == self.ctx.sid,  # this process is the session's own
        )

    def _limit_end(self, why: str) -> int:
        events.append(self.dir, "decision", what="limit", why=why)
        return self.ctx.finish(False, self._partial_text(why), why)

    def _partial_text(self, why: str) -> str:
        return f"No final answer ({why}).\n\nBest partial answer (last REPL output):\n{self.partial or '(none)'}\n"

    def _phase(self, name: str, why: str) -> None:
        # only changes are written: a state write a step would cost more than the REPL step itself
        if name != self._last_phase:
            self._last_phase = name
            self.ctx.phase(name, why)

    def _tick(self, it: int) -> bool:
        """Note the iteration in state.json at human speed (at most 4 writes a second); True when written."""
        now = time.monotonic()
        if it > 1 and now - self._last_tick < 0.25 and it <= self.max_iter:
            return False
        self._last_tick = now
        sessions.update_state(self.dir, iteration=it)
        return True

    def _loop(self, repl: R.Repl, model: Any, system: str, messages: list[dict[str, Any]]) -> int:
        self._last_phase, self._last_tick = "observe", 0.0
        self.started = time.monotonic()  # max_timeout counts from the first turn: set-up is not the run's
        last_chance = False
        for it in range(1, self.max_iter + 2):
            if it > self.max_iter:
                last_chance = True
                messages[-1]["content"] += (
                    "\n\nYou have used every iteration. Answer now: put FINAL(your answer) or "
                    "FINAL_VAR(variable) at the start of a line. This is the last turn."
                )
            if self._tick(it) and sessions.load_dir(self.dir).terminal:  # killed or escalated meanwhile
                return 1
            if it == 1:  # then the loop stays in act: a phase write a turn costs more than the step
                self._phase("orient", "iteration 1: asking the model")
            why = self.limit_hit()
            if why:
                return self._limit_end(why)
            messages = self.compact(model, messages, system)
            t_turn = time.perf_counter()
            text = self.turn(model, messages, system)
            asked = messages[-1]["content"]
            messages.append({"role": "assistant", "content": text or "(empty)"})
            self._phase("act", f"iteration {it}: running its blocks")
            self.block_final = None
            self.block_log = []
            outputs = self.run_blocks(repl, text, it)
            final = P.final_of(text)
            answer = (
                self.block_final
                if self.block_final is not None
                else (final[1] if final and final[0] == "text" else None)
            )
            if final and final[0] == "var" and self.block_final is None:
                found, value = repl.get(final[1])
                answer = value if found else None
            self.trajectory.iteration(it, asked, text, self.block_log, answer, time.perf_counter() - t_turn)
            note = ""
            if self.block_final is not None:
                events.append(self.dir, "decision", what="final", via="block", iteration=it)
                sessions.update_state(self.dir, iteration=it)
                return self.ctx.finish(True, self.block_final)
            if final and final[0] == "var":
                found, value = repl.get(final[1])
                if found:
                    events.append(
                        self.dir, "decision", what="final", via="FINAL_VAR", var=final[1], iteration=it
                    )
                    sessions.update_state(self.dir, iteration=it)
                    return self.ctx.finish(True, value)
                note = (
                    f"FINAL_VAR({final[1]}): there is no variable named {final[1]!r} in the REPL, so the "
                    "run goes on. Define it in a ```repl block, then answer again."
                )
            elif final:
                events.append(self.dir, "decision", what="final", via="FINAL", iteration=it)
                sessions.update_state(self.dir, iteration=it)
                return self.ctx.finish(True, final[1])
            if last_chance:
                break
            why = self.limit_hit()
            if why:
                return self._limit_end(why)
            parts = [f"[block {i + 1} output]\n{o}" for i, o in enumerate(outputs)]
            if not outputs and not note:
                parts.append(
                    "No ```repl block and no FINAL in your reply. Write code in a ```repl block, "
                    "or answer with FINAL(...) / FINAL_VAR(...) at the start of a line."
                )
            if note:
                parts.append(note)
            parts.append(f"(iteration {it} of {self.max_iter})")
            messages.append({"role": "user", "content": "\n\n".join(parts)})
        why = f"{self.max_iter} iterations used and no final answer in the last turn"
        return self.ctx.finish(False, self._partial_text(why), why)


def run(ctx_or_session_dir: Any) -> int:
    """Run the RLM session; returns the process exit code (0 done, 1 failed)."""
    return RlmRun(ctx_or_session_dir).run()


if __name__ == "__main__":  # python -m scope_tui.patterns.rlm.engine SESSION_DIR (debugging)
    t0 = time.time()
    sys.exit(run(Path(sys.argv[1])))
