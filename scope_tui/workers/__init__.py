"""What runs inside a tmux window: the built-in agent loop, the agent CLI drivers (Claude Code, Codex CLI, Gemini CLI), a plain command."""

from __future__ import annotations

from scope_tui.store import events, sessions
from scope_tui.store.drivers import TABLE

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
            # provisional like the reconciler's guess: a `scope kill` that closed the window still wins
            events.append(session_dir, "error", error="its tmux pane went (SIGHUP)", source="worker")
            sessions.set_status(session_dir, "failed", reason="lost")
            return 129
        sessions.set_status(session_dir, "killed", reason="interrupted")
        return 130
    except Exception as exc:  # the worker must never die silently: record what happened
        events.append(session_dir, "error", error=f"{type(exc).__name__}: {exc}", source="worker")
        sessions.set_status(session_dir, "failed", reason=f"worker error: {type(exc).__name__}: {exc}")
        print(f"scope: worker error: {type(exc).__name__}: {exc}")
        return 1
