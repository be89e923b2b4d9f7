"""`scope demo --headless`: its own project (never one found by walking up), real workers through three
levels, and the offline worker that deviates once, leaving an alert and a pending patch."""

from __future__ import annotations

import json
import subprocess

from scope_tui.tmux import socket_for
from tests.support.helpers import wait_until


def test_demo_seeds_its_own_project_and_runs(scope, tmp_path):
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
    finally:
        subprocess.run(["tmux", "-L", socket_for(where), "kill-server"], capture_output=True)
