"""Drive the real control room with Pilot over a still scene and save SVG (and PNG) screenshots; and the
same scene through `scope serve` in Debian's headless Chromium at 390×844 (phone*.png).

    .venv/bin/python screenshots/make.py [--out screenshots] [--only phone|room]

PNGs are made with rsvg-convert when it is installed (apt-get install librsvg2-bin); the phone's need
chromium (apt-get install chromium) and come from the browser itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIZE = (160, 46)


async def shoot(out: Path) -> list[Path]:
    from scope_tui.store.project import Project
    from scope_tui.tui.app import ScopeApp
    from scope_tui.tui.scene import write_scene

    home = Path(tempfile.mkdtemp(prefix="scope-shots-")) / "payments"
    project = Project.create(home / ".scope")
    now = write_scene(project)
    os.environ["SCOPE_AGENTS_DIR"] = str(home / "agents")  # no real agents home in a picture
    saved: list[Path] = []

    async def run(theme: str, steps: list[tuple[str, list[str]]]) -> None:
        app = ScopeApp(project, clock=lambda: now, live_pane=False, sweep=False)
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(app.settled.wait(), 20)  # finished sessions' alerts too
            app.theme = theme
            app.select("1.1.2")
            await pilot.pause()
            await pilot.pause()
            for name, keys in steps:
                if keys:
                    await pilot.press(*keys)
                    await pilot.pause()
                    await pilot.pause()
                path = out / f"{name}.svg"
                app.save_screenshot(path.name, str(out))
                saved.append(path)

    await run(
        "scope-dark",
        [
            ("main", []),
            ("spawn", ["n", *"Summarise the findings for the team"]),
        ],
    )
    await run("scope-dark", [("patch", ["e"])])
    await run("scope-dark", [("help", ["question_mark"])])
    await run("scope-light", [("main-light", [])])
    await run("scope-high-contrast", [("main-high-contrast", [])])
    shutil.rmtree(home.parent, ignore_errors=True)
    return saved


def shoot_phone(out: Path) -> list[Path]:
    """The room a phone shows: the token URL opened at 390×844 (tests/support/browser.py), then the
    answer prompt a tap on Answer opens. The page has no address bar, so the token is in no picture."""
    from scope_tui.store.project import Project
    from scope_tui.tui.scene import write_scene
    from tests.support.browser import CHROMIUM, Phone, start_serve, stop

    if CHROMIUM is None:
        print("no chromium: no phone screenshots (apt-get install chromium)")
        return []
    home = Path(tempfile.mkdtemp(prefix="scope-shots-")) / "payments"
    project = Project.create(home / ".scope")
    write_scene(project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCOPE_", "TMUX"))}
    env["SCOPE_AGENTS_DIR"] = str(home / "agents")
    env["TMUX_TMPDIR"] = str(home.parent)  # no tmux server but the scene's own (it has none)
    proc, url = start_serve(home, env, home.parent / "serve.out")
    saved: list[Path] = []
    try:
        phone = Phone(url)
        try:
            phone.wait_for("spawn_before_peek", timeout=30, what="the scene's alerts")
            phone.wait_for("1.2.2  Checker", timeout=10, what="the whole tree")
            phone.shot(out / "phone.png")
            saved.append(out / "phone.png")
            phone.tap("Answer")  # the scene's 1.1.3 asks
            phone.wait_for("enter to send", what="the answer prompt")
            phone.shot(out / "phone-answer.png")
            saved.append(out / "phone-answer.png")
        finally:
            phone.close()
    finally:
        stop(proc)
        shutil.rmtree(home.parent, ignore_errors=True)
    return saved


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent))
    ap.add_argument("--only", choices=["phone", "room"], help="only the phone's pictures, or only the room's")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only != "room":
        for png in shoot_phone(out):
            print(png)
    if args.only == "phone":
        return 0
    saved = asyncio.run(shoot(out))
    rsvg = shutil.which("rsvg-convert")
    for svg in saved:
        line = str(svg)
        if rsvg:
            png = svg.with_suffix(".png")
            subprocess.run([rsvg, "-z", "1", str(svg), "-o", str(png)], check=True)
            line += f" + {png.name}"
        print(line)
    if not rsvg:
        print("no rsvg-convert: SVG only (apt-get install librsvg2-bin for PNGs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
