"""The agents home: where agents live ($SCOPE_AGENTS_DIR, default ~/.scope/agents), its config.toml,
tolerant reading of an agent's hand-editable files, and the per-agent lock for read-modify-write.

A hand-broken file is never fatal: `read_json` returns the default and a one-line problem, and the
writers here refuse to overwrite a file they could not read (the person's text is kept).
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.store import config as store_config
from scope_tui.store import files
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import CorruptFile, UsageError
from scope_tui.store.project import agents_home
from scope_tui.store.schema import ConfigError, Key, check_toml

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

STAGES = ("junior", "intermediate", "senior", "staff")

# Growth thresholds and other settings shared by all agents; written to config.toml on first use.
DEFAULTS: dict[str, Any] = {
    "growth": {
        "window": 20,  # verified success is measured over the last this many tasks
        "min_runs": 5,  # runs of a skill before and after a heuristic, at least, to judge it
        # a stage is reached when every threshold of it is met (verified_success as a fraction)
        "intermediate": {
            "experience": 5,
            "verified_success": 0.5,
            "skills_used_by_others": 0,
            "heuristics_raised": 0,
        },
        "senior": {
            "experience": 20,
            "verified_success": 0.7,
            "skills_used_by_others": 1,
            "heuristics_raised": 1,
        },
        "staff": {
            "experience": 50,
            "verified_success": 0.85,
            "skills_used_by_others": 3,
            "heuristics_raised": 3,
        },
    },
    # what a stage changes in supervision: a junior's sessions carry lower monitor limits (meta `asks`)
    "stages": {"junior": {"stall_after": 300, "repeat_limit": 2, "error_streak": 2}},
    "skills": {
        "stable_after_uses": 5,  # an own skill turns stable after this many uses ...
        "stable_success_rate": 0.8,  # ... at this success rate or better
        "match_threshold": 0.5,  # share of a skill's keywords a task must hold to match it
    },
    "memory": {
        "consolidate_after": 40,  # heuristics past this count: propose a consolidation patch
        "prompt_heuristics": 20,  # most recent heuristics written into prompt.md
        "prompt_failures": 10,
        "prompt_tokens": 1500,  # what the heuristics and failures in a prompt may take, about
    },
}


# The agents home's config.toml, one line a key (store/schema.py kinds).
CONFIG_KEYS = (
    Key("growth", "table"),
    Key("growth.window", "int+"),
    Key("growth.min_runs", "int+"),
    *(Key(f"growth.{st}", "table") for st in STAGES[1:]),
    *(Key(f"growth.{st}.{m}", "num+") for st in STAGES[1:] for m in DEFAULTS["growth"]["staff"]),
    Key("stages", "table"),
    *(Key(f"stages.{st}", "table") for st in STAGES),
    *(
        Key(f"stages.{st}.{k}", "pos")
        for st in STAGES
        for k in ("stall_after", "repeat_limit", "error_streak")
    ),
    Key("skills", "table"),
    Key("skills.stable_after_uses", "int+"),
    Key("skills.stable_success_rate", "num+"),
    Key("skills.match_threshold", "num+"),
    Key("memory", "table"),
    Key("memory.consolidate_after", "int+"),
    Key("memory.prompt_heuristics", "int+"),
    Key("memory.prompt_failures", "int+"),
)


def agents_dir() -> Path:
    """The agents home: $SCOPE_AGENTS_DIR, else ~/.scope/agents (store.project.agents_home; not created here)."""
    return agents_home()


def config_path() -> Path:
    return agents_dir() / "config.toml"


def load_config(problems: list[str] | None = None) -> dict[str, Any]:
    """The agents home's settings over the defaults; the file is written with the defaults on first use.

    A broken config.toml is reported into `problems` and the defaults are used.
    """
    path = config_path()
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            store_config.update(path, copy.deepcopy(DEFAULTS))
        except OSError as exc:
            if problems is not None:
                problems.append(f"{path}: cannot write defaults ({exc.strerror})")
    try:
        raw = store_config.read_raw(path)
        check_toml(str(path), files.read_text(path, files.JSON_CAP), raw, CONFIG_KEYS)
    except (CorruptFile, ConfigError) as exc:
        if problems is not None:
            why = exc.reason if isinstance(exc, CorruptFile) else str(exc).removeprefix(f"{path}:")
            problems.append(f"{path}:{why.lstrip()}; using the defaults")
        raw = {}
    except FileNotFoundError:
        raw = {}
    return _merge(DEFAULTS, raw)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_name(name: str) -> str:
    """`name` if it is a valid agent name; UsageError otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            f"bad agent name {name!r}: lowercase letters, digits, '-' or '_', starting with a letter"
        )
    return name


