"""A still scene for screenshots and snapshot tests: a project's files as workers, supervisors and the
deviation detector would have written them, at a fixed clock, with no tmux at all.

Written through the store API (never by the app): `write_scene(project)` returns the fixed time to give
the app as its clock, so every elapsed time in the picture is the same on every run.
"""

from __future__ import annotations

from typing import Any

from scope_tui.store import events, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.project import Project

NOW = 1_800_000_000.0

# (id, level, task, status, phase, skill, model, agent, age seconds, cost, reason)
ROWS: list[tuple[Any, ...]] = [
    (
        "1",
        "strategic",
        "Audit the payments service for race conditions",
        "running",
        "decide",
        "dag",
        "claude-opus-4-1",
        None,
        1860,
        0.42,
        None,
    ),
    (
        "1.1",
        "tactical",
        "Scan 48 modules for unsynchronised writes",
        "running",
        "observe",
        "map-reduce",
        "claude-sonnet-4-5",
        None,
        1500,
        0.18,
        None,
    ),
    (
        "1.1.1",
        "operational",
        "Scan chunk 1/4: ledger/*.py",
        "done",
        None,
        None,
        "claude-haiku-4-5",
        None,
        300,
        0.01,
        None,
    ),
    (
        "1.1.2",
        "operational",
        "Scan chunk 2/4: api/*.py",
        "running",
        "act",
        None,
        "claude-haiku-4-5",
        None,
        420,
        0.02,
        None,
    ),
    (
        "1.1.3",
        "operational",
        "Scan chunk 3/4: workers/*.py",
        "needs_input",
        "decide",
        None,
        "claude-haiku-4-5",
        None,
        380,
        0.02,
        None,
    ),
    (
        "1.1.4",
        "operational",
        "Scan chunk 4/4: db/*.py",
        "failed",
        None,
        None,
        "claude-haiku-4-5",
        None,
        610,
        0.03,
        "stuck",
    ),
    (
        "1.2",
        "tactical",
        "Fix the double spend in ledger.transfer",
        "waiting",
        "observe",
        "maker-checker",
        "claude-sonnet-4-5",
        "ada",
        900,
        0.11,
        None,
    ),
    (
        "1.2.1",
        "operational",
        "Maker: write the fix and a regression test",
        "done",
        None,
        None,
        "claude-sonnet-4-5",
        "ada",
        500,
        0.07,
        None,
    ),
    (
        "1.2.2",
        "operational",
        "Checker: run the rubric on the maker's diff",
        "running",
        "orient",
        None,
        "claude-haiku-4-5",
        "bo",
        120,
        0.01,
        None,
    ),
    ("2", "operational", "pytest -q tests/ledger", "done", None, None, None, None, 95, 0.0, None),
]

PANE = (
    "\x1b[2mscope · session 1.1.2 · builtin worker · claude-haiku-4-5\x1b[0m\n"
    "\x1b[1;34mobserve\x1b[0m  read api/transfer.py (412 lines)\n"
    "\x1b[1;34morient\x1b[0m   two handlers write \x1b[33mbalance\x1b[0m without the row lock\n"
    "\x1b[1;35mdecide\x1b[0m   report both sites with line numbers\n"
    "\x1b[1;32mact\x1b[0m      grep -n 'balance =' api/*.py\n"
    "api/transfer.py:88:    account.balance = account.balance - amount\n"
    "api/refund.py:41:      account.balance += refund.amount\n"
    "\x1b[2m▍ writing findings for chunk 2/4 …\x1b[0m\n"
)

PATCH_DIFF = """--- map-reduce/v1.md
+++ map-reduce/v1.md (patched)
@@ -12,6 +12,7 @@
 ## Procedure
 1. Partition the input into chunks of at most `chunk_tokens`.
+2. Peek at one chunk before spawning workers: check the partition is meaningful.
 3. Spawn one worker per chunk, at most `parallel` at once.
 4. Wait for all workers; collect their results.
 5. Spawn one synthesis agent to reduce the results.
"""

PATCHED_TEXT = """+++
name = "map-reduce"
when = ["parts are independent", "context_tokens > 50_000"]
rules = ["peek_before_spawn", "max_parallel"]
+++

# Map-reduce

## Procedure
1. Partition the input into chunks of at most `chunk_tokens`.
2. Peek at one chunk before spawning workers: check the partition is meaningful.
3. Spawn one worker per chunk, at most `parallel` at once.
4. Wait for all workers; collect their results.
5. Spawn one synthesis agent to reduce the results.
"""


def write_scene(project: Project) -> float:
    """Write the scene's sessions, events, a pending patch and an agent-less corrupt row; returns NOW."""
    for sid, level, task, status, phase, skill, model, agent, age, cost, reason in ROWS:
        parent = sid.rpartition(".")[0] or None
        driver = "command" if sid == "2" else "builtin"
        extra = {"cmd": "pytest -q tests/ledger"} if sid == "2" else {}
        s = sessions.create(
            project,
            task,
            parent=parent,
            level=level,
            driver=driver,
            skill=skill,
            model=model,
            agent=agent,
            **extra,
        )
        assert s.id == sid, (s.id, sid)
        s.meta["created_at"] = NOW - age
        write_json(s.dir / sessions.META, s.meta)
        ended = NOW - age // 3 if status in sessions.TERMINAL else NOW - 5
        state = {
            "status": status,
            "phase": phase,
            "reason": reason,
            "exit_code": 0 if status == "done" else None,
            "tokens": {"input": int(cost * 200_000), "output": int(cost * 20_000)},
            "cost": cost,
            "updated_at": ended,
        }
        write_json(s.dir / sessions.STATE, state)
        if status == "done":
            sessions.write_result(s.dir, f"{task}: finished; see the events for the steps.\n")
    write_text(project.session_dir("1.1.2") / sessions.PANE_LOG, PANE)
    write_text(project.session_dir("2") / sessions.PANE_LOG, "\x1b[32m12 passed\x1b[0m in 0.84s\n")
    events.append(
        project.session_dir("1.1"),
        "deviation",
        t=NOW - 120,
        kind="spawn_before_peek",
        expected="peek at a chunk before spawning workers",
        actual="spawned 4 workers first",
    )
    events.append(
        project.session_dir("1.1.4"),
        "escalation",
        t=NOW - 30,
        reason="stuck",
        details="no progress in 3 iterations on db/pool.py",
    )
    (project.sessions / "3").mkdir()
    write_text(project.sessions / "3" / sessions.META, '{"id": "3", "title": "half-writ')
    write_json(
        project.patches / "p1.json",
        {
            "id": "p1",
            "target": "skill:map-reduce",
            "skill": "map-reduce",
            "base_version": 1,
            "new_text": PATCHED_TEXT,
            "diff": PATCH_DIFF,
            "deviation": {"kind": "spawn_before_peek", "session": "1.1"},
            "reflection": "The supervisor spawned four workers before looking at any chunk; one chunk "
            "was a binary fixture and its worker got stuck. Peek first.",
            "status": "pending",
            "decided_by": None,
            "decision_note": None,
            "created_at": NOW - 60,
        },
    )
    return NOW
