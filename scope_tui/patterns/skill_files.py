"""Skill files: front matter + prompt, versions across roots, lineage.

A skill root holds `<name>/v<N>.md` plus `<name>/lineage.json`; a flat `<name>.md` counts as v1.
Roots by precedence: an agent's own skills > the project's `.scope/skills/` > the shipped `skills/`.
The latest version of a name across all roots wins; on a tie the higher-precedence root wins.
A broken file becomes a SkillError (file, line, message) and never stops the others from loading.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scope_tui
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project

# The top-level skills/ of a checkout, through a link that a wheel replaces by the files themselves
SHIPPED = (Path(scope_tui.__file__).parent / "shipped" / "skills").resolve()
LINEAGE = "lineage.json"
CANDIDATES = "candidates"  # <name>/candidates/v<N>.md: a proposed version under test, not yet drawn or latest
_VFILE = re.compile(r"^v(\d+)\.md$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass
class Skill:
    """One version of one skill. `body` is the prompt (the text after the front matter)."""

    name: str
    version: int
    description: str = ""
    when: list[str] = field(default_factory=list)
    rules: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    path: Path | None = None
    root: Path | None = None
    front: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


@dataclass
class SkillError:
    """A skill file that could not be read: where and why."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class _Broken(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# ---------------------------------------------------------------- front matter


def parse_yaml(text: str, first_line: int = 2) -> dict[str, Any]:
    """YAML front matter (the seed's skill format) by PyYAML's safe_load, imported only for a YAML skill
    file. Raises _Broken with the file line of the problem; the front matter must be a mapping."""
    import yaml

    try:
        front = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _Broken(line, f"front matter is not valid YAML: {problem}") from None
    if front is None:
        return {}
    if not isinstance(front, dict):
        raise _Broken(first_line, "front matter must be 'key: value' lines (a YAML mapping)")
    return {str(k): v for k, v in front.items()}


def parse(text: str) -> tuple[dict[str, Any], str]:
    """Split a skill file into (front matter, body). Raises _Broken(line, message)."""
    lines = text.splitlines(keepends=True)
    if not lines:
        raise _Broken(1, "empty file")
    fence = lines[0].strip()
    if fence not in ("+++", "---"):
        raise _Broken(1, "no front matter: the file must start with '+++' (TOML) or '---' (YAML)")
    end = next((j for j in range(1, len(lines)) if lines[j].strip() == fence), None)
    if end is None:
        raise _Broken(1, f"front matter opened with {fence!r} is never closed")
    fm_text = "".join(lines[1:end])
    if fence == "+++":
        try:
            front = tomllib.loads(fm_text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"at line (\d+)", str(exc))
            line = 1 + int(m.group(1)) if m else 2
            msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            raise _Broken(line, f"front matter is not valid TOML: {msg}") from None
    else:
        front = parse_yaml(fm_text, first_line=2)
    body = "".join(lines[end + 1 :]).lstrip("\n")
    return front, body


def _check(front: dict[str, Any], text: str) -> None:
    def line_of(key: str) -> int:
        for n, ln in enumerate(text.splitlines(), 1):
            if re.match(rf"^\s*{re.escape(key)}\s*[:=]", ln):
                return n
        return 1

    when = front.get("when", [])
    if isinstance(when, str):
        front["when"] = [when]
    elif not isinstance(when, list) or not all(isinstance(w, str) for w in when):
        raise _Broken(line_of("when"), "'when' must be a list of strings (predicates or prose)")
    rules = front.get("rules", {})
    if rules is None:
        front["rules"] = {}
    elif not isinstance(rules, dict):
        raise _Broken(line_of("rules"), "'rules' must be a table / map")
    if "version" in front and not isinstance(front["version"], int):
        raise _Broken(line_of("version"), "'version' must be an integer")
    if "name" in front and not isinstance(front["name"], str):
        raise _Broken(line_of("name"), "'name' must be a string")
    from scope_tui.patterns.rules import RuleError, parse_rules

    try:
        parse_rules(front.get("rules") or {})
    except RuleError as exc:
        raise _Broken(line_of(exc.key) if exc.key else line_of("rules"), str(exc)) from None


