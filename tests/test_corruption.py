"""The fuzz corpus: one project holding a session for each kind of corruption (tests/support/corruption.py),
then every read-only command and the control room over it. 0 tracebacks, 0 hangs, each corrupt session
listed as corrupt, the healthy ones as they are.

The kinds are applied in a seeded order (SCOPE_FUZZ_SEED, default 14), so a failure names its session.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scope_tui.store import sessions
from scope_tui.store.project import Project
from tests.support.corruption import CORRUPT_ROW, PROJECT_KINDS, SESSION_KINDS, seeded_order

SEED = int(os.environ.get("SCOPE_FUZZ_SEED") or 14)
DEADLINE = 30.0  # seconds any one command may take over the whole corpus
# The project-wide kinds the control room is opened over too (each room costs a few seconds).
ROOM_KINDS = {"sessions a file", "config wrong type", "config a FIFO", "patch wrong types", "patch a FIFO"}
STATUSES = ("running", "done", "failed", "needs_input", "killed")


class Corpus:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = Project.create(root / ".scope")
        self.kinds: dict[str, str] = {}  # session id -> kind
        self.healthy: list[str] = []
        for i, kind in enumerate(seeded_order(SEED)):
            s = self._session(f"task for {kind}", STATUSES[i % len(STATUSES)])
            SESSION_KINDS[kind](Path(s))
            self.kinds[os.path.basename(s)] = kind
        for i in range(3):
            self.healthy.append(os.path.basename(self._session(f"healthy {i}", "done")))
        # a file where a session folder should be
        stray = self.project.sessions / str(len(self.kinds) + len(self.healthy) + 1)
        stray.write_text("not a folder")
        self.kinds[stray.name] = "session folder a file"
        old = time.time() - 3600  # found later, not a spawn mid-way (sessions.being_created)
        for d in self.project.sessions.iterdir():
            os.utime(d, (old, old), follow_symlinks=False)

    def _session(self, task: str, status: str) -> str:
        s = sessions.create(self.project, task, driver="command", cmd="true")
        if status != "pending":
            sessions.set_status(s.path, status)
        (Path(s.path) / "result.md").write_text(f"result of {task}\n")
        return s.path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SCOPE_DIR"] = str(self.project.path)
        env.pop("SCOPE_SESSION_ID", None)
        return env

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        t0 = time.monotonic()
        try:
            p = subprocess.run(
                [sys.executable, "-m", "scope_tui", *args],
                capture_output=True,
                timeout=DEADLINE,
                env=self.env(),
                cwd=cwd or self.root,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"scope {' '.join(args)} hung (over {DEADLINE}s)") from None
        out = subprocess.CompletedProcess(
            p.args, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        )
        assert "Traceback" not in out.stderr, f"scope {' '.join(args)}:\n{out.stderr}"
        assert out.returncode in (0, 1, 2, 3), f"scope {' '.join(args)} exited {out.returncode}: {out.stderr}"
        assert time.monotonic() - t0 < DEADLINE
        return out

    def run_all(self, *commands: list[str]) -> None:
        """The commands at once (each its own process), each checked as `run` checks one."""
        procs = [
            (
                args,
                subprocess.Popen(
                    [sys.executable, "-m", "scope_tui", *args],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    env=self.env(),
                    cwd=self.root,
                ),
            )
            for args in commands
        ]
        for args, proc in procs:
            try:
                _, err = proc.communicate(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError(f"scope {' '.join(args)} hung (over {DEADLINE}s)") from None
            text = err.decode(errors="replace")
            assert "Traceback" not in text, f"scope {' '.join(args)}:\n{text}"
            assert proc.returncode in (0, 1, 2, 3), f"scope {' '.join(args)} exited {proc.returncode}: {text}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


def test_the_corpus_has_at_least_fifty_kinds(corpus):
    assert len(SESSION_KINDS) + len(PROJECT_KINDS) >= 50
    assert len(corpus.kinds) == len(SESSION_KINDS) + 1


def test_poll_lists_every_corrupt_session_as_corrupt_with_its_reason(corpus):
    polled = corpus.run("poll", "--json")
    rows = {r["id"]: r for r in map(json.loads, polled.stdout.splitlines())}
    assert set(corpus.kinds) <= set(rows), (sorted(set(corpus.kinds) - set(rows)), polled.stderr)
    for sid, kind in corpus.kinds.items():
        if kind in CORRUPT_ROW or kind == "session folder a file":
            assert rows[sid]["status"] == "corrupt", (sid, kind, rows[sid])
            assert rows[sid]["reason"], (sid, kind)
        else:  # a bad event line, task or result: the session itself still reads
            assert rows[sid]["status"] != "corrupt", (sid, kind, rows[sid])
    for sid in corpus.healthy:
        assert rows[sid]["status"] == "done"
    polled = corpus.run("poll")
    assert polled.stdout.count("corrupt") >= len(CORRUPT_ROW), (polled.stdout, polled.stderr)
    tree = corpus.run("tree").stdout
    assert "state.json: a FIFO, not a file" in tree and "meta.json: nested too deep" in tree


@pytest.mark.parametrize(
    "args",
    [
        ["tree"],
        ["poll", "--all"],
        ["clean"],
        ["patches"],
        ["skills"],
        ["doctor"],
        ["agent", "list"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_read_only_command_over_the_whole_corpus(corpus, args):
    corpus.run(*args)


def test_poll_and_wait_name_every_session_at_once(corpus):
    ids = [*corpus.kinds, *corpus.healthy]
    corpus.run("poll", *ids)
    p = corpus.run("wait", *ids, "--timeout", "5")
    assert p.returncode == 1, p.stderr  # corrupt sessions are never "done"
    for sid, kind in corpus.kinds.items():
        if kind in CORRUPT_ROW:
            assert f"== {sid} corrupt (" in p.stdout, (sid, kind)


@pytest.mark.parametrize("half", [0, 1])
def test_log_and_tree_of_each_session(corpus, half):
    ids = sorted(corpus.kinds, key=int)[half::2]
    for at in range(0, len(ids), 8):  # eight sessions' commands at once
        batch = ids[at : at + 8]
        corpus.run_all(*[c for sid in batch for c in (["log", sid], ["log", sid, "--json"], ["tree", sid])])


def test_wait_of_each_corrupt_session_alone_exits_1_with_why(corpus):
    for kind in ("state a FIFO", "meta nested 200000 deep", "state cost Infinity", "session folder a file"):
        sid = next(s for s, k in corpus.kinds.items() if k == kind)
        w = corpus.run("wait", sid, "--timeout", "5")
        assert w.returncode == 1 and f"== {sid} corrupt (" in w.stdout, (sid, kind, w.stdout, w.stderr)


def test_the_control_room_over_the_corpus_every_row_every_tab(corpus, monkeypatch):
    from scope_tui.tui.app import ScopeApp

    monkeypatch.setenv("SCOPE_DIR", str(corpus.project.path))
    app = ScopeApp(corpus.project)
    tabs = ("tab-pane", "tab-task", "tab-events", "tab-result", "tab-memory", "tab-diff")

    async def main() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await asyncio.wait_for(app.settled.wait(), 30)
            await pilot.pause()
            listed = set(app.nodes)
            want = {sid for sid, k in corpus.kinds.items()} | set(corpus.healthy)
            assert want <= listed, want - listed
            for sid, kind in corpus.kinds.items():
                if kind in CORRUPT_ROW:
                    assert "corrupt" in app.nodes[sid].label.plain, (sid, kind, app.nodes[sid].label.plain)
            right = app.room.query_one("#right")
            # every row on every tab, as a highlight shows it (keys for each would cost minutes here) ...
            for tab in tabs:
                right.active = tab
                await pilot.pause()
                for sid in sorted(listed, key=int):
                    app.show_details(sid)
                await pilot.pause()
            # ... and the keys themselves over a stretch of rows on each tab
            for i in range(12):
                right.active = tabs[i % len(tabs)]
                await pilot.press("down")
            for key in ("h", "h", "g", "escape", "question_mark", "escape", "p", "t", "slash", "escape"):
                await pilot.press(key)
                await pilot.pause()
            await pilot.press("q")

    asyncio.run(asyncio.wait_for(main(), 240))  # a hang, not a timing


@pytest.mark.parametrize("kind", sorted(PROJECT_KINDS))
def test_a_broken_project_file_is_one_line_in_each_face(tmp_path, kind, monkeypatch, home):
    c = Corpus.__new__(Corpus)
    c.root = tmp_path
    c.project = Project.create(tmp_path / ".scope")
    c.kinds, c.healthy = {}, [os.path.basename(c._session("healthy", "done"))]
    PROJECT_KINDS[kind](c.project.root)
    c.run_all(["poll"], ["tree"], ["patches"], ["skills"], ["agent", "list"], ["log", "1"])
    if kind not in ROOM_KINDS:
        return
    from scope_tui.tui.app import ScopeApp

    monkeypatch.setenv("SCOPE_DIR", str(c.project.path))
    app = ScopeApp(c.project)

    async def main() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await asyncio.wait_for(app.loaded.wait(), 20)
            for key in ("down", "p", "g", "escape", "t", "q"):
                await pilot.press(key)
                await pilot.pause()

    asyncio.run(asyncio.wait_for(main(), 60))
