"""The RLM REPL: a persistent Python namespace where the context is a variable, never a prompt.

`ReplCore` runs blocks in this process with a per-block timeout (a timer signal raises inside the
block, so the namespace survives). `Repl` runs a ReplCore in a forked child so that a block stuck in
native code (where no signal reaches Python) can be ended: the child is killed and a fresh one forked
from this process (context intact, variables lost), and the caller is told.

Also here: finding ```repl blocks and FINAL / FINAL_VAR in a reply, and telling from a block's syntax
tree whether it peeks at, greps or partitions the context.
"""

from __future__ import annotations

import ast
import contextlib
import io
import multiprocessing as mp
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OUTPUT_LIMIT = 20_000
BLOCK_TIMEOUT = 30.0

_BLOCK = re.compile(r"^```repl[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
# FINAL_VAR(name) / FINAL(text), each only at the start of a line (outside repl blocks).
_FINAL_VAR = re.compile(r"^FINAL_VAR\(\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?\s*\)", re.M)
_FINAL = re.compile(r"^FINAL\((.*)\)\s*$", re.M | re.S)


# ------------------------------------------------------------------------------------- reply parsing


def code_blocks(text: str) -> list[str]:
    """The ```repl blocks of a reply, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def _outside_blocks(text: str) -> str:
    return _BLOCK.sub("", text)


def final_of(text: str) -> tuple[str, str] | None:
    """("var", name) or ("text", answer) when the reply ends the run, else None.

    FINAL_VAR takes precedence over FINAL; either counts only at the start of a line, outside blocks.
    """
    rest = _outside_blocks(text)
    m = _FINAL_VAR.search(rest)
    if m:
        return ("var", m.group(1))
    m = _FINAL.search(rest)
    if m:
        ans = m.group(1).strip()
        if len(ans) >= 2 and ans[0] == ans[-1] and ans[0] in "\"'":
            ans = ans[1:-1]
        return ("text", ans)
    return None


# ------------------------------------------------------------------------------------- classification

_GREP_METHODS = {"find", "rfind", "index", "rindex", "count", "startswith", "endswith", "search", "findall"}
_PARTITION_METHODS = {"split", "splitlines", "partition", "rpartition", "chunk", "chunks"}
_SUBCALLS = {"llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched"}


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _targets(t: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}


def classify(code: str, context_name: str = "context", tainted: set[str] | None = None) -> str:
    """'partition', 'grep', 'peek' or 'exec': what a block does with the context, from its syntax tree.

    A name is tainted when it is the context or is computed from it (assignments, for-loops and
    comprehensions propagate it). `tainted` carries names tainted by earlier blocks and is updated.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "exec"
    taint = tainted if tainted is not None else set()
    taint.add(context_name)
    # propagate taint to a fixed point (a few passes are enough for straight-line REPL code)
    for _ in range(4):
        before = len(taint)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                if _names(node.value) & taint:
                    for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                        taint |= _targets(t)
            elif isinstance(node, (ast.For, ast.comprehension)) and _names(node.iter) & taint:
                taint |= _targets(node.target)
            elif isinstance(node, ast.NamedExpr) and _names(node.value) & taint:
                taint.add(node.target.id)
        if len(taint) == before:
            break

    def touches(n: ast.AST) -> bool:
        return bool(_names(n) & taint)

    if not touches(tree):
        return "exec"
    grep = partition = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            args = [*node.args, *(k.value for k in node.keywords)]
            if isinstance(f, ast.Attribute):
                recv = f.value
                if isinstance(recv, ast.Name) and recv.id == "re" and any(touches(a) for a in args):
                    grep = grep or f.attr not in ("split",)
                    partition = partition or f.attr == "split"
                elif touches(recv) and f.attr in _GREP_METHODS:
                    grep = True
                elif touches(recv) and f.attr in _PARTITION_METHODS and f.attr != "splitlines":
                    partition = True
                elif f.attr in ("search", "findall", "finditer", "match", "fullmatch") and any(
                    touches(a) for a in args
                ):
                    grep = True  # a compiled pattern applied to the context
            elif isinstance(f, ast.Name) and f.id.endswith("_batched") and any(touches(a) for a in args):
                partition = True
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            if any(touches(c) for c in node.comparators):
                grep = True
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and touches(node.value):
            # a slice whose bounds move (i, i+n) cuts the context into pieces
            sl = node.slice
            if any(b is not None and not isinstance(b, ast.Constant) for b in (sl.lower, sl.upper)):
                if any(isinstance(x, (ast.For, ast.comprehension)) for x in ast.walk(tree)):
                    partition = True
    if partition:
        return "partition"
    if grep:
        return "grep"
    return "peek"


def makes_subcalls(code: str) -> bool:
    """True when the block calls llm_query / rlm_query (or their batched forms)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.Name) and n.id in _SUBCALLS for n in ast.walk(tree))


def assigned_names(code: str) -> list[str]:
    """Names a block assigns at its top level from a search: a filtering comprehension, re.findall and
    the like, or str.count (what a grep's hits are measured from; `lines = context.splitlines()` is not)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []

    def searches(value: ast.AST) -> bool:
        for n in ast.walk(value):
            if isinstance(n, ast.comprehension) and n.ifs:
                return True
            if (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr in ("findall", "finditer", "count", "search", "match")
            ):
                return True
        return False

    out: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and searches(node.value):
            for t in node.targets:
                out += [n.id for n in ast.walk(t) if isinstance(n, ast.Name) and n.id not in out]
        elif isinstance(node, ast.AnnAssign) and node.value is not None and searches(node.value):
            out += [n.id for n in ast.walk(node.target) if isinstance(n, ast.Name) and n.id not in out]
    return out


def measure(ns: dict[str, Any], names: list[str]) -> int | None:
    """The largest size among `names`: a collection's length or a whole number's value (a grep's hits)."""
    sizes = []
    for n in names:
        v = ns.get(n)
        if isinstance(v, (list, tuple, set, frozenset, dict)):
            sizes.append(len(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            sizes.append(v)
    return max(sizes) if sizes else None


# ------------------------------------------------------------------------------------- running blocks


class BlockTimeout(BaseException):
    """Raised inside a block by the timer signal. BaseException: a bare `except Exception` in the
    model's code must not swallow it."""


@dataclass
class BlockResult:
    output: str
    error: str | None = None
    timed_out: bool = False
    restarted: bool = False
    seconds: float = 0.0
    cut: int = 0  # characters cut from the output

    def render(self) -> str:
        """What the model sees of this block."""
        return self.output if self.output.strip() else "(no output)"


def cut_output(text: str, limit: int) -> tuple[str, int]:
    """`text` cut to `limit` characters with a note of how much was cut; returns (text, cut)."""
    if len(text) <= limit:
        return text, 0
    n = len(text) - limit
    return text[:limit] + f"\n... [output cut: {n:,} of {len(text):,} characters not shown; print less]", n


def describe(context: Any) -> str:
    """Type, size and structure of the context: what the prompt may say about it (never its text)."""
    if isinstance(context, str):
        lines = context.count("\n") + (1 if context and not context.endswith("\n") else 0)
        return f"`context` is a str of {len(context):,} characters in {lines:,} lines (~{len(context) // 4:,} tokens)."
    if isinstance(context, dict):
        total = sum(len(v) for v in context.values() if isinstance(v, str))
        names = list(context)
        shown = ", ".join(f"{k} ({len(v):,} chars)" for k, v in list(context.items())[:40])
        more = f", and {len(names) - 40} more" if len(names) > 40 else ""
        return (
            f"`context` is a dict of {len(names)} files (name -> text), {total:,} characters in all "
            f"(~{total // 4:,} tokens): {shown}{more}."
        )
    if isinstance(context, list):
        return f"`context` is a list of {len(context)} items."
    return f"`context` is a {type(context).__name__}."


class _Timer:
    """A per-block CPU-of-the-REPL timer that sub-calls can pause (waiting on a model is not looping)."""

    def __init__(self) -> None:
        self.left = 0.0
        self.on_pause: Callable[[bool], None] | None = None

    def start(self, seconds: float) -> None:
        self.left = seconds
        if seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, seconds)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    @contextlib.contextmanager
    def paused(self):  # type: ignore[no-untyped-def]
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
        if self.on_pause:
            self.on_pause(True)
        try:
            yield
        finally:
            if self.on_pause:
                self.on_pause(False)
            if left > 0:
                signal.setitimer(signal.ITIMER_REAL, left)


class ReplCore:
    """A persistent namespace with `context` in it; runs blocks in this (main) thread with a timeout."""

    def __init__(
        self,
        context: Any,
        functions: dict[str, Callable[..., Any]] | None = None,
        *,
        output_limit: int = OUTPUT_LIMIT,
        timeout: float = BLOCK_TIMEOUT,
    ) -> None:
        self.output_limit = output_limit
        self.timeout = timeout
        self.timer = _Timer()
        self.ns: dict[str, Any] = {"__name__": "__repl__", "context": context}
        import re as _re

        self.ns["re"] = _re

        def misplaced(*_a: Any, **_k: Any) -> None:
            print(
                "(FINAL / FINAL_VAR are not functions: write them in your reply, outside the block, at the start of a line)"
            )

        self.ns["FINAL"] = self.ns["FINAL_VAR"] = misplaced
        for name, fn in (functions or {}).items():
            self.ns[name] = self._pausing(fn)

    def _pausing(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        timer = self.timer

        def call(*a: Any, **kw: Any) -> Any:
            with timer.paused():
                return fn(*a, **kw)

        call.__name__ = getattr(fn, "__name__", "fn")
        call.__doc__ = fn.__doc__
        return call

    def run(self, code: str) -> BlockResult:
        """Run one block; stdout and the last expression's value are its output."""
        buf = io.StringIO()
        t0 = time.perf_counter()
        error: str | None = None
        timed_out = False

        def on_alarm(signum: int, frame: Any) -> None:
            raise BlockTimeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                try:
                    tree = ast.parse(code, "<repl>", "exec")
                    last = None
                    tail = tree.body[-1] if tree.body else None
                    if isinstance(tail, ast.Expr):
                        tree.body.pop()
                        last = ast.Expression(tail.value)
                    self.timer.start(self.timeout)
                    try:
                        exec(compile(tree, "<repl>", "exec"), self.ns)
                        if last is not None:
                            val = eval(compile(last, "<repl>", "eval"), self.ns)
                            if val is not None:
                                print(repr(val))
                    finally:
                        self.timer.stop()
                except BlockTimeout:
                    timed_out = True
                    error = f"TimeoutError: the block ran longer than {self.timeout:g}s and was stopped"
                except SyntaxError:
                    error = traceback.format_exc(limit=0).strip()
                except Exception:
                    tb = traceback.format_exc().strip().splitlines()
                    error = "\n".join(tb[-6:])
        finally:
            signal.signal(signal.SIGALRM, old)
        out = buf.getvalue()
        if error:
            out = (out + ("\n" if out and not out.endswith("\n") else "") + error).strip("\n")
            if timed_out:
                out += "\n(the namespace is intact: your variables are still defined)"
        out, cut = cut_output(out, self.output_limit)
        return BlockResult(out, error, timed_out, False, time.perf_counter() - t0, cut)

    def measure(self, names: list[str]) -> int | None:
        return measure(self.ns, names)

    def get(self, name: str) -> tuple[bool, str]:
        """(found, value as text) of a namespace variable, for FINAL_VAR."""
        if name not in self.ns or name in ("__builtins__",):
            return False, ""
        v = self.ns[name]
        return True, v if isinstance(v, str) else str(v)


# ------------------------------------------------------------------------------------- the isolated REPL


def _die_with_parent() -> None:
    """Linux: SIGKILL this REPL when the engine that forked it dies (a killed session leaves no stray loop)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_main(conn: Any, core: ReplCore) -> None:
    _die_with_parent()
    core.timer.on_pause = lambda paused: conn.send(("pause" if paused else "resume", None))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            op, arg = conn.recv()
        except (EOFError, OSError):
            return
        if op == "run":
            res = core.run(arg)
            conn.send(("result", res))
        elif op == "get":
            conn.send(("value", core.get(arg)))
        elif op == "measure":
            conn.send(("value", core.measure(arg)))
        elif op == "stop":
            return


@dataclass
class Repl:
    """A ReplCore in a forked child. A block that overruns its timeout by `grace` seconds without the
    timer stopping it (stuck in native code) gets the child killed and a fresh one forked: the
    context survives, the variables do not, and the block's output says so."""

    context: Any
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    output_limit: int = OUTPUT_LIMIT
    timeout: float = BLOCK_TIMEOUT
    grace: float = 3.0
    restarts: int = 0

    def __post_init__(self) -> None:
        self._proc: Any = None
        self._conn: Any = None
        self._start()

    def _start(self) -> None:
        core = ReplCore(self.context, self.functions, output_limit=self.output_limit, timeout=self.timeout)
        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_child_main, args=(child, core), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            try:
                os.kill(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()

    def run(self, code: str) -> BlockResult:
        t0 = time.perf_counter()
        self._conn.send(("run", code))
        budget = self.timeout + self.grace if self.timeout > 0 else None
        paused_at: float | None = None
        deadline = None if budget is None else time.monotonic() + budget
        while True:
            wait = (
                None if (deadline is None or paused_at is not None) else max(0.0, deadline - time.monotonic())
            )
            try:
                ready = self._conn.poll(wait)
            except (EOFError, OSError):
                ready = True
            if not ready:
                return self._restart(t0, "it did not stop at its timeout (stuck outside Python?)")
            try:
                op, val = self._conn.recv()
            except (EOFError, OSError):
                return self._restart(t0, "the REPL process died")
            if op == "pause":
                paused_at = time.monotonic()
            elif op == "resume":
                if deadline is not None and paused_at is not None:
                    deadline += time.monotonic() - paused_at
                paused_at = None
            elif op == "result":
                return val  # type: ignore[no-any-return]

    def _restart(self, t0: float, why: str) -> BlockResult:
        self._kill()
        self.restarts += 1
        self._start()
        msg = (
            f"TimeoutError: the block was stopped because {why}. The REPL was restarted: `context` and the "
            "helper functions are there again, but every variable you defined earlier is gone."
        )
        return BlockResult(msg, msg, True, True, time.perf_counter() - t0)

    def measure(self, names: list[str]) -> int | None:
        if not names:
            return None
        self._conn.send(("measure", names))
        while True:
            op, val = self._conn.recv()
            if op == "value":
                return val  # type: ignore[no-any-return]

    def get(self, name: str) -> tuple[bool, str]:
        self._conn.send(("get", name))
        while True:
            op, val = self._conn.recv()
            if op == "value":
                return val  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            self._conn.send(("stop", None))
        except (OSError, ValueError):
            pass
        if self._proc is not None:
            self._proc.join(2)
        self._kill()

    def __enter__(self) -> Repl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
