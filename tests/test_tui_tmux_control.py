"""The room's one tmux control-mode client, through a real tmux server: the pane on show follows its
output with no process per capture, a killed window is noticed with no sweep, a dead server is a banner,
and where control mode cannot be had the room polls as before and says so once."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import scope_tui.tmux as tmux_mod
from scope_tui import api
from scope_tui.store import sessions
from scope_tui.store.project import Project
from scope_tui.tui.app import ScopeApp
from scope_tui.tui.widgets.topbar import Banner

# prints a numbered line every 0.2 s: the pane changes while the room watches
TICKER = "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo tick-$i; sleep 0.2; done"


@pytest.fixture
def project(scope) -> Project:
    return Project(scope.scope_dir)


@pytest.fixture
def counted(tmp_path, monkeypatch) -> Callable[[], int]:
    """Count the tmux processes Scope starts from here on (the benches' counter)."""
    path = tmp_path / "tmux-count"
    monkeypatch.setattr(tmux_mod, "SPAWN_COUNTER", str(path))

    def count() -> int:
        try:
            return len(path.read_text().splitlines())
        except FileNotFoundError:
            return 0

    return count


def run(app: ScopeApp, body: Callable[[Any], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await asyncio.wait_for(app.settled.wait(), 20)
            await body(pilot)

    asyncio.run(main())


async def until(pilot: Any, pred: Callable[[], Any], timeout: float = 20.0, what: Any = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := pred():
            return got
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what or pred}")


def pane_text(app: ScopeApp) -> str:
    return "\n".join(s.text for s in app.query_one("#pane").lines)


def last_tick(app: ScopeApp) -> int:
    ticks = [int(w[5:]) for w in pane_text(app).split() if w.startswith("tick-") and w[5:].isdigit()]
    return max(ticks, default=0)


def spawn_ticker(project: Project) -> str:
    return api.spawn(
        project, "Print a tick five times a second", driver="command", cmd=TICKER, parent=None
    ).id


def test_pane_output_arrives_through_the_control_client_with_no_process(project, counted):
    sid = spawn_ticker(project)
    app = ScopeApp(project)

    async def body(pilot):
        await until(pilot, lambda: sid in app.nodes)
        app.select(sid)
        await until(pilot, lambda: app.tmux.mode == "control", what=lambda: f"control mode: {app.tmux.mode}")
        seen = await until(pilot, lambda: last_tick(app), what="the first ticks in the Pane tab")
        before = counted()
        await until(pilot, lambda: last_tick(app) >= seen + 5, what=lambda: f"more ticks: {pane_text(app)!r}")
        assert counted() == before  # every capture went through the control client
        assert not app.tmux.polling._timers

    run(app, body)


def test_a_killed_window_is_noticed_without_a_sweep(project, scope, counted):
    sid = spawn_ticker(project)
    window = sessions.load(project, sid).meta["tmux"]["window"]
    app = ScopeApp(project)

    async def body(pilot):
        await until(pilot, lambda: app.tmux.mode == "control", what=lambda: f"control mode: {app.tmux.mode}")
        before = counted()
        # someone closes the window behind the room's back (not through Scope)
        subprocess.run(["tmux", "-L", scope.socket, "kill-window", "-t", window], check=True)
        await until(pilot, lambda: "failed" in app.nodes[sid].label.plain, what="the row marked failed")
        assert counted() == before and app.tmux.mode == "control"
        assert not app.tmux.polling._timers  # no sweep was running

    run(app, body)
    assert sessions.load(project, sid).state["reason"] == "lost"


def test_a_dead_server_is_a_banner_that_offers_resume_and_r_resumes_in_place(project, scope):
    sid = spawn_ticker(project)
    other = api.spawn(project, "A later one", driver="command", cmd="sleep 60", parent=None).id
    app = ScopeApp(project)

    def rows() -> list[str]:
        return [n.data for n in app.session_tree.root.children if n.data]

    async def body(pilot):
        await until(pilot, lambda: app.tmux.mode == "control")
        subprocess.run(["tmux", "-L", scope.socket, "kill-server"], check=True)
        banner = app.query_one(Banner)
        await until(pilot, lambda: "not running" in banner.text, what=lambda: f"the banner: {banner.text!r}")
        assert "R resumes" in banner.text
        await until(pilot, lambda: "failed" in app.nodes[sid].label.plain, what="the session marked lost")
        assert app.is_running
        app.select(sid)
        await pilot.pause()
        await pilot.press("R")  # a command: it runs again only once the person says so
        await until(pilot, lambda: app.screen.query("#yes"), what="the confirmation")
        await pilot.press("y")
        new = await until(pilot, lambda: sessions.load(project, sid).meta.get("resumed_as"), what="resumed")
        # the new session stands where the lost one was, above the later one; the lost one's row is gone
        await until(pilot, lambda: rows() == [new, other], what=lambda: f"the rows: {rows()}")
        await until(pilot, lambda: "running" in app.nodes[new].label.plain, what="the new one running")

    run(app, body)
    assert sessions.load(project, sid).state["reason"] == "lost"  # its final status stays final


@pytest.fixture
def unreported(monkeypatch) -> None:
    """tmux's word on ends never reaches the room: no window close, no dead pane (the client drops them)."""
    from scope_tui.substrate.control_mode import ControlClient

    orig = ControlClient._notification

    def deaf(self: ControlClient, line: bytes) -> None:
        if not line.startswith((b"%unlinked-window-close", b"%window-close", b"%subscription-changed")):
            orig(self, line)

    monkeypatch.setattr(ControlClient, "_notification", deaf)


def test_an_end_tmux_never_reports_is_caught_by_the_slow_reconcile(
    project, scope, counted, unreported, monkeypatch
):
    import scope_tui.tui.live as live

    monkeypatch.setattr(live, "NET_S", 1.0)  # 30 s in the room
    sid = spawn_ticker(project)
    window = sessions.load(project, sid).meta["tmux"]["window"]
    app = ScopeApp(project)

    async def body(pilot):
        await until(pilot, lambda: app.tmux.mode == "control", what=lambda: f"control mode: {app.tmux.mode}")
        before = counted()
        subprocess.run(["tmux", "-L", scope.socket, "kill-window", "-t", window], check=True)
        await until(pilot, lambda: "failed" in app.nodes[sid].label.plain, what="the row marked failed")
        assert counted() == before and app.tmux.mode == "control"  # through the client: no process, no sweep

    run(app, body)
    assert sessions.load(project, sid).state["reason"] == "lost"


def test_an_end_tmux_never_reports_is_caught_when_the_terminal_regains_focus(project, scope, unreported):
    from textual import events as tevents

    sid = spawn_ticker(project)
    window = sessions.load(project, sid).meta["tmux"]["window"]
    app = ScopeApp(project)

    async def body(pilot):
        await until(pilot, lambda: app.tmux.mode == "control", what=lambda: f"control mode: {app.tmux.mode}")
        subprocess.run(["tmux", "-L", scope.socket, "kill-window", "-t", window], check=True)
        app.post_message(tevents.AppFocus())  # the person comes back to the room's terminal
        # well before the slow reconcile's 30 s
        await until(pilot, lambda: "failed" in app.nodes[sid].label.plain, timeout=10, what="marked failed")

    run(app, body)


def test_without_control_mode_the_room_polls_and_says_so_once(project, monkeypatch):
    import scope_tui.substrate.control_mode as cm

    monkeypatch.setattr(cm, "BASE_SESSION", "no-such-session")  # tmux -C refuses: can't find session
    sid = spawn_ticker(project)
    app = ScopeApp(project)
    said: list[str] = []

    async def body(pilot):
        banner = app.query_one(Banner)
        orig = banner.say

        def say(text: str) -> None:
            if text != banner.text:
                said.append(text)
            orig(text)

        banner.say = say  # type: ignore[method-assign]
        await until(pilot, lambda: app.tmux.mode == "polling", what=lambda: f"polling: {app.tmux.mode}")
        await until(pilot, lambda: "control mode unavailable" in banner.text, what=lambda: banner.text)
        app.select(sid)
        seen = await until(pilot, lambda: last_tick(app), what="ticks by polling")
        await until(pilot, lambda: last_tick(app) >= seen + 3)
        assert len([t for t in said if "control mode" in t]) <= 1  # said once, not at every sweep

    run(app, body)


def test_control_client_commands_wait_for_the_attach(scope):
    """A command sent at once gets its reply: the client waits for the attach's own %begin/%end."""
    from scope_tui.substrate.control_mode import ControlClient, Events

    project = Project(scope.scope_dir)
    spawn_ticker(project)
    client = ControlClient(scope.socket, Events())
    client.start()
    try:
        ran = client.run("display-message", "-p", "#{session_name} ok")
        assert ran.returncode == 0 and ran.stdout.decode().strip() == "_scope ok"
        bad = client.run("kill-window", "-t", "@999")
        assert bad.returncode != 0 and b"@999" in bad.stderr
    finally:
        client.close()
    assert not client.alive or client._proc is None or client._proc.poll() is not None


def test_only_the_listened_panes_output_is_told_and_no_pane_is_turned_off(scope):
    """Two panes print; the client listens to one: only its output is told. The other is never turned off
    (`refresh-client -A '%N:off'` with its output queued killed tmux 3.3a's server: control_mode.py)."""
    import collections

    from scope_tui.substrate.control_mode import ControlClient, Events

    project = Project(scope.scope_dir)
    loud = sessions.load(project, spawn_ticker(project)).meta["tmux"]["pane"]
    shown = sessions.load(project, spawn_ticker(project)).meta["tmux"]["pane"]
    told: collections.Counter[str] = collections.Counter()
    sent: list[bytes] = []

    class Told(Events):
        def output(self, pane: str) -> None:
            told[pane] += 1

    client = ControlClient(scope.socket, Told())
    orig = client.send

    def send(args, then=None):
        sent.append(" ".join(args).encode())
        return orig(args, then)

    client.send = send  # type: ignore[method-assign]
    client.listen(shown)
    client.start()
    try:
        deadline = time.monotonic() + 20
        while told[shown] < 15:  # three seconds of the shown pane's ticks
            assert time.monotonic() < deadline, f"the shown pane's output: {dict(told)}"
            time.sleep(0.05)
        assert told[loud] == 0, dict(told)
        assert not [c for c in sent if b":off" in c], sent
        scope.tmux("kill-window", "-t", loud)  # a pane that ends while it prints: the server stays
        assert scope.tmux("list-sessions").returncode == 0
    finally:
        client.close()
