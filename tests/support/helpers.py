"""Test helpers: run the real `scope` CLI, and wait on a condition with a deadline (never a fixed sleep)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(pred: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> T:
    """Poll `pred` until it returns something truthy; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}: last={last!r}")


@dataclass
class ScopeRunner:
    """The real CLI (`python -m scope_tui`) run in a project folder, with that project's environment."""

    root: Path
    python: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def scope_dir(self) -> Path:
        return self.root / ".scope"

    def init(self) -> None:
        from scope_tui.store.project import Project

        Project.create(self.scope_dir)

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("SCOPE_SESSION_ID", None)
        env["SCOPE_DIR"] = str(self.scope_dir)
        env.update(self.env)
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        input: str | bytes | None = None,
        timeout: float = 60,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        data = input.encode() if isinstance(input, str) else input
        p = subprocess.run(
            [self.python, "-m", "scope_tui", *args],
            input=data,
            capture_output=True,
            timeout=timeout,
            env=self.environ(env),
            cwd=cwd or self.root,
        )
        return subprocess.CompletedProcess(
            p.args, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        )

    def ok(self, *args: str, **kw: Any) -> str:
        p = self.run(*args, **kw)
        assert p.returncode == 0, f"scope {' '.join(args)} exited {p.returncode}: {p.stderr or p.stdout}"
        return p.stdout

    def spawn(self, *args: str, **kw: Any) -> str:
        return self.ok("spawn", *args, **kw).strip()

    def session(self, sid: str) -> Path:
        return self.scope_dir / "sessions" / sid

    def secret(self, sid: str) -> dict[str, str]:
        """The environment that presents session `sid`'s secret, as its worker's children do."""
        return {"SCOPE_SESSION_TOKEN": (self.session(sid) / "token").read_text().strip()}

    def state(self, sid: str) -> dict[str, Any]:
        try:
            return json.loads((self.session(sid) / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def meta(self, sid: str) -> dict[str, Any]:
        return json.loads((self.session(sid) / "meta.json").read_text())

    def events(self, sid: str) -> list[dict[str, Any]]:
        path = self.session(sid) / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def status(self, sid: str) -> str | None:
        return self.state(sid).get("status")

    def wait_status(self, sid: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        return wait_until(
            lambda: self.state(sid) if self.status(sid) in statuses else None,
            timeout,
            what=f"session {sid} to be {'/'.join(statuses)} (is {self.status(sid)})",
        )

    def worker_pid(self, sid: str) -> int:
        """The pid of the session's worker process (the window's shell runs it, then the reaper)."""
        pane = self.meta(sid)["tmux"]["pane"]
        shell = self.tmux("display", "-p", "-t", pane, "#{pane_pid}").stdout.strip()
        for proc in Path("/proc").iterdir():  # the shell's child running the worker (no pgrep needed)
            try:
                stat = (proc / "stat").read_text()
                cmd = (proc / "cmdline").read_bytes()
            except (OSError, ValueError):
                continue
            if stat.rsplit(")", 1)[-1].split()[1] == shell and b"scope.worker(" in cmd:
                return int(proc.name)
        raise AssertionError(f"no worker process under the shell of session {sid}")

    @property
    def socket(self) -> str:
        from scope_tui.tmux import socket_for

        return socket_for(self.root)

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)

    def kill_server(self) -> None:
        self.tmux("kill-server")
