"""The control room through Textual's Pilot: each key's effect on the store, live updates, broken things.

Sessions are written with the store API, as a worker or supervisor would write them; the app never
writes them itself. Waits poll with a deadline (`until`), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList, Select, Static

from scope_tui.store import config, events, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.project import Project
from scope_tui.tui.app import ScopeApp


def run(app: ScopeApp, body: Callable[[Any], Awaitable[None]], size: tuple[int, int] = (140, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await asyncio.wait_for(app.settled.wait(), 20)
            await pilot.pause()
            await body(pilot)

    asyncio.run(main())


async def until(pilot: Any, pred: Callable[[], Any], timeout: float = 15.0, what: Any = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what or pred}")


def label(app: ScopeApp, sid: str) -> str:
    node = app.nodes.get(sid)
    return node.label.plain if node is not None else ""


def make(project: Project, task: str, parent: str | None = None, status: str = "running", **meta: Any) -> str:
    s = sessions.create(project, task, parent=parent, level=meta.pop("level", "operational"), **meta)
    if status != "pending":
        sessions.set_status(s.dir, status)
    return s.id


@pytest.fixture
def project(scope) -> Project:
    return Project(scope.scope_dir)


def quiet(project: Project, **kw: Any) -> ScopeApp:
    """An app with no tmux traffic of its own: no live pane, no reconcile sweep."""
    return ScopeApp(project, live_pane=False, sweep=False, **kw)


def test_tree_follows_the_files_with_no_key_pressed(project):
    top = make(project, "Plan the survey", level="strategic")
    child = make(project, "Count words in a.txt", parent=top, status="pending")
    app = quiet(project)

    async def body(pilot):
        assert "Plan the survey" in label(app, top) and "running" in label(app, top)
        assert "pending" in label(app, child)
        sessions.set_status(project.session_dir(child), "done")
        await until(pilot, lambda: "done" in label(app, child), what="1.1 done in the tree")
        new = make(project, "A late third worker", parent=top)
        await until(
            pilot,
            lambda: "A late third worker" in label(app, new),
            what=lambda: f"new row {new}: {label(app, new)!r}",
        )
        top_bar = str(app.query_one("#topbar", Static).render())
        assert "2 running" in top_bar
        # the parent row is the same node object: updated in place, never rebuilt
        assert app.nodes[top] is app.query_one("#tree").root.children[0]

    run(app, body)


def test_corrupt_session_is_a_row_not_a_crash(project, monkeypatch):
    monkeypatch.setattr(sessions, "CREATING_S", 0.3)  # an empty folder is a spawn mid-way only this long
    good = make(project, "A fine session")
    bad = make(project, "Soon broken")
    write_text(project.session_dir(bad) / "state.json", "{not json")
    app = quiet(project)

    async def body(pilot):
        assert "corrupt" in label(app, bad) and "state.json" in label(app, bad)
        assert "A fine session" in label(app, good)
        write_text(project.session_dir(good) / "meta.json", "")  # half-written by hand
        (project.sessions / "3").mkdir()  # a folder with nothing in it
        await until(pilot, lambda: "corrupt" in label(app, "3"), what="empty folder shown as corrupt")
        await pilot.press("down", "down", "down")
        assert app.is_running

    run(app, body)


def test_spawn_key_starts_a_real_session(project, scope):
    parent = make(project, "Parent of the new one", status="waiting")
    app = quiet(project)

    async def body(pilot):
        await pilot.press("n")
        await until(pilot, lambda: app.screen.query("#task"), what="the spawn form")
        form = app.screen
        assert "parent: " + parent in str(form.query_one("#parent").render())
        form.query_one("#task", Input).value = "Say hello from the control room"
        form.query_one("#driver", Select).value = "command"
        form.query_one("#cmd", Input).value = "echo hello-from-room"
        await pilot.click("#ok")
        await until(pilot, lambda: "1.1" in app.nodes, what="the spawned child in the tree")
        assert "Say hello from the control room" in label(app, "1.1")

    run(app, body)
    st = scope.wait_status("1.1", "done")
    assert st["exit_code"] == 0
    assert "hello-from-room" in (scope.session("1.1") / "result.md").read_text()
    assert scope.meta("1.1")["parent"] == parent


def test_kill_key_kills_the_subtree_after_confirmation(project):
    top = make(project, "Supervisor", level="tactical")
    a = make(project, "Worker a", parent=top)
    b = make(project, "Worker b", parent=top, status="done")
    other = make(project, "Unrelated")
    app = quiet(project)

    async def body(pilot):
        app.select(top)
        await pilot.pause()
        await pilot.press("k")
        await until(pilot, lambda: app.screen.query("#yes"), what="the confirmation")
        await pilot.press("n")  # no: nothing happens
        await pilot.pause()
        assert sessions.load(project, top).status == "running"
        await pilot.press("k")
        await until(pilot, lambda: app.screen.query("#yes"))
        await pilot.press("y")
        await until(pilot, lambda: "killed" in label(app, a), what="worker a killed in the tree")

    run(app, body)
    assert sessions.load(project, top).status == "killed"
    assert sessions.load(project, a).status == "killed"
    assert sessions.load(project, b).status == "done"  # finished history is left alone
    assert sessions.load(project, other).status == "running"


def test_redirect_key_reaches_the_inbox(project):
    sid = make(project, "A builtin worker", driver="builtin")
    app = quiet(project)

    async def body(pilot):
        await pilot.press("r")
        await until(pilot, lambda: app.screen.query("#text"), what="the redirect prompt")
        await pilot.press(*"use the cache", "enter")
        await until(pilot, lambda: list((project.session_dir(sid) / "inbox").glob("*.json")), what="inbox")

    run(app, body)
    (msg,) = [json.loads(p.read_text()) for p in (project.session_dir(sid) / "inbox").glob("*.json")]
    assert msg["kind"] == "redirect" and msg["text"] == "use the cache"
    assert any(e["type"] == "redirect" for e in events.read_all(project.session_dir(sid)))


def test_attach_runs_the_tmux_command_and_comes_back(project, scope):
    from scope_tui import api

    s = api.spawn(project, "Sleep a while", driver="command", cmd="sleep 60", parent=None)
    seen: list[list[str]] = []
    app = quiet(project, attach_runner=seen.append)

    async def body(pilot):
        await until(pilot, lambda: s.id in app.nodes)
        app.select(s.id)
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: seen, what="the attach runner called")
        # back in the room: keys work again
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")

    run(app, body)
    argv = seen[0]
    window = scope.meta(s.id)["tmux"]["window"]
    assert argv[1:3] == ["-L", scope.socket] and "attach-session" in argv and argv[-1] == window


def test_attach_is_disabled_in_the_browser(project):
    make(project, "Something live")
    seen: list[list[str]] = []
    app = quiet(project, serve=True, attach_runner=seen.append)

    async def body(pilot):
        await pilot.press("enter")
        await until(pilot, lambda: any("disabled" in n.message for n in app._notifications))
        assert not seen

    run(app, body)


def test_dead_tmux_server_is_a_banner(project):
    sid = make(project, "Claims to run")
    meta = json.loads((project.session_dir(sid) / "meta.json").read_text())
    meta["tmux"] = {"socket": "gone", "window": "@1", "pane": "%1"}
    write_json(project.session_dir(sid) / "meta.json", meta)
    app = ScopeApp(project, live_pane=True, sweep=True)

    async def body(pilot):
        banner = app.query_one("#banner", Static)
        await until(pilot, lambda: "not running" in str(banner.render()), what="the banner")
        await until(pilot, lambda: "failed" in label(app, sid), what="the session marked lost")
        assert app.is_running

    run(app, body)
    assert sessions.load(project, sid).state["reason"] == "lost"


def test_alerts_newest_first_and_enter_jumps(project):
    top = make(project, "Map-reduce the logs", level="tactical")
    w1 = make(project, "Chunk 1", parent=top)
    w2 = make(project, "Chunk 2", parent=top)
    events.append(
        project.session_dir(w1), "deviation", kind="spawn_before_peek", expected="peek", actual="spawn"
    )
    app = quiet(project)

    async def body(pilot):
        ol = app.query_one("#alerts", OptionList)
        assert "spawn_before_peek" in str(ol.get_option_at_index(0).prompt)
        events.append(project.session_dir(w2), "escalation", reason="task_too_big", details="200k tokens")
        await until(
            pilot, lambda: "task_too_big" in str(ol.get_option_at_index(0).prompt), what="new alert on top"
        )
        assert "3 alerts" not in str(app.query_one("#topbar", Static).render())
        assert "2 alerts" in str(app.query_one("#topbar", Static).render())
        ol.focus()
        ol.highlighted = 0
        await pilot.press("enter")
        await until(pilot, lambda: app.selected() == w2, what="the tree cursor on the escalated session")

    run(app, body)


def test_alerts_of_finished_sessions_are_listed(project):
    """Their events are read just after the first frame, but they are read."""
    done = make(project, "An old finished worker", status="done")
    events.append(project.session_dir(done), "deviation", kind="no_peek", expected="peek", actual="answer")
    make(project, "A live worker")
    app = quiet(project)

    async def body(pilot):
        ol = app.query_one("#alerts", OptionList)
        assert "no_peek" in str(ol.get_option_at_index(0).prompt)
        assert "1 alerts" in str(app.query_one("#topbar", Static).render())

    run(app, body)


def test_age_of_a_live_session_advances(project):
    now = [time.time() + 5]
    live = make(project, "Still working")
    done = make(project, "Finished long ago", status="done")
    app = quiet(project, clock=lambda: now[0])

    async def body(pilot):
        before_done = label(app, done)
        assert label(app, live).endswith("· <1m")  # to the minute: a live row is not repainted each second
        now[0] += 65
        await until(
            pilot,
            lambda: "· 1m" in label(app, live),
            what=lambda: f"an age over a minute: {label(app, live)}",
        )
        assert label(app, done) == before_done  # a finished session's age is its run time: it stays

    run(app, body)


def test_hide_finished_and_filter(project):
    top = make(project, "Strategic plan", level="strategic")
    done = make(project, "Finished worker", parent=top, status="done")
    live = make(project, "Live worker about parsers", parent=top)
    app = quiet(project)

    async def body(pilot):
        await pilot.press("h")
        await until(pilot, lambda: done not in app.nodes, what="finished row hidden")
        assert live in app.nodes and top in app.nodes
        await pilot.press("h")
        await until(pilot, lambda: done in app.nodes)
        await pilot.press("slash", *"parsers")
        await until(pilot, lambda: set(app.nodes) == {top, live}, what="filter keeps matches and ancestors")
        await pilot.press("enter", "escape")
        await until(pilot, lambda: done in app.nodes, what="escape clears the filter")

    run(app, body)


def test_theme_key_saves_to_config_and_keymap_rebinds(project):
    config.update(project.config_path, {"keymap": {"spawn": "s"}})
    make(project, "Something")
    app = quiet(project)

    async def body(pilot):
        assert app.theme == "scope-dark"
        await pilot.press("t")
        await until(pilot, lambda: app.theme != "scope-dark")
        assert config.load(project.config_path)["theme"] == app.theme
        await pilot.press("s")  # rebound from n
        await until(
            pilot, lambda: type(app.screen).__name__ == "SpawnScreen", what="spawn on the rebound key"
        )

    run(app, body)


def test_needs_input_rings_and_toasts(project):
    sid = make(project, "May ask a question")
    app = quiet(project)
    rings: list[int] = []

    async def body(pilot):
        app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
        sessions.set_status(project.session_dir(sid), "needs_input", reason="trust this folder?")
        await until(pilot, lambda: rings, what="the bell")
        assert any("needs input" in n.message for n in app._notifications)
        assert "1 needs input" in str(app.query_one("#topbar", Static).render())

    run(app, body)


def write_patch(
    project: Project, pid: str = "p1", status: str = "pending", target: str = "skill:rlm"
) -> Path:
    path = project.patches / f"{pid}.json"
    write_json(
        path,
        {
            "id": pid,
            "target": target,
            "skill": target.split(":", 1)[1] if target.startswith("skill:") else None,
            "base_version": 1,
            "new_text": "Peek at the context before you spawn.\n",
            "diff": "--- rlm v1\n+++ rlm v2\n@@ -1 +1,2 @@\n Read the task.\n+Peek at the context before you spawn.\n",
            "deviation": {"kind": "spawn_before_peek", "session": "1"},
            "reflection": "The worker spawned children before looking at the context.",
            "status": status,
            "decided_by": None,
            "decision_note": None,
            "created_at": 1_700_000_000,
        },
    )
    return path


def test_pending_patch_shows_with_its_diff(project):
    make(project, "Something")
    app = quiet(project)

    async def body(pilot):
        assert "0 patches pending" in str(app.query_one("#topbar", Static).render())
        write_patch(project)
        await until(pilot, lambda: "1 patches pending" in str(app.query_one("#topbar", Static).render()))
        log = app.query_one("#patch")
        text = "\n".join(strip.text for strip in log.lines)
        assert "+Peek at the context before you spawn." in text and "spawn_before_peek" in text

    run(app, body)


def test_patch_keys_call_the_approval_api(project):
    patches = pytest.importorskip("scope_tui.gepa.patches")
    if not hasattr(patches, "approve") or not hasattr(patches, "reject"):
        pytest.skip("scope_tui.gepa.patches has no approve/reject yet")
    make(project, "Something")
    # agent targets: approving them records the decision without needing a skill file
    write_patch(project, "p1", target="agent:ada/heuristics")
    write_patch(project, "p2", target="agent:ada/heuristics")
    app = quiet(project)

    async def body(pilot):
        await pilot.press("a")
        await until(
            pilot, lambda: json.loads((project.patches / "p1.json").read_text())["status"] != "pending"
        )
        await pilot.press("x")
        await until(pilot, lambda: app.screen.query("#text"))
        await pilot.press(*"too broad", "enter")
        await until(
            pilot, lambda: json.loads((project.patches / "p2.json").read_text())["status"] == "rejected"
        )

    run(app, body)
    p1 = json.loads((project.patches / "p1.json").read_text())
    p2 = json.loads((project.patches / "p2.json").read_text())
    assert p1["status"] == "approved" and p1["decided_by"] == "person"
    assert p2["decision_note"] == "too broad"


def test_memory_tab_and_agents_screen_read_the_agent(project, scope, home):
    scope.ok("agent", "new", "ada", "--strengths", "good at ledgers")
    heur = home / ".scope" / "agents" / "ada" / "memory" / "heuristics.json"
    heur.parent.mkdir(parents=True, exist_ok=True)
    heur.write_text("{broken")  # a corrupt memory file is named, not a crash
    avoid = "'migrate the ledger' failed (exit 1); next time: NEVER migrate before a backup."
    (heur.parent / "failures.json").write_text(json.dumps({"failures": [{"task": "x", "avoid": avoid}]}))
    sid = make(project, "Reconcile the ledger", agent="ada")
    app = quiet(project)

    def memory_text() -> str:
        return "\n".join(strip.text for strip in app.query_one("#memory").lines)

    async def body(pilot):
        assert "@ada" in label(app, sid)
        app.select(sid)
        app.query_one("#right").active = "tab-memory"
        await until(pilot, lambda: "@ada" in memory_text(), what=lambda: f"the memory tab: {memory_text()!r}")
        text = memory_text()
        assert "junior" in text and "good at ledgers" in text and "heuristics.json" in text
        flat = " ".join(text.split())  # as read, across the lines the tab wraps
        assert "failures to avoid" in flat and "next time: NEVER migrate before a backup." in flat, text
        await pilot.press("g")
        await until(pilot, lambda: type(app.screen).__name__ == "AgentsScreen")
        shown = str(app.screen.query_one("VerticalScroll > Static").render())
        assert "@ada" in shown

    run(app, body)


def test_changes_while_a_dialog_is_open_do_not_crash(project):
    sid = make(project, "Keeps changing")
    app = quiet(project)

    async def body(pilot):
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        sessions.set_status(project.session_dir(sid), "done")
        make(project, "Arrives while the help is open")
        await until(
            pilot, lambda: "done" in label(app, sid) and "2" in app.nodes, what="rows under the dialog"
        )
        await pilot.press("escape")
        assert app.is_running and type(app.screen).__name__ == "Screen"

    run(app, body)


def test_approving_a_skill_patch_makes_a_new_version(project):
    patches = pytest.importorskip("scope_tui.gepa.patches")
    make(project, "Something")
    p = patches.propose_rule(project, "map-reduce", "- ALWAYS peek at one chunk before spawning workers.")
    assert p is not None
    app = quiet(project)

    async def body(pilot):
        log = app.query_one("#patch")
        await until(pilot, lambda: "ALWAYS peek at one chunk" in "\n".join(s.text for s in log.lines))
        await pilot.press("a")
        await until(
            pilot, lambda: any("map-reduce v2" in n.message for n in app._notifications), what="toast"
        )
        await until(pilot, lambda: "0 patches pending" in str(app.query_one("#topbar", Static).render()))

    run(app, body)
    assert "ALWAYS peek at one chunk" in (project.skills / "map-reduce" / "v2.md").read_text()


def test_diff_tab_shows_a_worktree_sessions_changes(project, tmp_path):
    import subprocess

    repo = tmp_path / "wt"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout

    git("init", "-q")
    (repo / "ledger.py").write_text("balance = 0\n")
    git("add", "-A")
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "base")
    base = git("rev-parse", "HEAD").strip()
    (repo / "ledger.py").write_text("balance = 0\nlock = True\n")
    sid = make(project, "Fix the ledger in a worktree", worktree=str(repo), base_commit=base, repo=str(repo))
    plain = make(project, "No worktree here")
    app = quiet(project)

    def diff_text() -> str:
        return "\n".join(s.text for s in app.query_one("#diff").lines)

    async def body(pilot):
        app.select(sid)
        await pilot.pause()
        app.query_one("#right").active = "tab-diff"
        await until(pilot, lambda: "+lock = True" in diff_text(), what=lambda: f"the diff: {diff_text()!r}")
        app.select(plain)
        await until(pilot, lambda: "has no worktree" in diff_text())

    run(app, body)


def test_answer_key_redirects_to_the_session_that_asked(project):
    make(project, "Busy worker")
    asking = make(project, "Orchestrator asks the person", level="strategic", status="needs_input")
    app = quiet(project)

    async def body(pilot):
        await pilot.press("i")  # the cursor is on another session: the one that asked is found
        await until(pilot, lambda: app.screen.query("#text"), what="the answer prompt")
        assert asking in str(app.screen.query_one(".title").render())
        await pilot.press(*"split it by module", "enter")
        await until(pilot, lambda: list((project.session_dir(asking) / "inbox").glob("*.json")))

    run(app, body)
    (msg,) = [json.loads(p.read_text()) for p in (project.session_dir(asking) / "inbox").glob("*.json")]
    assert msg["text"] == "split it by module"


def test_every_key_is_a_command_in_the_palette(project):
    make(project, "Something")
    app = quiet(project)

    async def body(pilot):
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"hide done")
        await until(
            pilot,
            lambda: "Hide done" in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt),
        )
        await pilot.press("enter")
        await until(pilot, lambda: app.hide_finished, what="the palette ran the action")

    run(app, body)


def test_theme_change_recolours_the_rows(project):
    sid = make(project, "Colourful")
    app = quiet(project)

    async def body(pilot):
        before = app.palette.text
        await pilot.press("t")
        await until(pilot, lambda: app.theme != "scope-dark")
        assert app.palette.text == app.get_css_variables()["foreground"][:7] != before
        spans = app.nodes[sid].label.spans
        assert any(app.palette.text in str(sp.style) for sp in spans)

    run(app, body)


@pytest.fixture
def fast_project(tmp_path):
    """A project in memory (/dev/shm) where there is one: a thousand fsyncs on a shared disk take a minute."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    yield Project.create(root / ".scope")
    if root != tmp_path:
        shutil.rmtree(root, ignore_errors=True)


