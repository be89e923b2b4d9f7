"""Alerts that reach a person: a status writer queues them in .scope/outbox/, a detached `scope notify`
sends them through apprise (an ntfy URL) and a plain webhook to an HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from scope_tui.store import outbox, sessions
from scope_tui.store.project import Project
from scope_tui.substrate.notify import in_quiet_hours


class Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[str, Any]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    data: Any = json.loads(body)
                except ValueError:
                    data = body.decode(errors="replace")
                rec.got.append((self.path, data))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str) -> list[Any]:
        return [d for p, d in self.got if p.startswith(path)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def until(pred: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or pred}")


def configure(scope: Any, receiver: Receiver, extra: str = "", trust: bool = True) -> None:
    (scope.scope_dir / "config.toml").write_text(
        "[notify]\n"
        f'urls = ["ntfy://127.0.0.1:{receiver.port}/scope-alerts"]\n'
        f'webhook = "http://127.0.0.1:{receiver.port}/hook"\n'
        "rate = 0\nbatch = 0.5\n" + extra
    )
    if trust:
        scope.ok("trust")


def idle(project: Project) -> bool:
    return not outbox.sender_running(str(project.root))


def test_a_failed_worker_reaches_ntfy_and_the_webhook(scope, receiver):
    configure(scope, receiver)
    sid = scope.spawn("deploy the thing", "--cmd", "echo boom; exit 3")
    assert scope.wait_status(sid, "failed")["status"] == "failed"
    hook = until(lambda: receiver.at("/hook"), what="the webhook's POST")
    assert hook[0]["alerts"][0]["id"] == sid and hook[0]["alerts"][0]["status"] == "failed"
    assert f"Scope: {sid} failed" == hook[0]["title"] and "deploy the thing" in hook[0]["body"]
    # apprise's ntfy plugin posted its own JSON (topic, title, message) to the same receiver
    ntfy = until(lambda: [d for p, d in receiver.got if isinstance(d, dict) and d.get("topic")], what="ntfy")
    assert ntfy[0]["topic"] == "scope-alerts" and f"{sid} failed" in ntfy[0]["title"]
    project = Project(scope.scope_dir)
    until(lambda: idle(project), what="the sender to exit")
    assert outbox.sender_running(str(project.root)) is False
    assert not [n for n in os.listdir(outbox.folder(str(project.root))) if n.endswith(".json")]


def test_a_burst_is_one_message_and_a_failing_channel_is_logged(scope, receiver):
    configure(scope, receiver)
    cfg = (scope.scope_dir / "config.toml").read_text()
    # the webhook points at a closed port: it fails, is logged, and ntfy still gets the message
    (scope.scope_dir / "config.toml").write_text(cfg.replace(f"{receiver.port}/hook", "1/hook"))
    scope.ok("trust")
    project = Project(scope.scope_dir)
    made = [sessions.create(project, f"worker {n}", level="operational") for n in range(5)]
    for s in made:
        sessions.set_status(s.dir, "needs_input", reason="which database?")
    ntfy = until(lambda: [d for p, d in receiver.got if isinstance(d, dict) and d.get("topic")], what="ntfy")
    until(lambda: idle(project))
    assert len(ntfy) == 1, ntfy  # five alerts, one message
    assert ntfy[0]["title"] == "Scope: 5 alerts" and ntfy[0]["message"].count("needs input") == 5
    log = (project.root / "outbox" / "notify.log").read_text()
    assert "webhook failed" in log and "sent 5 alert(s) as one message" in log


def test_untrusted_urls_and_quiet_hours_send_nothing(scope, receiver):
    project = Project(scope.scope_dir)
    configure(scope, receiver, trust=False)  # urls and webhook need `scope trust`
    s = sessions.create(project, "a task", level="operational")
    sessions.set_status(s.dir, "failed", reason="x")
    until(lambda: "names no channel" in _log(project), what="the dropped line")
    assert receiver.got == []

    configure(scope, receiver, 'quiet_hours = "00:00-23:59:59"\n')
    s = sessions.create(project, "another", level="operational")
    sessions.set_status(s.dir, "escalated", reason="y")
    until(lambda: idle(project) and _queued(project))

    # the detached sender the status write started may take the lock just after `idle` looked: the
    # person's `scope notify` then says so; asked again once it is done, it holds the alert itself
    def notify_alone() -> str | None:
        said = scope.ok("notify")
        return None if "another sender is running" in said else said

    out = until(notify_alone, what="scope notify as the one sender")
    assert "held 1 alert(s): quiet hours" in out and _queued(project) and receiver.got == []


def test_quiet_hours_cross_midnight():
    at = lambda h, m=0: dt.datetime(2026, 1, 1, h, m)  # noqa: E731
    assert in_quiet_hours("22:00-07:00", at(23)) and in_quiet_hours("22:00-07:00", at(6, 59))
    assert not in_quiet_hours("22:00-07:00", at(7)) and not in_quiet_hours("22:00-07:00", at(12))
    assert in_quiet_hours("12:00-13:00", at(12, 30)) and not in_quiet_hours("bad", at(1))


def test_no_notify_table_queues_nothing(scope):
    project = Project(scope.scope_dir)
    s = sessions.create(project, "a task", level="operational")
    sessions.set_status(s.dir, "failed", reason="x")
    assert not (project.root / "outbox").exists()


def _log(project: Project) -> str:
    path = project.root / "outbox" / "notify.log"
    return path.read_text() if path.exists() else ""


def _queued(project: Project) -> list[str]:
    return [n for n in os.listdir(project.root / "outbox") if n.endswith(".json")]


def test_an_open_room_sends_from_the_same_outbox(scope, receiver):
    import asyncio

    from scope_tui.store.atomic import write_json
    from scope_tui.tui.app import ScopeApp

    configure(scope, receiver)
    project = Project(scope.scope_dir)
    s = sessions.create(project, "asks a question", level="operational")
    os.makedirs(outbox.folder(str(project.root)), exist_ok=True)  # queued by a writer whose sender died
    alert = {"id": s.id, "status": "needs_input", "reason": "which branch?", "at": time.time()}
    write_json(project.root / "outbox" / f"{time.time_ns()}-1-{s.id}.json", alert)

    async def main() -> None:
        app = ScopeApp(project, live_pane=False, sweep=False)
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 30
            while not receiver.at("/hook") and time.monotonic() < deadline:
                await pilot.pause(0.1)

    asyncio.run(main())
    hook = receiver.at("/hook")
    assert hook and hook[0]["alerts"][0]["reason"] == "which branch?"
