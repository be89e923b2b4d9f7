"""Shared fixtures. Every test runs with TMUX_TMPDIR pointing at a private folder, so no tmux command a
test makes (Scope's or its own) can reach a server that is not the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.helpers import ScopeRunner

_TMUX_DIR = tempfile.mkdtemp(prefix="sct-")  # short: socket paths must stay under 108 bytes
os.environ["TMUX_TMPDIR"] = _TMUX_DIR
os.environ.pop("TMUX", None)
os.environ.pop("TMUX_PANE", None)
for _k in [
    k for k in os.environ if k.startswith(("SCOPE_", "ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_", "CODEX_"))
]:
    os.environ.pop(_k)
# the trust store ($XDG_CONFIG_HOME/scope/trusted.json) of this run, never the person's
os.environ["XDG_CONFIG_HOME"] = os.path.join(_TMUX_DIR, "xdg")


def _servers() -> list[str]:
    uid_dir = Path(_TMUX_DIR) / f"tmux-{os.getuid()}"
    return sorted(p.name for p in uid_dir.glob("*")) if uid_dir.is_dir() else []


@pytest.fixture(autouse=True)
def _tmux_guard():
    """Fail loudly if anything could reach a tmux server outside this run's private folder."""
    assert os.environ.get("TMUX_TMPDIR") == _TMUX_DIR, (
        "TMUX_TMPDIR was changed: a test could reach a real server"
    )
    assert "TMUX" not in os.environ, "TMUX is set: a test could reach the user's tmux server"
    yield
    assert os.environ.get("TMUX_TMPDIR") == _TMUX_DIR


def pytest_sessionfinish(session, exitstatus):
    for sock in _servers():
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    shutil.rmtree(_TMUX_DIR, ignore_errors=True)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A HOME of the test's own (agents home, Claude Code settings), never the user's."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(h / ".config"))  # the trust store of this test
    monkeypatch.setenv("SCOPE_AGENTS_DIR", str(h / ".scope" / "agents"))
    return h


@pytest.fixture
def scope(tmp_path, home, monkeypatch) -> ScopeRunner:
    """A fresh project folder with `.scope/`, and a runner for the real `scope` CLI in it.

    Its tmux server (socket derived from the project path) is killed at the end of the test.
    """
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.chdir(proj)
    runner = ScopeRunner(proj, python=sys.executable)
    runner.init()
    yield runner
    runner.kill_server()


@pytest.fixture
def stub():
    """A Messages-API stub on 127.0.0.1 (tests/support/messages_stub.py): push replies, read `stub.requests`."""
    from tests.support.messages_stub import MessagesStub

    with MessagesStub() as s:
        yield s


@pytest.fixture
def openai_stub():
    """An OpenAI-API stub on 127.0.0.1 (tests/support/openai_stub.py): Chat Completions and Responses."""
    from tests.support.openai_stub import OpenAIStub

    with OpenAIStub() as s:
        yield s


@pytest.fixture
def gemini_stub():
    """A Gemini-API stub on 127.0.0.1 (tests/support/gemini_stub.py): generateContent, streamed or not."""
    from tests.support.gemini_stub import GeminiStub

    with GeminiStub() as s:
        yield s