def test_after_a_thousand_random_changes_the_tree_equals_a_fresh_load(fast_project):
    """Spawns, status changes, kills and removed folders, as fast as they come: the rows the room ends
    with (structure and text) are those a room opened afterwards shows."""
    import random
    import shutil

    project = fast_project
    rng = random.Random(15)
    now = time.time() + 30
    live = [make(project, "Seed root")]
    kids: dict[str, int] = {}
    app = quiet(project, clock=lambda: now)

    def rendered(a: ScopeApp) -> list[tuple[int, str]]:
        rows: list[tuple[int, str]] = []

        def walk(node, depth):
            for c in node.children:
                rows.append((depth, c.label.plain))
                walk(c, depth + 1)

        walk(a.query_one("#tree").root, 0)
        return rows

    async def body(pilot):
        for _ in range(1000):
            roll = rng.random()
            if roll < 0.35 or not live:
                parent = rng.choice(live) if live and rng.random() < 0.7 else None
                if parent is not None and parent.count(".") >= 3:
                    parent = None
                sid = make(project, f"Worker {len(kids)}", parent=parent)
                live.append(sid)
                kids[sid] = 0
                if parent:
                    kids[parent] = kids.get(parent, 0) + 1
            elif roll < 0.75:
                sid = rng.choice(live)
                sessions.set_status(
                    project.session_dir(sid), rng.choice(["running", "waiting", "needs_input"])
                )
            elif roll < 0.95:
                sid = live.pop(rng.randrange(len(live)))
                sessions.set_status(project.session_dir(sid), rng.choice(["done", "killed", "failed"]))
            else:
                sid = rng.choice(live)
                if not kids.get(sid):  # `scope clean` removes a leaf's folder
                    live.remove(sid)
                    shutil.rmtree(project.session_dir(sid))
            if rng.random() < 0.05:
                await pilot.pause()  # now and then the room gets a turn mid-burst
        fresh = quiet(project, clock=lambda: now)
        expected: list[tuple[int, str]] = []

        async def load_fresh() -> None:
            async with fresh.run_test(size=(140, 40)) as p2:
                await asyncio.wait_for(fresh.settled.wait(), 20)
                await p2.pause()
                expected.extend(rendered(fresh))

        await load_fresh()
        await until(
            pilot,
            lambda: rendered(app) == expected,
            timeout=60,
            what=lambda: (
                f"{len(rendered(app))} rows vs {len(expected)} in a fresh load; missing "
                f"{[r for r in expected if r not in rendered(app)][:3]}, extra {[r for r in rendered(app) if r not in expected][:3]}"
            ),
        )

    run(app, body)


