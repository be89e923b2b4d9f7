"""`scope demo --headless`: its own project (never one found by walking up), real workers through three
levels, the offline worker that deviates once, leaving an alert and a pending patch, and a persistent
agent whose first task becomes her own skill, which her next task runs (the room's Memory tab shows it)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

from scope_tui.tmux import socket_for
from tests.support.helpers import wait_until


def test_demo_seeds_its_own_project_and_runs(scope, tmp_path, monkeypatch):
    where = tmp_path / "demo"
    env = scope.environ()
    env.pop("SCOPE_DIR")  # run from inside another project: the demo must not use it
    try:
        p = subprocess.run(
            [scope.python, "-m", "scope_tui", "demo", "--dir", str(where), "--headless"],
            cwd=scope.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 0, p.stderr
        assert str(where) in p.stdout
        assert not list((scope.scope_dir / "sessions").iterdir())  # the surrounding project is untouched
        sessions = where / ".scope" / "sessions"

        def status(sid: str) -> str:
            try:
                return json.loads((sessions / sid / "state.json").read_text())["status"]
            except (OSError, ValueError):
                return ""

        wait_until(lambda: status("1") == "done", 90, what="the strategic session done")
        assert (
            status("1.1.1") == "done"
            and json.loads((sessions / "1.1" / "meta.json").read_text())["level"] == "tactical"
        )
        assert status("1.2.3") == "failed"  # the missing file, on purpose
        wait_until(lambda: list((where / ".scope" / "patches").glob("*.json")), 90, what="a pending patch")
        ids = p.stdout.split("(sessions ")[1].rstrip(")\n").split(", ")
        asking, day = ids[4], ids[5]
        wait_until(lambda: status(asking) == "needs_input", 60, what="the worker that asks the person")
        evs = (sessions / "2" / "events.jsonl").read_text()
        assert '"type": "deviation"' in evs
        # the orchestrated run: strategic -> map-reduce supervisor -> offline built-in mappers and reducer
        wait_until(lambda: status("3") == "done", 90, what="the orchestrated run done")
        assert (sessions / "3" / "result.md").read_text().startswith("14")
        # the RLM run: children in parallel, each a part of the logs, their counts added up
        wait_until(lambda: status("4") == "done", 90, what="the RLM run done")
        assert (sessions / "4" / "result.md").read_text().strip() == "14"
        kids = [d for d in sessions.iterdir() if d.name.startswith("4.")]
        assert len(kids) >= 2 and all(
            json.loads((d / "meta.json").read_text())["role"] == "rlm_query" for d in kids
        )
        assert (sessions / "4" / "trajectory.jsonl").exists()
        assert json.loads((sessions / "3.1" / "meta.json").read_text())["skill"] == "map-reduce"
        assert json.loads((sessions / "3.1.1" / "state.json").read_text())["model"] == "offline"
        # the learner's patch is tested on the eval items the scored runs made: candidate and parent pinned
        patch_file = next((where / ".scope" / "patches").glob("*.json"))

        def tested() -> dict:
            test = json.loads(patch_file.read_text()).get("test") or {}
            return test if test.get("status") == "done" else {}

        test = wait_until(tested, 120, what="the patch tested by its eval session")
        assert (
            len(test["items"]) == 3 and test["candidate"]["version"] == 2 and test["parent"]["version"] == 1
        )
        assert set(test["candidate"]["scores"]) == set(test["items"]) == set(test["parent"]["scores"])
        pinned = json.loads(
            (sessions / test["candidate"]["sessions"][test["items"][0]] / "meta.json").read_text()
        )
        assert pinned["skill_version"] == 2 and pinned["role"] == "eval"
        # the persistent agent: her first task became a skill of her own, her next like task ran it
        first, second = f"{day}.1", f"{day}.2"
        wait_until(lambda: status(day) == "done", 120, what="ada's day done")
        assert json.loads((sessions / first / "meta.json").read_text())["agent"] == "ada"
        [made] = [e for e in _events(sessions / first) if e["type"] == "agent_update"]
        assert made["verified"]["score"] == 1.0 and made["new_skill"]["name"] == "contain-error"
        [sel] = [e for e in _events(sessions / second) if e.get("what") == "select"]
        assert sel["own_skill"] == "contain-error" and sel["skill"] == "map-reduce"
        assert "ada's own skill contain-error v1" in sel["why"]
        assert (sessions / second / "result.md").read_text().startswith("14 in total")
        # her home is inside the demo folder, never the person's ~/.scope/agents
        assert (where / "agents" / "ada" / "skills" / "contain-error" / "v1.md").is_file()
        assert not (Path(env["HOME"]) / ".scope" / "agents" / "ada").exists()
        monkeypatch.setenv("SCOPE_AGENTS_DIR", str(where / "agents"))  # as `scope demo` sets for its room
        panel, memory = _room(where, second)
        assert panel.startswith("test: v2 3/3 · v1 3/3 · +$0.00")
        flat = " ".join(memory.split())  # as read, across the lines the tab wraps
        assert "@ada" in flat and "contain-error v1 (evolving, 1 uses, 100% success)" in flat, memory
        assert "map-reduce worked for a task about contain, error, log, api" in flat, memory
        assert "this project 2 tasks (2 done, 0 failed); skills used: contain-error, map-reduce" in flat, (
            memory
        )
    finally:
        subprocess.run(["tmux", "-L", socket_for(where), "kill-server"], capture_output=True)


def _events(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "events.jsonl").read_text().splitlines() if line.strip()]


def _room(where: Path, agent_task: str) -> tuple[str, str]:
    """The room on the demo project, as a person reads it: the patch panel, and the Memory tab of the
    agent's task."""
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp

    app = ScopeApp(Project(where / ".scope"))
    panel = memory = ""

    async def until(pilot, read, want: str) -> str:
        deadline = time.monotonic() + 30
        while want not in (text := read()):
            assert time.monotonic() < deadline, f"{want!r} never showed: {text!r}"
            await pilot.pause(0.05)
        return text

    async def main() -> None:
        nonlocal panel, memory
        async with app.run_test(size=(140, 40)) as pilot:
            panel = await until(
                pilot, lambda: "\n".join(s.text for s in app.query_one("#patch").lines), "test: "
            )
            await until(pilot, lambda: " ".join(app.nodes), agent_task)
            app.select(agent_task)
            app.query_one("#right").active = "tab-memory"
            memory = await until(
                pilot, lambda: "\n".join(s.text for s in app.query_one("#memory").lines), "@ada"
            )

    asyncio.run(main())
    return panel, memory


