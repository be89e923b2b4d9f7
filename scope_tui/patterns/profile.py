"""A task profile: what selection knows about a task before choosing a pattern.

Sizes come from the real --context files (about 4 characters a token); the rest from the task's
words and the pattern parameters given. Everything here is cheap and deterministic.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 4
_MAX_WALK = 20_000  # files: past this a folder's size is estimated from what was seen

_INDEPENDENT = re.compile(
    r"\b(each|every|per[- ](file|item|module|chunk|part)|all (the )?(files|modules|items|documents|logs)|"
    r"independent(ly)?|in parallel|for all)\b",
    re.I,
)
_VERIFY = re.compile(
    r"\b(tests?|pytest|unit tests?|verify|verif(ied|ication)|validate|check (that|it|the)|make check|make test|"
    r"ci|lint|must pass|until .* pass(es)?|rubric|gates?)\b",
    re.I,
)
_ITERATE = re.compile(
    r"\b(until|iterate|repeat(edly)?|keep (going|trying)|again|loop|fix all|all .* pass)\b", re.I
)
_STEPS = re.compile(r"\b(then|after that|depends on|once .* (is|are) done|first\b.*\bthen)\b", re.I)
_STRUCTURED_EXT = {
    ".json",
    ".csv",
    ".toml",
    ".yaml",
    ".yml",
    ".xml",
    ".py",
    ".ts",
    ".js",
    ".go",
    ".rs",
    ".sql",
}


@dataclass
class TaskProfile:
    """What a task looks like. Field names are the words a skill's `when` predicates may use."""

    task: str = ""
    context_tokens: int = 0
    context_chars: int = 0
    files: int = 0
    independent_parts: bool = False
    parts: int = 1
    has_verification: bool = False
    has_rubric: bool = False
    has_promise: bool = False
    has_dag: bool = False
    structure_known: bool = True
    iterative: bool = False
    multi_step: bool = False
    task_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The values predicates see (everything but the task text and notes)."""
        d = asdict(self)
        d.pop("task")
        d.pop("notes")
        return d


def _measure(paths: list[str]) -> tuple[int, int, list[Path], list[str]]:
    chars, files, seen, notes = 0, 0, [], []
    for p in paths:
        if p == "-":
            notes.append("context from stdin: size unknown until it is read")
            continue
        path = Path(p)
        if path.is_file():
            chars += path.stat().st_size
            files += 1
            seen.append(path)
        elif path.is_dir():
            n = 0
            for f in path.rglob("*"):
                if any(part.startswith(".") for part in f.relative_to(path).parts):
                    continue
                if f.is_file():
                    n += 1
                    chars += f.stat().st_size
                    if len(seen) < 200:
                        seen.append(f)
                    if n >= _MAX_WALK:
                        notes.append(f"{path}: stopped counting at {_MAX_WALK} files")
                        break
            files += n
        else:
            notes.append(f"{p}: not found")
    return chars, files, seen, notes


def profile(task: str, params: dict[str, Any] | None = None, cwd: Path | None = None) -> TaskProfile:
    """Profile `task` with its pattern parameters (context, rubric, promise, dag, ...).

    Relative context paths are taken from `cwd` (default: the current folder). Never raises for a
    missing path: it is noted in `notes` instead.
    """
    params = params or {}
    base = Path(cwd) if cwd else Path.cwd()
    paths = [x if x == "-" or Path(x).is_absolute() else str(base / x) for x in (params.get("context") or [])]
    chars, files, seen, notes = _measure(paths)
    indep = bool(_INDEPENDENT.search(task)) or (files >= 2 and not _STEPS.search(task))
    structured = files > 1 or any(f.suffix.lower() in _STRUCTURED_EXT for f in seen)
    has_rubric = bool(params.get("rubric"))
    return TaskProfile(
        task=task,
        context_tokens=chars // CHARS_PER_TOKEN,
        context_chars=chars,
        files=files,
        independent_parts=indep,
        parts=max(1, files) if indep else 1,
        has_verification=has_rubric or bool(_VERIFY.search(task)),
        has_rubric=has_rubric,
        has_promise=bool(params.get("promise")) or "<promise>" in task,
        has_dag=bool(params.get("dag")),
        structure_known=(chars == 0) or structured,
        iterative=bool(_ITERATE.search(task)),
        multi_step=bool(_STEPS.search(task)),
        task_tokens=len(task) // CHARS_PER_TOKEN,
        notes=notes,
    )