def agent_dir(name: str) -> Path:
    return agents_dir() / check_name(name)


def exists(name: str) -> bool:
    try:
        return (agent_dir(name) / "identity.md").is_file()
    except UsageError:
        return False


def require(name: str) -> Path:
    """The folder of an existing agent; UsageError naming what to do when there is none."""
    d = agent_dir(name)
    if not (d / "identity.md").is_file():
        raise UsageError(f"no agent {name!r} (try 'scope agent new {name}' or 'scope agent list')")
    return d


def names() -> list[str]:
    root = agents_dir()
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in entries if _NAME.match(n) and (root / n / "identity.md").is_file()]


@dataclass
class Read:
    """What `read_json` found: the value (or the default) and, when the file is broken, why."""

    value: Any
    problem: str | None = None
    missing: bool = False


def read_json(path: Path, default: Any, kind: type = dict) -> Read:
    """Read a hand-editable JSON file. Missing: the default. Broken or of the wrong shape: the default
    and a one-line problem (the caller reports it and must not overwrite the file)."""
    try:
        raw = files.read_text(path, files.JSON_CAP)
    except FileNotFoundError:
        return Read(copy.deepcopy(default), None, True)
    except CorruptFile as exc:
        return Read(copy.deepcopy(default), f"{path}: {exc.reason}; left as is, not used")
    except OSError as exc:
        return Read(copy.deepcopy(default), f"{path}: cannot read ({exc})")
    try:
        obj = json.loads(raw)
    except RecursionError:
        return Read(copy.deepcopy(default), f"{path}: nested too deep; left as is, not used")
    except ValueError as exc:
        where = f"line {exc.lineno}" if hasattr(exc, "lineno") else "?"
        return Read(copy.deepcopy(default), f"{path}: not valid JSON ({where}); left as is, not used")
    if not isinstance(obj, kind):
        return Read(copy.deepcopy(default), f"{path}: expected a JSON {kind.__name__}; left as is, not used")
    return Read(obj)


def write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, obj)


def write_md(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


@dataclass
class Lock:
    """An exclusive flock on the agent's `.lock`, so two sessions ending at once do not lose an update."""

    d: Path
    fd: int = field(default=-1, repr=False)

    def __enter__(self) -> Lock:
        self.d.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.d / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


_WORD = re.compile(r"[a-z][a-z0-9_+#-]{2,}")
STOP = frozenset(
    """the and for with from that this into onto over under then than what which when where who why how
    are was were has have had not but all any each every its their them they you your our out use using
    can could should would will shall may might must one two three four five six ten per via about also
    just only more most less some such very task tasks file files make made give find line lines print
    write read run runs return returns please does did done do get got set new old many much across
    there here been being same other again""".split()
)


def stem(word: str) -> str:
    """A crude stem, the same on both sides of a match: 'containing', 'contains' -> 'contain'."""
    for suf in ("ing", "ed", "s"):
        if word.endswith(suf) and not word.endswith("ss") and len(word) - len(suf) >= 3:
            return word[: -len(suf)]
    return word


def keywords(text: str, limit: int = 8) -> list[str]:
    """The distinctive words of a task (stemmed), in order of first appearance (no stop words, no duplicates)."""
    out: list[str] = []
    for w in _WORD.findall(text.lower()):
        w = w.strip("-_")
        if len(w) < 3 or w in STOP or w.isdigit():
            continue
        w = stem(w)
        if w in out or w in STOP:
            continue
        out.append(w)
        if len(out) >= limit:
            break
    return out
