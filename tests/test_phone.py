"""The room from a phone: `scope serve`'s token URL in Debian's headless Chromium at 390×844 (Playwright for
Python, tests/support/browser.py). The page shows the narrow room (the tree, the alerts, the patch and a
row of buttons); a tap on Answer and a typed reply reach the worker that asked, which goes on and
goes on; a tap on Approve writes the skill's next version."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.support.browser import CHROMIUM, Phone, start_serve, stop

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")


@pytest.fixture
def phone(scope, tmp_path):
    """Open the room's token URL on a phone: a function of no arguments that starts serve and the page."""
    opened: list[tuple[object, Phone]] = []

    def open_() -> Phone:
        proc, url = start_serve(scope.root, scope.environ(), tmp_path / "serve.out")
        try:
            page = Phone(url)
        except BaseException:
            stop(proc)
            raise
        opened.append((proc, page))
        return page

    yield open_
    for proc, page in opened:
        page.close()
        stop(proc)  # type: ignore[arg-type]
    if opened:
        text = (tmp_path / "serve.out").read_text()
        token = text.split("?token=", 1)[1].split()[0]
        assert text.count(token) == 1, "the token reached serve's log"


def test_a_phone_sees_the_tree_answers_the_asking_worker_and_approves_a_patch(scope, phone, monkeypatch):
    from scope_tui.gepa import online, patches
    from scope_tui.patterns import skill_files
    from scope_tui.store import sessions
    from scope_tui.store.project import Project
    from scope_tui.tui.demo import ask_person

    monkeypatch.setenv("SCOPE_REFLECT_OFFLINE", "1")
    project = Project(scope.scope_dir)
    (project.home / "logs").mkdir()
    (project.home / "logs" / "billing.log").write_text("ok\nERROR one\nERROR two\nok\n")
    asking = ask_person(project)  # a real worker in tmux that asks which log to read, then reads it
    # the deviation detector's own patch: an rlm session that spawns before it peeks at its context
    rlm = sessions.create(project, "find where tokens are checked", driver="builtin", skill="rlm")
    online.before_action(project, rlm.dir, {"kind": "spawn", "task": "everything"})
    (patch,) = patches.list_patches(project, "pending")
    scope.wait_status(asking, "needs_input")

    page = phone()
    page.wait_for(f"◆ {asking}  Ask the", timeout=30, what="the tree with the worker that asks")
    cols, rows = page.size
    assert 36 <= cols < 70, f"a phone's page should be a narrow terminal, got {cols}×{rows}"
    page.wait_for("Alerts (1)", what="the alerts")
    shown = page.text()
    assert f"⚠ {rlm.id} sequence: expected peek" in shown  # the alert, whole on two lines
    assert f"Patch {patch['id']} · skill:rlm" in shown and f"deviation: sequence in {rlm.id}" in shown
    assert "Answer" in shown and "Approve" in shown and "Reject" in shown  # what a thumb taps

    page.tap("Answer")
    page.wait_for(f"Answer {asking}", what="the answer prompt naming the worker")
    assert "which log first?" in page.text()  # what it asked
    page.type("billing")  # on the phone's keyboard, then a tap on Send (it has no enter or escape key)
    page.tap("Send")
    scope.wait_status(asking, "running")  # it read the answer from its pane and went on
    (msg,) = [json.loads(p.read_text()) for p in (project.session_dir(asking) / "inbox").glob("*.json")]
    assert msg["text"] == "billing"
    page.wait_for(f"● {asking}  Ask the person", what="the tree showing the worker running again")
    assert "◆ 0 needs input" in page.text()

    page.tap("Approve")
    page.wait_for("no patches waiting", what="the patch panel emptied")
    assert "✎ 0 patches pending" in page.text()
    decided = patches.load_patch(project, patch["id"])
    assert decided["status"] == "approved" and decided["decided_by"] == "person"
    v2 = skill_files.load(project, "rlm")
    assert v2.version == 2 and "- ALWAYS peek at the context's structure" in v2.body


@pytest.mark.parametrize("size, narrow", [((41, 40), True), ((100, 30), False)])
def test_the_room_stacks_its_panels_under_70_columns_and_keeps_its_wide_layout_above(
    size, narrow, tmp_path, home
):
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp
    from scope_tui.tui.scene import write_scene

    project = Project.create(tmp_path / "payments" / ".scope")
    now = write_scene(project)
    app = ScopeApp(project, clock=lambda: now, live_pane=False, sweep=False, watch=False)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await asyncio.wait_for(app.loaded.wait(), 20)
            await pilot.pause()
            tree, alerts, patch = (app.query_one(q).region for q in ("#tree", "#alerts", "#patch"))
            bar = app.query_one("#phonebar")
            assert app.screen.has_class("-narrow") is narrow
            assert app.query_one("#right").display is not narrow and bar.display is narrow
            if narrow:  # one above the other, each the whole width
                assert tree.bottom <= alerts.y and alerts.bottom <= patch.y and patch.bottom <= bar.region.y
                assert tree.width >= size[0] - 2 and patch.width >= size[0] - 2
            else:  # the tree beside the details, the alerts beside the patch
                assert alerts.right <= patch.x and tree.right <= app.query_one("#right").region.x

    asyncio.run(main())


def test_on_a_phone_a_patch_is_rejected_with_a_tap_a_reason_and_send(tmp_path, home):
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp
    from scope_tui.tui.scene import write_scene

    project = Project.create(tmp_path / "payments" / ".scope")
    now = write_scene(project)
    (pid,) = [p.stem for p in project.patches.glob("*.json")]
    app = ScopeApp(project, clock=lambda: now, live_pane=False, sweep=False)

    async def main() -> None:
        async with app.run_test(size=(41, 40)) as pilot:
            await asyncio.wait_for(app.loaded.wait(), 20)
            await pilot.click("#tap-reject")
            await until(pilot, lambda: app.screen.query("#send"), "the reason prompt")
            await pilot.press(*"too broad for one chunk")
            await pilot.click("#send")
            await until(
                pilot,
                lambda: json.loads((project.patches / f"{pid}.json").read_text())["status"] == "rejected",
                "the patch rejected on disk",
            )
            await until(pilot, lambda: "no patches waiting" in patch_text(app), "the patch panel emptied")

    asyncio.run(main())
    decided = json.loads((project.patches / f"{pid}.json").read_text())
    assert decided["decided_by"] == "person" and decided["decision_note"] == "too broad for one chunk"


def patch_text(app) -> str:
    return "\n".join(strip.text for strip in app.query_one("#patch").lines)


async def until(pilot, pred, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)