def test_the_worker_that_asks_is_answered_with_i(scope):
    """`i` in the room answers the demo's asking worker: the answer reaches its pane and it goes on."""
    from scope_tui.store import sessions
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp
    from scope_tui.tui.demo import ask_person

    project = Project(scope.scope_dir)
    (project.home / "logs").mkdir()
    (project.home / "logs" / "billing.log").write_text("ok\nERROR one\nERROR two\nok\n")
    sid = ask_person(project)
    app = ScopeApp(project)

    async def until(pilot, pred, what):
        deadline = time.monotonic() + 30
        while not pred():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await pilot.pause(0.05)

    async def main() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await until(
                pilot,
                lambda: sid in app.nodes and "needs input" in app.nodes[sid].label.plain,
                "the question",
            )
            await pilot.press("i")
            await until(pilot, lambda: app.screen.query("#text"), "the answer prompt")
            await pilot.press(*"billing", "enter")
            await until(pilot, lambda: "running" in app.nodes[sid].label.plain, "the worker going on")

    asyncio.run(main())
    scope.wait_status(sid, "done", timeout=40)
    assert "2 errors in logs/billing.log" in sessions.load(Project(scope.scope_dir), sid).result()


def test_quitting_the_demo_asks_before_stopping_its_server(scope):
    from scope_tui.store.project import Project
    from scope_tui.tmux import Tmux, socket_for
    from scope_tui.tui.demo import finish

    sid = scope.spawn("--cmd", "sleep 60", "A demo worker")
    scope.wait_status(sid, "running")
    project = Project(scope.scope_dir)
    server = Tmux(socket_for(scope.root))
    asked: list[str] = []
    said = finish(project, ask=lambda q: asked.append(q) or "")  # enter: the default is to keep it
    assert "keep running" in said and server.alive() and "[y/N]" in asked[0]
    said = finish(project, ask=lambda q: "y")
    assert "stopped" in said and not server.alive()
    (project.home / "agents" / "ada").mkdir(parents=True)  # the demo's agents home: said how to read it
    said = finish(project, ask=lambda q: "")
    assert f"`SCOPE_AGENTS_DIR={project.home / 'agents'} scope agent show ada` shows what ada learned" in said
