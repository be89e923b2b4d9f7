"""The "## Learned rules" section of a skill's text: where an approved patch adds its line, and how a
consolidation folds the section's lines together (past THRESHOLD approved patches since the last one,
`gepa.patches` proposes the folded text as a patch of kind "consolidation")."""

from __future__ import annotations

import re

LEARNED = "## Learned rules"
THRESHOLD = 10  # more approved patches than this since the last consolidation bring a proposal
# A rule line that sets a limit: a later one with other numbers replaces it.
LIMIT = re.compile(
    r"\b(?:more|fewer|less|over|under|most|least|max(?:imum)?|min(?:imum)?|limit|up to|deeper|beyond)\b|[<>]",
    re.I,
)


def add_learned_line(text: str, line: str) -> str:
    """`text` with `line` (a "- ..." bullet) added at the end of its "## Learned rules" section."""
    bullet = line if line.startswith("- ") else f"- {line}"
    lines = text.rstrip("\n").split("\n")
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == LEARNED)
    except StopIteration:
        return "\n".join(lines) + f"\n\n{LEARNED}\n\n{bullet}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    last = end
    while last > start + 1 and not lines[last - 1].strip():
        last -= 1
    lines[last:last] = [bullet]
    return "\n".join(lines) + "\n"


def fold(text: str, count: int) -> str:
    """`text` with its "## Learned rules" rewritten: duplicates dropped, a limit kept at its latest value,
    ALWAYS rules first, then NEVER, then the rest. Offline and deterministic."""
    lines = text.rstrip("\n").split("\n")
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == LEARNED)
    except StopIteration:
        return text
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    bullets = [ln.strip() for ln in lines[start + 1 : end] if ln.strip().startswith("- ")]
    kept: dict[str, str] = {}
    for b in bullets:  # later wins: a limit keeps its newest value
        key = re.sub(r"\d+(?:\.\d+)?%?", "#", b.lower()) if LIMIT.search(b) else b.lower()
        kept.pop(key, None)
        kept[key] = b

    def rank(b: str) -> int:
        u = b[2:].lstrip("* ").upper()
        return 0 if u.startswith("ALWAYS") else 1 if u.startswith("NEVER") else 2

    ordered = sorted(kept.values(), key=rank)
    section = [LEARNED, "", f"(Consolidated from {count} approved patches.)", "", *ordered]
    rest = lines[end:]
    out = lines[:start] + section + ([""] + rest if rest else [])
    return "\n".join(out) + "\n"
