"""Consolidation: past THRESHOLD approved patches since a skill's last consolidation, one rewritten prompt
that folds them together is proposed, itself a patch to approve."""

from __future__ import annotations

import re
from typing import Any

from scope_tui.gepa import patches
from scope_tui.store.project import Project

THRESHOLD = 10  # more approved patches than this since the last consolidation bring a proposal


def since_last(project: Project, skill: str) -> list[dict[str, Any]]:
    """The approved (non-consolidation) patches of `skill` decided after its last approved consolidation."""
    target = f"skill:{skill}"
    mine = [p for p in patches.list_patches(project, "approved") if p.get("target") == target]
    cons = [float(p.get("decided_at") or 0) for p in mine if p.get("kind") == "consolidation"]
    last = max(cons, default=0.0)
    return [p for p in mine if p.get("kind") != "consolidation" and float(p.get("decided_at") or 0) > last]


def fold(text: str, count: int) -> str:
    """`text` with its "## Learned rules" rewritten: duplicates dropped, a limit kept at its latest value,
    ALWAYS rules first, then NEVER, then the rest. Offline and deterministic."""
    lines = text.rstrip("\n").split("\n")
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == patches.LEARNED)
    except StopIteration:
        return text
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    bullets = [ln.strip() for ln in lines[start + 1 : end] if ln.strip().startswith("- ")]
    kept: dict[str, str] = {}
    for b in bullets:  # later wins: a limit keeps its newest value
        key = re.sub(r"\d+(?:\.\d+)?%?", "#", b.lower()) if patches._LIMIT.search(b) else b.lower()
        kept.pop(key, None)
        kept[key] = b

    def rank(b: str) -> int:
        u = b[2:].lstrip("* ").upper()
        return 0 if u.startswith("ALWAYS") else 1 if u.startswith("NEVER") else 2

    ordered = sorted(kept.values(), key=rank)
    section = [patches.LEARNED, "", f"(Consolidated from {count} approved patches.)", "", *ordered]
    rest = lines[end:]
    out = lines[:start] + section + ([""] + rest if rest else [])
    return "\n".join(out) + "\n"


def maybe_propose(
    project: Project, skill: str, session: str | None = None, root: str | None = None
) -> dict[str, Any] | None:
    """Propose a consolidation of `skill` when more than THRESHOLD patches were approved since the last
    one and none is pending; returns the new patch or None."""
    target = f"skill:{skill}"
    folded = since_last(project, skill)
    if len(folded) <= THRESHOLD:
        return None
    if any(
        p.get("target") == target and p.get("kind") == "consolidation"
        for p in patches.list_patches(project, "pending")
    ):
        return None
    version, text = patches._skill_text(project, skill, root=root)
    new_text = fold(text, len(folded))
    ids = [str(p["id"]) for p in folded]
    return patches.propose(
        project,
        target=target,
        skill=skill,
        base_version=version,
        base_text=text,
        new_text=new_text if new_text != text else text + "\n",
        deviation={},
        reflection=f"{len(folded)} patches approved since the last consolidation ({', '.join(ids)}): "
        "one rewritten prompt folds them together.",
        signature=f"consolidation:{'+'.join(ids)}",
        session=session,
        kind="consolidation",
        folds=ids,
        **({"skill_root": root} if root else {}),
    )
