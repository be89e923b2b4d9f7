"""Each panel of the control room mounted alone, in an app of its own: what it shows, what it posts.

The sessions are real folders written with the store API; the app around a panel is only a frame.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widget import Widget

from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from scope_tui.tui import labels
from scope_tui.tui.index import Alert, Index
from scope_tui.tui.messages import JumpToSession, SessionHighlighted
from scope_tui.tui.watcher import StateWatcher
from scope_tui.tui.widgets.alerts import AlertsPanel
from scope_tui.tui.widgets.details import DetailsTabs
from scope_tui.tui.widgets.patches import PatchPanel
from scope_tui.tui.widgets.session_tree import SessionTree, visible_ids


class Frame(App[None]):
    """One widget and nothing else; records the messages it posts."""

    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget
        self.posted: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.widget

    def on_session_highlighted(self, msg: SessionHighlighted) -> None:
        self.posted.append(msg)

    def on_jump_to_session(self, msg: JumpToSession) -> None:
        self.posted.append(msg)


def mounted(widget: Widget, body: Callable[[Any, Frame], Awaitable[None]], size=(100, 20)) -> None:
    app = Frame(widget)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await body(pilot, app)

    asyncio.run(main())


async def until(pilot: Any, pred: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := pred():
            return got
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what or pred}")


@pytest.fixture
def project(tmp_path) -> Project:
    return Project.create(tmp_path / "p" / ".scope")


def make(project: Project, task: str, parent: str | None = None, status: str = "running") -> str:
    s = sessions.create(project, task, parent=parent)
    sessions.set_status(s.dir, status)
    return s.id


def lines_of(widget: Any) -> str:
    return "\n".join(strip.text for strip in widget.lines)


def test_session_tree_alone_shows_rows_in_id_order_and_posts_the_highlight(project):
    top = make(project, "Plan the survey")
    kids = [make(project, f"Worker {i}", parent=top) for i in range(3)]
    index = Index(project)
    index.scan()
    tree = SessionTree(clock=time.time)

    async def body(pilot, app):
        tree.show(index.sessions, visible_ids(index.sessions, "", False), initial=True)
        await pilot.pause()
        assert [c.data for c in tree.nodes[top].children] == kids
        assert "Worker 1" in tree.nodes[kids[1]].label.plain
        tree.select(kids[2])
        await until(pilot, lambda: any(getattr(m, "sid", "") == kids[2] for m in app.posted))
        # a filter keeps the matches and their ancestors
        tree.show(index.sessions, visible_ids(index.sessions, "worker 0", False))
        assert set(tree.nodes) == {top, kids[0]}

    mounted(tree, body)


def test_session_tree_relabels_ages_of_rows_on_screen_only(project):
    """A live age moves once a minute; a row off screen is not relabelled until it scrolls into view."""
    now = [time.time() + 5]
    ids = [make(project, f"Live worker {i}") for i in range(40)]
    index = Index(project)
    index.scan()
    tree = SessionTree(clock=lambda: now[0])
    labelled: list[str] = []

    async def body(pilot, app):
        tree.show(index.sessions, set(index.sessions), initial=True)
        await pilot.pause()
        for sid, node in tree.nodes.items():  # count the relabels from here on
            orig = node.set_label

            def spy(label, sid=sid, orig=orig):
                labelled.append(sid)
                orig(label)

            node.set_label = spy  # type: ignore[method-assign]
        now[0] += 65
        tree.tick_ages()
        first, last = ids[0], ids[-1]
        assert first in labelled and last not in labelled
        assert tree.nodes[first].label.plain.endswith("· 1m") and tree.nodes[last].label.plain.endswith("<1m")
        assert len(labelled) <= tree.size.height
        labelled.clear()
        now[0] += 1
        tree.tick_ages()  # a second later nothing shown moved: nothing is relabelled (nor repainted)
        assert labelled == []
        tree.scroll_end(animate=False)
        await until(
            pilot,
            lambda: tree.nodes[last].label.plain.endswith("· 1m"),
            what="the age once scrolled into view",
        )

    mounted(tree, body, size=(100, 12))


def test_details_tabs_alone_show_task_events_result_and_a_capture(project):
    sid = make(project, "Count the words in a.txt", status="done")
    d = project.session_dir(sid)
    events.append(d, "deviation", kind="no_peek", expected="peek", actual="answer")
    (d / "result.md").write_text("42 words\n")
    s = sessions.load(project, sid)
    tabs = DetailsTabs(project)

    async def body(pilot, app):
        tabs.show(s)
        tabs.active = "tab-task"
        await until(pilot, lambda: "Count the words in a.txt" in lines_of(tabs.tab_log("task")))
        tabs.active = "tab-events"
        await until(pilot, lambda: "no_peek" in lines_of(tabs.tab_log("events")))
        tabs.active = "tab-result"
        await until(pilot, lambda: "42 words" in lines_of(tabs.tab_log("result")))
        tabs.active = "tab-pane"
        tabs.show_capture(sid, "\x1b[32mhello\x1b[0m from the pane\n")
        await until(pilot, lambda: "hello from the pane" in lines_of(tabs.tab_log("pane")))
        tabs.show_capture("9", "another session's screen")  # not the one shown: ignored
        await pilot.pause()
        assert "another" not in lines_of(tabs.tab_log("pane"))
        tabs.active = "tab-diff"
        await until(pilot, lambda: "has no worktree" in lines_of(tabs.tab_log("diff")))

    mounted(tabs, body, size=(100, 30))


def test_alerts_panel_alone_lists_and_posts_a_jump(project):
    panel = AlertsPanel()
    alerts = [
        Alert("1.2", 3, 2.0, "escalation", "task_too_big: 200k tokens"),
        Alert("1.1", 1, 1.0, "deviation", "spawn_before_peek"),
    ]

    async def body(pilot, app):
        panel.show([], labels.Palette())
        assert "no deviations" in str(panel.get_option_at_index(0).prompt)
        panel.show(alerts, labels.Palette())
        assert panel.border_title == "Alerts (2)"
        assert "task_too_big" in str(panel.get_option_at_index(0).prompt)
        panel.focus()
        panel.highlighted = 1
        await pilot.press("enter")
        await until(pilot, lambda: app.posted)
        assert isinstance(app.posted[0], JumpToSession) and app.posted[0].sid == "1.1"

    mounted(panel, body)


def test_patch_panel_alone_shows_the_diff(project):
    from scope_tui.tui.index import Patch

    panel = PatchPanel()
    patch = Patch(
        "p1",
        Path("p1.json"),
        {
            "target": "skill:rlm",
            "diff": "--- v1\n+++ v2\n@@ -1 +1,2 @@\n Read.\n+Peek first.\n",
            "deviation": {"kind": "spawn_before_peek", "session": "1"},
            "status": "pending",
        },
    )

    async def body(pilot, app):
        panel.show(None, 0, 0, labels.Palette())
        await pilot.pause()
        assert "no patches waiting" in lines_of(panel)
        panel.show(patch, 0, 2, labels.Palette())
        await until(pilot, lambda: "+Peek first." in lines_of(panel))
        assert "spawn_before_peek" in lines_of(panel)
        assert panel.border_title == "Patch p1 · skill:rlm · 1 of 2 pending"

    mounted(panel, body)


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "watchfiles"])
def test_state_watcher_reports_writes_and_drops_temp_files(project, monkeypatch, inotify):
    """One chain with one filter: inotify where it can, watchfiles when inotify cannot be had."""
    if not inotify:
        import scope_tui.substrate.watch as w  # where api.file_watcher gets its inotify

        def no_inotify(root):
            raise OSError(24, "Too many open files")

        monkeypatch.setattr(w, "Inotify", no_inotify)
    seen: list[set[str]] = []

    async def main() -> None:
        watcher = StateWatcher(project.root, lambda paths, resync: seen.append(paths), lambda _t: None)
        assert watcher.arm() is inotify
        task = asyncio.ensure_future(watcher.run())
        await asyncio.wait_for(watcher.armed.wait(), 5)
        # in a folder watched from the start: a new folder's first files may come before its watch
        (project.root / ".tmp-config.toml.123").write_text("")
        (project.root / "config.toml.lock").write_text("")
        (project.root / "config.toml").write_text("bell = false\n")
        deadline = time.monotonic() + 10
        while not any(p.endswith("config.toml") for ps in seen for p in ps):
            assert time.monotonic() < deadline, f"no change seen: {seen}"
            await asyncio.sleep(0.02)
        watcher.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    every = set().union(*seen)
    assert not any(p.endswith(".lock") or "/.tmp-" in p for p in every)


def test_trajectory_tab_shows_the_run_and_jumps_to_a_child(project):
    from scope_tui.patterns.rlm.trajectory import Trajectory

    sid = make(project, "How many lines contain ERROR?", status="done")
    t = Trajectory(project.session_dir(sid))  # the engine's own writer
    t.metadata(root_model="offline", max_depth=3, max_iterations=20, backend="offline", depth=0)
    calls = [
        {"root_model": "offline", "prompt": "part", "response": str(n), "child": f"{sid}.{n}"} for n in (1, 2)
    ]
    block = {
        "code": "answers = rlm_query_batched(ps, parts)",
        "result": {"stdout": "2 children", "rlm_calls": calls},
    }
    t.iteration(1, "TASK", "I split it.", [block], "3", 0.5)
    tabs = DetailsTabs(project)

    async def body(pilot, app):
        tabs.show(sessions.load(project, sid))
        tabs.active = "tab-trajectory"
        log = tabs.query_one("#trajectory")
        await until(pilot, lambda: "rlm_query_batched" in lines_of(log), what="the trajectory")
        text = lines_of(log)
        assert f"[1] {sid}.1  [2] {sid}.2" in text and "FINAL ANSWER" in text
        log.focus()
        await pilot.press("2")
        await until(pilot, lambda: app.posted)
        assert isinstance(app.posted[-1], JumpToSession) and app.posted[-1].sid == f"{sid}.2"

    mounted(tabs, body, size=(100, 30))


def test_eval_sessions_fold_under_one_collapsed_node_per_patch(project):
    """The learning machinery's eval sessions (and their children) never flood the tree."""
    work = make(project, "The person's own task")
    evals = []
    for pid in ("p1", "p1", "p2"):
        s = sessions.create(
            project, f"test patch {pid}", parent=None, level="tactical", role="eval", params={"patch": pid}
        )
        sessions.set_status(s.dir, "running")
        evals.append(s.id)
    child = make(project, "candidate run", parent=evals[0])
    index = Index(project)
    index.scan()
    tree = SessionTree(clock=time.time)

    async def body(pilot, app):
        tree.show(index.sessions, set(index.sessions), initial=True)
        await pilot.pause()
        top = [c.data for c in tree.root.children]
        assert top == [work, "~eval:p1", "~eval:p2"]
        p1 = tree.root.children[1]
        assert not p1.is_expanded and "2 sessions" in p1.label.plain
        assert [c.data for c in p1.children] == evals[:2]
        assert tree.nodes[child].parent is tree.nodes[evals[0]]
        assert tree.select(child)  # a jump to one opens its fold
        await until(pilot, lambda: tree.selected() == child)
        assert p1.is_expanded
        gone = dict(index.sessions)
        del gone[evals[2]]
        tree.show(gone, set(gone))
        assert [c.data for c in tree.root.children] == [work, "~eval:p1"]  # an empty fold goes

    mounted(tree, body, size=(100, 20))