EVIL = "Fix \x1b]0;OWNED\x07 \x9bJ"


def test_text_from_state_is_escaped_in_the_tree_like_the_cli(project):
    """A task that would retitle the person's terminal (`\\e]0;OWNED\\a`, a C1 CSI) reads as escapes."""
    sid = make(project, EVIL, status="pending")
    sessions.set_status(project.session_dir(sid), "failed", reason="bad \x1b[2J reason")
    app = quiet(project)

    async def body(pilot):
        got = await until(pilot, lambda: label(app, sid), what="the row")
        assert "Fix \\x1b]0;OWNED\\x07 \\x9bJ" in got, got
        assert "bad \\x1b[2J" in got, got
        assert not any(c in got for c in "\x1b\x07\x9b")

    run(app, body)


def test_a_resumed_session_takes_the_lost_ones_place_with_the_children_it_kept(project):
    old = make(project, "Map the logs", level="tactical", status="failed", driver="pattern")
    kept = make(project, "map 1/2", parent=old, status="done")
    lost = make(project, "map 2/2", parent=old, status="failed")
    later = make(project, "Something later")
    app = quiet(project)

    def shown(node: Any = None) -> list[Any]:
        node = node or app.session_tree.root
        return [(c.data, shown(c)) if c.children else c.data for c in node.children]

    async def body(pilot):
        assert shown() == [(old, [kept, lost]), later]
        # what substrate/resume.py writes: the new session, its restarted part, then the old ones' resumed_as
        new = make(project, "Map the logs", level="tactical", resumed_from=old, driver="pattern")
        again = make(project, "map 2/2", parent=new, resumed_from=lost)
        for sid, by in ((lost, again), (old, new)):
            meta = json.loads((project.session_dir(sid) / "meta.json").read_text())
            write_json(project.session_dir(sid) / "meta.json", {**meta, "resumed_as": by})
        await until(pilot, lambda: shown() == [(new, [kept, again]), later], what=shown)
        assert "map 1/2" in label(app, kept) and old not in app.nodes and lost not in app.nodes

    run(app, body)
