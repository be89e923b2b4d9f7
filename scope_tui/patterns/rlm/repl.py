"""The RLM REPL: a persistent Python namespace where the context is a variable, never a prompt.

`ReplCore` runs blocks with a per-block timeout (a timer signal raises inside the block, so the
namespace survives) in a guarded namespace (no eval / exec / compile / input, imports from an
allow-list). `Repl` runs a ReplCore in its own contained process (child.py) whose deadline the engine
alone keeps: a block stuck in native code is ended by killing that process group and starting a fresh
REPL (context intact, variables lost), and the caller is told.

Also here: telling from a block's syntax tree whether it peeks at, greps or partitions the context.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OUTPUT_LIMIT = 20_000
BLOCK_TIMEOUT = 30.0

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


def subcall_kind(code: str) -> str | None:
    """'spawn' when the block calls rlm_query / rlm_query_batched, 'llm_call' when it calls llm_query /
    llm_query_batched, else None: a block that makes sub-calls is one, whatever else it prints."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    called = {
        n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    } & _SUBCALLS
    if called & {"rlm_query", "rlm_query_batched"}:
        return "spawn"
    return "llm_call" if called else None


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


# ------------------------------------------------------------------------------------- the namespace

# What `import` may reach in a block (the top-level name), unless a skill or config allows more. A
# guard against a model's slips, not a boundary: the boundary is the process (rlimits, no keys, bwrap).
ALLOWED_IMPORTS = (
    "re json math cmath collections itertools functools operator statistics textwrap difflib string "
    "random datetime decimal fractions heapq bisect dataclasses typing enum copy pprint unicodedata "
    "hashlib base64 csv io time calendar array struct zlib"
).split()
_REMOVED_BUILTINS = ("eval", "exec", "compile", "input", "breakpoint", "globals", "locals")


