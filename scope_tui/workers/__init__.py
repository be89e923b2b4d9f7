"""What runs inside a tmux window: the built-in agent loop, the agent CLI drivers (Claude Code, Codex CLI, Gemini CLI), a plain command."""

from __future__ import annotations

import errno

from scope_tui.store import events, sessions
from scope_tui.store.drivers import TABLE

TYPE_CHECKING = False  # typing is not imported at run time (store/events.py)
if TYPE_CHECKING:
    from _typeshed import StrPath

# driver name -> module with `run(s: Session) -> int`, handed the session the worker read (store/drivers.py holds one row a driver)
DRIVERS = {name: str(row["module"]) for name, row in TABLE.items() if row.get("module")}


def run(s: sessions.Session) -> int:
    """Run the worker of session `s` (as api.run_worker read it) to its end; returns the exit code.

    Whatever happens, the session ends in a terminal or waiting state with an event saying why.
    """
    session_dir = s.path
    if s.corrupt:
        print(f"scope: session {s.id} is corrupt: {s.corrupt}")
        return 2
    driver = str(s.meta.get("driver"))
    modname = DRIVERS.get(driver)
    if modname is None:
        sessions.set_status(session_dir, "failed", reason=f"unknown driver {driver!r}")
        return 2
    try:
        mod = __import__(modname, fromlist=["run"])  # importlib.import_module's job, without its import
        return int(mod.run(s))
    except KeyboardInterrupt as exc:
        if exc.args == ("SIGHUP",):  # its terminal went (the tmux server or window): lost, not a decision
            return _lost(session_dir, "its tmux pane went (SIGHUP)")
        sessions.set_status(session_dir, "killed", reason="interrupted")
        return 130
    except Exception as exc:  # the worker must never die silently: record what happened
        if _terminal_went(exc):  # a write to the pane failed before the pane's SIGHUP reached us
            return _lost(session_dir, f"its tmux pane went ({type(exc).__name__}: {exc})")
        events.append(session_dir, "error", error=f"{type(exc).__name__}: {exc}", source="worker")
        sessions.set_status(session_dir, "failed", reason=f"worker error: {type(exc).__name__}: {exc}")
        try:
            print(f"scope: worker error: {type(exc).__name__}: {exc}")
        except OSError:  # the pane is gone too; the record above is what counts
            pass
        return 1


def _lost(session_dir: StrPath, why: str) -> int:
    """Record that the worker's pane went under it: `lost` (provisional like the reconciler's guess, so a
    `scope kill` that closed the window still wins), which `scope resume` continues. The pane's SIGHUP,
    late or repeated, must not cut this record short."""
    import signal  # only here: its enums cost every worker a few milliseconds (workers/process.py)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):  # not the main thread (in-process tests)
            pass
    events.append(session_dir, "error", error=why, source="worker")
    sessions.set_status(session_dir, "failed", reason="lost")
    return 129


def _terminal_went(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the EIO or EPIPE of writing to a terminal that hung up."""
    seen: BaseException | None = exc
    for _ in range(8):  # a short chain: the error and what it was raised from or during
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.EIO, errno.EPIPE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
