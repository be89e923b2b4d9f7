"""The "## Learned rules" section of a skill's text: where an approved patch adds its line, and how a
consolidation folds the section's lines together (past THRESHOLD learned lines, `gepa.patches` proposes
the folded text as a patch of kind "consolidation", tested like any other). Offline the fold dedupes and
groups by rule, and names what it merged into what."""

from __future__ import annotations

import re

from scope_tui.gepa import meaning

LEARNED = "## Learned rules"
THRESHOLD = 10  # more learned lines than this bring a consolidation proposal
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


def _section(text: str) -> tuple[list[str], int, int, list[str]] | None:
    lines = text.rstrip("\n").split("\n")
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == LEARNED)
    except StopIteration:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    bullets = [ln.strip() for ln in lines[start + 1 : end] if ln.strip().startswith("- ")]
    return lines, start, end, bullets


def learned_lines(text: str) -> list[str]:
    """The bullets of the text's "## Learned rules"."""
    sec = _section(text)
    return sec[3] if sec else []


def fold(text: str, count: int, owners: dict[str, str] | None = None) -> tuple[str, dict[str, list[str]]]:
    """(`text` with its "## Learned rules" rewritten, what was merged into what). Offline and
    deterministic: lines are grouped by the rule (deviation signature) that owns them, in `owners`
    (line -> signature); within a group, or where one line's key terms and stances are covered by
    another's, the later, fuller line is kept and the others are merged into it; a limit keeps its
    newest value; ALWAYS rules come first, then NEVER, then the rest, group by group."""
    sec = _section(text)
    if sec is None:
        return text, {}
    lines, start, end, bullets = sec
    owners = owners or {}

    def group(b: str) -> str:
        body = b[2:].strip()
        if body in owners:
            return owners[body]
        if LIMIT.search(b):
            return "limit:" + re.sub(r"\d+(?:\.\d+)?%?", "#", b.lower())
        return "line:" + " ".join(sorted(meaning.terms(body)))

    kept: dict[str, str] = {}  # group -> line (later wins)
    merged: dict[str, list[str]] = {}
    for b in bullets:
        g = group(b)
        if g in kept and kept[g] != b:
            merged.setdefault(b, []).extend([kept[g], *merged.pop(kept[g], [])])
        kept.pop(g, None)
        kept[g] = b
    # a line whose key terms (with the same stance) another line covers says nothing of its own
    final = list(kept.values())
    for b in list(final):
        tb, sb = meaning.terms(b[2:]), meaning.stances(b[2:])
        for other in final:
            if other == b or len(meaning.terms(other[2:])) <= len(tb):
                continue
            so = meaning.stances(other[2:])
            if tb <= meaning.terms(other[2:]) and all(so.get(t, sb[t]) == sb[t] for t in sb):
                final.remove(b)
                merged.setdefault(other, []).extend([b, *merged.pop(b, [])])
                break

    def rank(b: str) -> int:
        u = b[2:].lstrip("* ").upper()
        return 0 if u.startswith("ALWAYS") else 1 if u.startswith("NEVER") else 2

    order = {g: i for i, g in enumerate(dict.fromkeys(group(b) for b in final))}
    ordered = sorted(final, key=lambda b: (rank(b), order[group(b)]))
    n_merged = sum(len(v) for v in merged.values())
    note = f"(Consolidated from {count} approved patches" + (
        f"; {n_merged} lines merged.)" if n_merged else ".)"
    )
    section = [LEARNED, "", note, "", *ordered]
    merged = {k[2:]: [x[2:] for x in v] for k, v in merged.items()}  # the rules, without their bullets
    rest = lines[end:]
    out = lines[:start] + section + ([""] + rest if rest else [])
    return "\n".join(out) + "\n", merged