def guarded_builtins(allowed: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The builtins a block sees: no eval / exec / compile / input, and an `__import__` that takes only
    the allowed top-level modules."""
    import builtins

    ns = {k: v for k, v in vars(builtins).items() if k not in _REMOVED_BUILTINS}
    real = builtins.__import__
    ok = set(allowed)

    def guarded_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        if level or name.partition(".")[0] not in ok:
            raise ImportError(
                f"import {name!r} is not allowed in this REPL (allowed: {', '.join(sorted(ok))})"
            )
        return real(name, globals, locals, fromlist, level)

    ns["__import__"] = guarded_import
    return ns


class _Answer(dict):  # type: ignore[type-arg]
    """`answer`: a dict with `content` and `ready`; setting `ready` true ends the run with `content`."""

    def __init__(self, on_ready: Callable[[Any], None]) -> None:
        super().__init__(content="", ready=False)
        self._on_ready = on_ready

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if key == "ready" and value:
            self._on_ready(self.get("content", ""))


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
    final: str | None = None  # the answer the block gave through FINAL(), FINAL_VAR() or `answer`

    def render(self) -> str:
        """What the model sees of this block."""
        return self.output if self.output.strip() else "(no output)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "error": self.error,
            "timed_out": self.timed_out,
            "seconds": self.seconds,
            "cut": self.cut,
            "final": self.final,
        }

    @classmethod
    def from_wire(cls, msg: dict[str, Any]) -> BlockResult:
        """A result frame from the REPL process, each field forced to its type (the process is untrusted)."""

        def text(v: Any) -> str | None:
            return None if v is None else str(v)

        def num(v: Any) -> float:
            return float(v) if isinstance(v, (int, float)) else 0.0

        return cls(
            str(msg.get("output", "")),
            text(msg.get("error")),
            msg.get("timed_out") is True,
            False,
            num(msg.get("seconds")),
            int(num(msg.get("cut"))),
            text(msg.get("final")),
        )


def cut_output(text: str, limit: int) -> tuple[str, int]:
    """`text` cut to `limit` characters with a note of how much was cut; returns (text, cut)."""
    if len(text) <= limit:
        return text, 0
    n = len(text) - limit
    return text[:limit] + f"\n... [output cut: {n:,} of {len(text):,} characters not shown; print less]", n


class _Timer:
    """A per-block timer inside the REPL that sub-calls pause (waiting on a model is not looping). It
    only makes a block stop politely; the engine's own deadline is what bounds it."""

    def start(self, seconds: float) -> None:
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
        try:
            yield
        finally:
            if left > 0:
                signal.setitimer(signal.ITIMER_REAL, left)


def _traceback(exc: BaseException) -> str:
    """The error as the model should see it: the frames of its own block (and below), not the REPL's."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<repl>":
        tb = tb.tb_next
    lines = "".join(traceback.format_exception(type(exc), exc, tb)).strip().splitlines()
    return "\n".join(lines[-6:])


class ReplCore:
    """A persistent namespace with `context` in it; runs blocks in this (main) thread with a timeout."""

    def __init__(
        self,
        context: Any,
        functions: dict[str, Callable[..., Any]] | None = None,
        *,
        output_limit: int = OUTPUT_LIMIT,
        timeout: float = BLOCK_TIMEOUT,
        imports: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        import re as _re

        self.output_limit = output_limit
        self.timeout = timeout
        self.timer = _Timer()
        self.final: str | None = None
        allowed = list(ALLOWED_IMPORTS) + list(imports or [])
        self.ns: dict[str, Any] = {
            "__name__": "__repl__",
            "__builtins__": guarded_builtins(allowed),
            "context": context,
            "re": _re,
        }
        self.ns["FINAL"] = self._final
        self.ns["FINAL_VAR"] = self._final_var
        self.ns["answer"] = _Answer(self._answer)
        for name, fn in (functions or {}).items():
            self.ns[name] = self._pausing(fn)

    # -- the three ways a block answers ------------------------------------------------------------
    def _final(self, value: Any) -> None:
        """FINAL(value): end the run with this answer."""
        self.final = value if isinstance(value, str) else str(value)
        print("(final answer given)")

    def _final_var(self, name: Any) -> None:
        """FINAL_VAR("name"): end the run with the value of that variable."""
        found, value = self.get(str(name))
        if not found:
            print(f"FINAL_VAR({name!r}): there is no variable named {name!r}; define it, then call again")
            return
        self._final(value)

    def _answer(self, content: Any) -> None:
        self.final = content if isinstance(content, str) else str(content)

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
        self.final = None

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
                except Exception as exc:
                    error = _traceback(exc)
        finally:
            signal.signal(signal.SIGALRM, old)
        ans = self.ns.get("answer")
        if isinstance(ans, dict) and not isinstance(ans, _Answer):
            # rebound to a plain dict: read it, then put the real one back with its keys (another
            # value is the model's own variable, as FINAL_VAR(answer) in the older form expects)
            if ans.get("ready") and self.final is None:
                self._answer(ans.get("content", ""))
            self.ns["answer"] = _Answer(self._answer)
            dict.update(self.ns["answer"], ans)
        out = buf.getvalue()
        if error:
            out = (out + ("\n" if out and not out.endswith("\n") else "") + error).strip("\n")
            if timed_out:
                out += "\n(the namespace is intact: your variables are still defined)"
        out, cut = cut_output(out, self.output_limit)
        return BlockResult(out, error, timed_out, False, time.perf_counter() - t0, cut, self.final)

    def measure(self, names: list[str]) -> int | None:
        return measure(self.ns, names)

    def get(self, name: str) -> tuple[bool, str]:
        """(found, value as text) of a namespace variable, for FINAL_VAR."""
        if name not in self.ns or name in ("__builtins__",):
            return False, ""
        v = self.ns[name]
        if isinstance(v, _Answer):  # the answer dict stands for its content, once it is ready
            if not v.get("ready"):
                return False, ""
            v = v.get("content", "")
        return True, v if isinstance(v, str) else str(v)


# ------------------------------------------------------------------------------------- the contained REPL


@dataclass
class Limits:
    """What the REPL process may use: CPU seconds, address space, open files, more processes."""

    cpu_seconds: int = 600
    memory_mb: int = 4096
    open_files: int = 256
    processes: int = 32  # beyond the ones the user already runs (RLIMIT_NPROC counts per user)

    def rlimits(self) -> dict[str, int]:
        running = sum(1 for p in os.listdir("/proc") if p.isdigit()) if os.path.isdir("/proc") else 0
        return {
            "cpu": self.cpu_seconds,
            "as": self.memory_mb << 20,
            "nofile": self.open_files,
            "nproc": running + self.processes,
        }


def _set_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux), so a setsid double-fork is still ours."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _children_of(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the fields start after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(p))
    return out


@dataclass
class Repl:
    """A ReplCore in its own contained process (child.py): cleared environment, rlimits, own process
    group, optionally under bwrap (`wrap` turns the argv into the sandboxed one).

    The deadline is this side's alone: a block gets `timeout + grace` seconds of wall time, extended
    only while this side serves a sub-call, and then the process group is stopped (SIGSTOP) so that no
    block computes on unmetered time. Past the deadline the group is killed whole and a fresh REPL
    started: the context survives, the variables do not, and the block's output says so. With `reap`
    (the session's own process) this process adopts orphans, and kills them with the REPL."""

    context: Any
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    output_limit: int = OUTPUT_LIMIT
    timeout: float = BLOCK_TIMEOUT
    grace: float = 3.0
    imports: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    wrap: Callable[[list[str]], list[str]] | None = None
    reap: bool = False
    restarts: int = 0

    def __post_init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self.pid: int | None = None  # the REPL's pid (inside a sandbox: bwrap's)
        if self.reap:
            self.reap = _set_subreaper()
        self._start()

    def _start(self) -> None:
        from scope_tui.patterns.rlm import child

        mine, theirs = socket.socketpair()
        argv = [sys.executable, "-I", "-m", "scope_tui.patterns.rlm.child", str(theirs.fileno())]
        if self.wrap is not None:
            argv = self.wrap(argv)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
        self._proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,  # its own process group, killed whole
            cwd="/",
        )
        theirs.close()
        self._sock = mine
        self.pid = self._proc.pid
        raw = isinstance(self.context, str)
        child.send(
            mine,
            {
                "op": "init",
                "raw_context": raw,
                "context": None if raw else self.context,
                "functions": list(self.functions),
                "docs": {k: getattr(f, "__doc__", None) for k, f in self.functions.items()},
                "output_limit": self.output_limit,
                "timeout": self.timeout,
                "imports": self.imports,
                "limits": self.limits.rlimits(),
            },
        )
        if raw:
            child.send_bytes(mine, self.context.encode())
        msg = self._recv(60.0)
        if msg is None or msg.get("op") != "ready":
            self._kill()
            raise RuntimeError("the REPL process did not start")

    def _recv(self, seconds: float | None) -> dict[str, Any] | None:
        """The next frame within `seconds`, or None (timeout, closed, or garbage)."""
        from scope_tui.patterns.rlm import child

        assert self._sock is not None
        try:
            self._sock.settimeout(None if seconds is None else max(0.01, seconds))
            return child.recv(self._sock)
        except (OSError, child.Closed, struct.error):
            return None

    def _signal_group(self, sig: int) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
        if self._sock is not None:
            self._sock.close()
        if self.reap:
            self._reap_orphans()

    def _reap_orphans(self) -> None:
        """Kill whatever was adopted: descendants of the REPL that left its group (setsid, double fork)."""
        for _ in range(5):
            kids = _children_of(os.getpid())
            if not kids:
                return
            for pid in kids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            for pid in kids:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, 0)

    def _serve(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = str(msg.get("name", ""))
        fn = self.functions.get(name)
        if fn is None:
            return {"error": f"no function {name!r}"}
        a, kw = msg.get("args"), msg.get("kwargs")
        args: list[Any] = a if isinstance(a, list) else []
        kwargs: dict[str, Any] = {str(k): v for k, v in kw.items()} if isinstance(kw, dict) else {}
        try:
            return {"value": fn(*args, **kwargs)}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    def run(self, code: str, cap: float | None = None) -> BlockResult:
        """Run one block; `cap` (seconds) shortens its deadline (what is left of the run's max_timeout)."""
        from scope_tui.patterns.rlm import child

        t0 = time.perf_counter()
        assert self._sock is not None
        try:
            child.send(self._sock, {"op": "run", "code": code})
        except OSError:
            return self._restart(t0, "the REPL process died")
        budget = self.timeout + self.grace if self.timeout > 0 else None
        if cap is not None:
            budget = max(0.05, cap) if budget is None else min(budget, max(0.05, cap))
        deadline = None if budget is None else time.monotonic() + budget
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return self._restart(t0, "it did not stop at its timeout (stuck outside Python?)")
            msg = self._recv(left)
            if msg is None:
                if self._proc is not None and self._proc.poll() is not None:
                    return self._restart(t0, "the REPL process died")
                if deadline is not None and time.monotonic() >= deadline:
                    return self._restart(t0, "it did not stop at its timeout (stuck outside Python?)")
                return self._restart(t0, "the REPL process sent something that is not a frame")
            op = msg.get("op")
            if op == "call":
                # the REPL waits for the answer; stopped, it cannot compute on the time the call takes
                self._signal_group(signal.SIGSTOP)
                started = time.monotonic()
                try:
                    reply = self._serve(msg)
                finally:
                    self._signal_group(signal.SIGCONT)
                if deadline is not None:
                    deadline += time.monotonic() - started
                try:
                    child.send(self._sock, reply)
                except OSError:
                    return self._restart(t0, "the REPL process died")
            elif op == "result":
                return BlockResult.from_wire(msg)
            # anything else is noise: no frame of the REPL's moves the deadline

    def _restart(self, t0: float, why: str) -> BlockResult:
        self._kill()
        self.restarts += 1
        self._start()
        msg = (
            f"TimeoutError: the block was stopped because {why}. The REPL was restarted: `context` and the "
            "helper functions are there again, but every variable you defined earlier is gone."
        )
        return BlockResult(msg, msg, True, True, time.perf_counter() - t0)

    def _ask(self, msg: dict[str, Any]) -> Any:
        from scope_tui.patterns.rlm import child

        assert self._sock is not None
        try:
            child.send(self._sock, msg)
        except OSError:
            return None
        reply = self._recv(self.grace + 5)
        if reply is None or reply.get("op") != "value":
            self._kill()
            self.restarts += 1
            self._start()
            return None
        return reply.get("value")

    def measure(self, names: list[str]) -> int | None:
        if not names:
            return None
        v = self._ask({"op": "measure", "names": names})
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    def get(self, name: str) -> tuple[bool, str]:
        v = self._ask({"op": "get", "name": name})
        if isinstance(v, list) and len(v) == 2 and v[0] is True:
            return True, str(v[1])
        return False, ""

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(2)
        self._kill()

    def __enter__(self) -> Repl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
