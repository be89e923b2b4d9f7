"""GEPA's merge: two versions on the Pareto front with a common ancestor, each of which learned lines the
other lacks, give a merged candidate (the one's text with the other's new lines), proposed as a patch of
kind "merge" and tested against its base like any other."""

from __future__ import annotations

from typing import Any

from scope_tui.gepa import pareto, patches
from scope_tui.gepa.learned import add_learned_line, learned_lines
from scope_tui.store.project import Project


def _ancestors(lin: dict[str, Any], v: int) -> list[int]:
    out: list[int] = []
    cur: Any = v
    seen: set[int] = set()
    while isinstance(cur, int) and cur not in seen:
        seen.add(cur)
        out.append(cur)
        entry = lin.get(str(cur)) or {}
        cur = entry.get("parent") if isinstance(entry, dict) else None
    return out


def candidates(project: Project, skill: str) -> list[tuple[int, int, int]]:
    """(a, b, common ancestor) for pairs of front versions that each added lines the other lacks,
    the pair with the most fronts first."""
    from scope_tui.patterns import skill_files

    versions, scores = pareto._scores(project, skill)
    counts = pareto.front_counts(scores, pareto._k(project, skill))
    lin = skill_files.lineage(project, skill)["versions"]
    front = sorted(counts, key=lambda v: (-counts[v], -v))
    out = []
    for i, a in enumerate(front):
        for b in front[i + 1 :]:
            common = [x for x in _ancestors(lin, a) if x in set(_ancestors(lin, b))]
            if not common or common[0] in (a, b):
                continue
            la = set(learned_lines(patches._skill_text(project, skill, a)[1]))
            lb = set(learned_lines(patches._skill_text(project, skill, b)[1]))
            if la - lb and lb - la:
                out.append((a, b, common[0]))
    return out


def propose_merge(project: Project, skill: str, session: str | None = None) -> dict[str, Any] | None:
    """Propose the merge of the best pair of front versions (see `candidates`); None when there is none
    or the same merge was proposed before."""
    for a, b, common in candidates(project, skill):
        signature = f"merge:v{min(a, b)}+v{max(a, b)}"
        if any(p.get("signature") == signature for p in patches.list_patches(project)):
            continue
        _, text_a = patches._skill_text(project, skill, a)
        _, text_b = patches._skill_text(project, skill, b)
        new_text = text_a
        extra = [ln for ln in learned_lines(text_b) if ln not in learned_lines(text_a)]
        for ln in extra:
            new_text = add_learned_line(new_text, ln)
        return patches.propose(
            project,
            target=f"skill:{skill}",
            skill=skill,
            base_version=a,
            base_text=text_a,
            new_text=new_text,
            reflection=f"v{a} and v{b} are both on the Pareto front and share v{common}: v{a} with the "
            f"{len(extra)} line{'s' if len(extra) != 1 else ''} v{b} learned.",
            signature=signature,
            session=session,
            kind="merge",
            merge_of=[a, b],
        )
    return None