def test_details_tabs_escape_control_characters_from_state(project):
    sid = make(project, "Fix \x1b]0;OWNED\x07 it", status="done")
    d = project.session_dir(sid)
    events.append(d, "note", text="an \x9b event")
    (d / "result.md").write_text("a \x1b]0;OWNED\x07 result\n")
    s = sessions.load(project, sid)
    tabs = DetailsTabs(project)

    async def body(pilot, app):
        tabs.show(s)
        tabs.active = "tab-task"
        await until(pilot, lambda: "Fix \\x1b]0;OWNED\\x07 it" in lines_of(tabs.tab_log("task")))
        tabs.active = "tab-events"
        await until(pilot, lambda: "an \\x9b event" in lines_of(tabs.tab_log("events")))
        tabs.active = "tab-result"
        await until(pilot, lambda: "a \\x1b]0;OWNED\\x07 result" in lines_of(tabs.tab_log("result")))

    mounted(tabs, body, size=(100, 30))


def test_top_bar_and_banner_alone(project):
    """The counts across the top, wrapped whole on a phone's width; the banner shown only while it says something."""
    from textual.containers import Vertical

    from scope_tui.tui.widgets.topbar import Banner, TopBar

    bar, banner = TopBar(), Banner(classes="hidden")
    counts = {"running": 3, "needs_input": 1, "alerts": 2, "patches": 0, "sessions": 9}

    async def body(pilot, app):
        bar.show("proj", counts, labels.Palette(), hide_finished=True, filter_text="scan")
        await pilot.pause()
        line = str(bar.render())
        for part in ("◉ Scope", "proj", "● 3 running", "◆ 1 needs input", "⚠ 2 alerts", "9 sessions"):
            assert part in line, line
        assert "(finished hidden)" in line and "filter: scan" in line
        assert banner.display is False
        banner.say("tmux server for this project is not running")
        await pilot.pause()
        assert banner.display is True and "not running" in str(banner.render())
        banner.say("")
        await pilot.pause()
        assert banner.display is False

    mounted(Vertical(bar, banner), body, size=(160, 6))

    narrow = TopBar()

    async def phone(pilot, app):
        narrow.show("proj", counts, labels.Palette(), hide_finished=False, filter_text="")
        await pilot.pause()
        lines = str(narrow.render()).splitlines()
        assert len(lines) > 1 and all(len(ln) <= 40 for ln in lines), lines
        assert any(ln.strip().startswith("◆ 1 needs input") for ln in lines)  # a part is never cut

    mounted(narrow, phone, size=(40, 6))


def test_keys_footer_alone_shows_the_keys_and_is_not_rebuilt_for_nothing():
    """A focus change that leaves the keys as they were keeps the footer's widgets (Textual's own rebuilds)."""
    from textual.binding import Binding
    from textual.widgets import Button

    from scope_tui.tui.widgets.keys_footer import KeysFooter

    class Keys(Frame):
        BINDINGS = [Binding("n", "spawn", "Spawn"), Binding("q", "quit", "Quit")]

        def compose(self) -> ComposeResult:
            yield Button("a", id="a")
            yield Button("b", id="b")
            yield KeysFooter()

    app = Keys(Widget())

    async def main() -> None:
        async with app.run_test(size=(80, 10)) as pilot:
            footer = app.query_one(KeysFooter)
            await until(pilot, lambda: "Spawn" in str(app.export_screenshot()), what="the keys")
            assert "Quit" in str(app.export_screenshot())
            before = list(footer.children)
            app.query_one("#b").focus()
            await pilot.pause()
            app.query_one("#a").focus()
            await pilot.pause()
            assert list(footer.children) == before

    asyncio.run(main())