def read_file(
    path: Path, root: Path | None = None, name: str | None = None, version: int | None = None
) -> Skill:
    """Read one skill file; raises _Broken (use `load_file` for a SkillError instead)."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise _Broken(1, "not UTF-8 text") from None
    front, body = parse(text)
    _check(front, text)
    name = name or str(front.get("name") or path.stem)
    version = version if version is not None else int(front.get("version", 1))
    return Skill(
        name=name,
        version=version,
        description=str(front.get("description", "")),
        when=list(front.get("when") or []),
        rules=dict(front.get("rules") or {}),
        body=body,
        path=path,
        root=root,
        front=front,
    )


# ---------------------------------------------------------------- roots and versions


def roots(project: Project | None, agent_skill_root: Path | None = None) -> list[Path]:
    """Skill roots in precedence order (highest first)."""
    out: list[Path] = []
    if agent_skill_root is not None:
        out.append(Path(agent_skill_root))
    if project is not None:
        out.append(project.skills)
    out.append(SHIPPED)
    return out


def _files_in(root: Path) -> list[tuple[str, int, Path]]:
    """(name, version, path) for every skill file in one root."""
    found: list[tuple[str, int, Path]] = []
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".md" and entry.stem.lower() != "readme":
            found.append((entry.stem, 1, entry))
        elif entry.is_dir():
            for f in sorted(entry.iterdir()):
                m = _VFILE.match(f.name)
                if m and f.is_file():
                    found.append((entry.name, int(m.group(1)), f))
    return found


def names(project: Project | None, agent_skill_root: Path | None = None) -> list[str]:
    """The names of every skill across the roots, sorted (the files are listed, not read)."""
    return sorted({name for root in roots(project, agent_skill_root) for name, _, _ in _files_in(root)})


def _scan(
    project: Project | None, agent_skill_root: Path | None
) -> tuple[dict[str, dict[int, Skill]], list[SkillError]]:
    by_name: dict[str, dict[int, Skill]] = {}
    errors: list[SkillError] = []
    for root in roots(project, agent_skill_root):
        for name, ver, path in _files_in(root):
            if ver in by_name.get(name, {}):
                continue  # a higher-precedence root already has this version
            try:
                sk = read_file(path, root=root, name=name, version=ver)
            except _Broken as exc:
                errors.append(SkillError(path, exc.line, exc.message))
                continue
            except OSError as exc:
                errors.append(SkillError(path, 1, f"cannot read: {exc.strerror or exc}"))
                continue
            by_name.setdefault(name, {})[ver] = sk
    return by_name, errors


def load_all(
    project: Project | None, agent_skill_root: Path | None = None
) -> tuple[dict[str, Skill], list[SkillError]]:
    """The latest readable version of every skill across the roots, and the files that could not be read."""
    by_name, errors = _scan(project, agent_skill_root)
    return {n: vs[max(vs)] for n, vs in sorted(by_name.items())}, errors


def versions(project: Project | None, name: str, agent_skill_root: Path | None = None) -> list[Skill]:
    """Every readable version of `name`, oldest first (empty when there is none)."""
    by_name, _ = _scan(project, agent_skill_root)
    vs = by_name.get(name, {})
    return [vs[v] for v in sorted(vs)]


def load(
    project: Project | None, name: str, version: int | None = None, agent_skill_root: Path | None = None
) -> Skill:
    """One skill (latest version unless `version`); `name` may be 'name@vN'. Raises UsageError if unknown."""
    if "@" in name and version is None:
        name, _, v = name.partition("@")
        try:
            version = int(v.lstrip("vV"))
        except ValueError:
            raise UsageError(f"bad skill version {v!r} (write NAME@vN, e.g. rlm@v2)") from None
    by_name, errors = _scan(project, agent_skill_root)
    vs = by_name.get(name)
    if not vs:
        broken = [e for e in errors if e.file.parent.name == name or e.file.stem == name]
        if broken:
            raise UsageError(f"skill {name!r} cannot be read: {broken[0]}")
        known = ", ".join(sorted(by_name)) or "none"
        raise UsageError(f"no skill {name!r} (known: {known}; try 'scope skills')")
    if version is None:
        return vs[max(vs)]
    if version not in vs:
        for root in roots(project, agent_skill_root):  # a patch's candidate, tested before it is a version
            cand = root / name / CANDIDATES / f"v{version}.md"
            if cand.is_file():
                try:
                    return read_file(cand, root=root, name=name, version=version)
                except _Broken as exc:
                    raise UsageError(
                        f"skill {name!r} candidate v{version} is broken: {exc.message}"
                    ) from None
        have = ", ".join(f"v{v}" for v in sorted(vs))
        raise UsageError(f"skill {name!r} has no v{version} (has {have}; try 'scope skills versions {name}')")
    return vs[version]


# ---------------------------------------------------------------- lineage


def lineage(project: Project | None, name: str, agent_skill_root: Path | None = None) -> dict[str, Any]:
    """The merged lineage of `name` across roots (higher-precedence roots win per version)."""
    merged: dict[str, Any] = {"name": name, "versions": {}}
    for root in reversed(roots(project, agent_skill_root)):
        path = root / name / LINEAGE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("versions"), dict):
            merged["versions"].update(data["versions"])
    return merged


def write_version(
    project: Project,
    name: str,
    text: str,
    lineage_entry: dict[str, Any] | None = None,
    agent_skill_root: Path | None = None,
    candidate: bool = False,
) -> Skill:
    """With `candidate`, the version is written under `<name>/candidates/` (loaded only by its number,
    never the latest: a patch under test). Write `text` as the next version of `name` (next N across all roots) into the project's
    `.scope/skills/<name>/v<N>.md` (or the agent's root when given), record it in that folder's
    lineage.json and return the new Skill. Raises UsageError if `name` is unsafe or `text` unreadable."""
    if not _NAME.match(name):
        raise UsageError(f"bad skill name {name!r} (lowercase letters, digits, '-', '_', '.')")
    try:  # the whole check a reader makes, so a broken version never reaches the skills folder
        front, _ = parse(text)
        _check(front, text)
    except _Broken as exc:
        raise UsageError(
            f"new text for skill {name!r} is broken: {name}.md:{exc.line}: {exc.message}"
        ) from None
    existing = versions(project, name, agent_skill_root)
    root = Path(agent_skill_root) if agent_skill_root is not None else project.skills
    folder = root / name
    sub = folder / CANDIDATES if candidate else folder
    sub.mkdir(parents=True, exist_ok=True)
    taken = [s.version for s in existing] + [
        int(m.group(1)) for f in (folder / CANDIDATES).glob("v*.md") if (m := _VFILE.match(f.name))
    ]
    n = max(taken, default=0) + 1
    path = sub / f"v{n}.md"
    while path.exists() or (folder / f"v{n}.md").exists():  # another writer took it; move on
        n += 1
        path = sub / f"v{n}.md"
    write_text(path, text)
    entry: dict[str, Any] = {
        "parent": existing[-1].version if existing else None,
        "patches": [],
        "origin": "patch",
        "scores": {},
    }
    entry.update(lineage_entry or {})
    entry.setdefault("created_at", round(time.time(), 3))
    if candidate:
        entry["status"] = "candidate"
    update_lineage(root, name, lambda data: data["versions"].__setitem__(str(n), entry))
    return read_file(path, root=root, name=name, version=n)


@contextlib.contextmanager
def _lineage_lock(folder: Path) -> Iterator[None]:
    """Held by every writer of `folder`'s lineage.json (scores arrive from many sessions at once)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lineage.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_lineage(root: Path, name: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """The one writer of `root/<name>/lineage.json`: `change` edits its data in place under the folder's
    lock (a missing or broken file starts as `{"name", "versions": {}}`); returns the data written."""
    folder = Path(root) / name
    lpath = folder / LINEAGE
    with _lineage_lock(folder):
        try:
            data = json.loads(lpath.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("versions"), dict):
                raise ValueError
        except (OSError, ValueError):
            data = {"name": name, "versions": {}}
        change(data)
        write_json(lpath, data)
    return data


def update_entry(
    project: Project | None,
    name: str,
    version: int,
    change: Callable[[dict[str, Any]], Any],
    agent_skill_root: Path | None = None,
) -> None:
    """`change` edits version `version`'s lineage entry in the project's skills (or `agent_skill_root`);
    a version that lives in another root (the shipped v1) gets a copy of what is known of it first."""
    if agent_skill_root is not None:
        root = Path(agent_skill_root)
    elif project is not None:
        root = project.skills
    else:
        raise UsageError(f"skill {name!r}: no project or skill root to record v{version} in")

    def edit(data: dict[str, Any]) -> None:
        entry = data["versions"].get(str(version))
        if not isinstance(entry, dict):
            known = lineage(project, name, agent_skill_root=agent_skill_root)["versions"].get(str(version))
            entry = (
                dict(known)
                if isinstance(known, dict)
                else {"parent": None, "patches": [], "origin": "shipped"}
            )
            entry.setdefault("created_at", round(time.time(), 3))
            data["versions"][str(version)] = entry
        change(entry)

    update_lineage(root, name, edit)


def promote(
    project: Project, name: str, version: int, changes: dict[str, Any], agent_skill_root: Path | None = None
) -> Skill:
    """Make the candidate `version` of `name` a version (moved out of candidates/), its lineage entry
    updated with `changes`; its scores stay. Raises UsageError when there is no such candidate."""
    root = Path(agent_skill_root) if agent_skill_root is not None else project.skills
    folder = root / name
    src, dst = folder / CANDIDATES / f"v{version}.md", folder / f"v{version}.md"
    if not src.is_file() or dst.exists():
        raise UsageError(f"skill {name!r} has no candidate v{version} to promote")
    os.replace(src, dst)

    def edit(data: dict[str, Any]) -> None:
        entry = data["versions"].setdefault(str(version), {"parent": None, "patches": [], "scores": {}})
        entry.pop("status", None)
        entry.update(changes)

    update_lineage(root, name, edit)
    return read_file(dst, root=root, name=name, version=version)
