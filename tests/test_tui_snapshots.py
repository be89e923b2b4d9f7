"""SVG snapshots of the control room's main screens over a still scene: fixed clock, size and ids, no
live pane, no tmux. Update with `pytest tests/test_tui_snapshots.py --snapshot-update` after a
deliberate change, and look at the report before committing."""

from __future__ import annotations

import asyncio

import pytest

from scope_tui.store.project import Project
from scope_tui.tui.app import ScopeApp
from scope_tui.tui.scene import write_scene

SIZE = (160, 46)


@pytest.fixture
def room(tmp_path, home) -> ScopeApp:
    project = Project.create(tmp_path / "payments" / ".scope")
    now = write_scene(project)
    return ScopeApp(project, clock=lambda: now, live_pane=False, sweep=False, watch=False)


def before(*keys: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await asyncio.wait_for(app.settled.wait(), 20)
        app.select("1.1.2")
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
        await pilot.pause()

    return run_before


def test_main_view(room, snap_compare):
    assert snap_compare(room, terminal_size=SIZE, run_before=before())


def test_spawn_form(room, snap_compare):
    assert snap_compare(room, terminal_size=SIZE, run_before=before("n", *"Summarise the findings"))


def test_patch_edit(room, snap_compare):
    assert snap_compare(room, terminal_size=SIZE, run_before=before("e"))


def test_help(room, snap_compare):
    assert snap_compare(room, terminal_size=SIZE, run_before=before("question_mark"))
