"""Decompose a task that is too big into map-reduce parts, from whatever context it has.

In order: the run's own `decompose` spec; the parts a strategic model proposed; the context's files
(two or more); a single file in chunks; and with no file at all, the task's text itself in chunks
(its first line is the instruction every mapper gets, the rest is split).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scope_tui.patterns.engines.mapreduce import CHARS_PER_TOKEN, context_files
from scope_tui.store.errors import UsageError

PARALLEL = 4


@dataclass
class Plan:
    """A map-reduce spec for the orchestrator to launch, how it was split, and the task it runs."""

    spec: dict[str, Any]
    how: str
    task: str | None = None  # None: the run's own task


def chunk_text(text: str, n: int) -> list[str]:
    """`text` in at most `n` parts of about equal size, cut at line ends (no line is split or lost)."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return []
    size = max(1, math.ceil(len(text) / max(1, n)))
    parts: list[str] = []
    cur = ""
    for line in lines:
        if cur and len(cur) + len(line) > size and len(parts) < n - 1:
            parts.append(cur)
            cur = ""
        cur += line
    parts.append(cur)
    return [p for p in parts if p.strip()]


def plan(task: str, params: dict[str, Any], model_parts: list[str] | None = None) -> Plan:
    parallel = int(params.get("parallel") or PARALLEL)
    given = params.get("decompose")
    if given:
        spec = dict(given)
        spec.setdefault("skill", "map-reduce")
        return Plan(spec, "as the run's decompose says")
    if model_parts:
        return Plan(
            {"skill": "map-reduce", "params": {"parts": list(model_parts), "parallel": parallel}},
            f"the strategic model proposed {len(model_parts)} parts",
        )
    paths = [str(p) for p in params.get("context") or [] if p != "-"]
    try:
        files = context_files(paths) if paths else []
    except UsageError:
        files = []
    if len(files) >= 2:
        return Plan(
            {"skill": "map-reduce", "params": {"parallel": parallel}}, f"one part a file, {len(files)} files"
        )
    if len(files) == 1:
        tokens = max(1, files[0].stat().st_size // CHARS_PER_TOKEN)
        chunk = int(params.get("chunk_tokens") or max(1, math.ceil(tokens / parallel)))
        return Plan(
            {"skill": "map-reduce", "params": {"parallel": parallel, "chunk_tokens": chunk}},
            f"{files[0].name} ({tokens:,} tokens) in chunks of {chunk:,} tokens",
        )
    head, _, body = task.strip().partition("\n")
    text = body if body.strip() else task
    parts = chunk_text(text, parallel)
    instruction = head if body.strip() else "Do the task for your part of the text."
    return Plan(
        {"skill": "map-reduce", "params": {"parts": parts, "parallel": parallel}},
        f"no context file: the task's text ({len(text):,} characters) in {len(parts)} chunks",
        task=f"{instruction}\n\n(The text is split into {len(parts)} parts; each mapper reads one.)",
    )
