"""The `rules` front matter of a skill, typed, so the deviation detector can read them.

Known rules have a type and a meaning; unknown ones are kept as written (a newer detector may know them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# name -> (type, meaning). bool before int: a TOML bool is an int in Python.
KNOWN: dict[str, tuple[type, str]] = {
    "peek_before_spawn": (bool, "look at the context (peek/grep) before the first sub-call or spawn"),
    "max_depth": (int, "deepest recursion of child sessions below this one"),
    "max_parallel": (int, "most children running at once"),
    "child_smaller_than_parent": (bool, "a child's context must be smaller than its parent's"),
    "grep_hit_limit": (int, "a grep returning more hits than this is too broad: narrow it"),
    "empty_dive_ratio": (float, "highest share of sub-calls that may come back empty"),
    "max_iterations": (int, "most model turns in one run"),
    "max_retries": (int, "most retries of one part"),
    "require_gate": (bool, "a shell gate must run before acceptance"),
    "require_promise_tag": (bool, "completion only by <promise>TEXT</promise>"),
    "fresh_context_per_iteration": (bool, "each iteration is a fresh child session"),
    "no_cycles": (bool, "task graphs must be acyclic"),
}


class RuleError(ValueError):
    """A rule with a value of the wrong type; `key` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Rules:
    """A skill's rules. `get(name, default)` reads any rule, known or not."""

    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.values

    @property
    def peek_before_spawn(self) -> bool:
        return bool(self.values.get("peek_before_spawn", False))

    @property
    def max_depth(self) -> int | None:
        return self.values.get("max_depth")

    @property
    def max_parallel(self) -> int | None:
        return self.values.get("max_parallel")

    @property
    def child_smaller_than_parent(self) -> bool:
        return bool(self.values.get("child_smaller_than_parent", False))

    @property
    def grep_hit_limit(self) -> int | None:
        return self.values.get("grep_hit_limit")

    @property
    def empty_dive_ratio(self) -> float | None:
        return self.values.get("empty_dive_ratio")

    def describe(self) -> list[str]:
        """One line a rule: `name = value  (meaning)`."""
        return [f"{k} = {v!r}" + (f"  ({KNOWN[k][1]})" if k in KNOWN else "") for k, v in self.values.items()]


def parse_rules(raw: dict[str, Any] | None) -> Rules:
    """Type-check a skill's `rules` map; raises RuleError naming the first bad rule."""
    out: dict[str, Any] = {}
    for key, val in (raw or {}).items():
        spec = KNOWN.get(key)
        if spec is None:
            out[key] = val
            continue
        want = spec[0]
        if want is bool:
            if not isinstance(val, bool):
                raise RuleError(key, f"rule {key!r} must be true or false, not {val!r}")
        elif want is int:
            if isinstance(val, bool) or not isinstance(val, int) or val < 0:
                raise RuleError(key, f"rule {key!r} must be a whole number >= 0, not {val!r}")
        elif want is float:
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0 <= val <= 1:
                raise RuleError(key, f"rule {key!r} must be a number between 0 and 1, not {val!r}")
            val = float(val)
        out[key] = val
    return Rules(out)


def for_skill(skill: Any) -> Rules:
    """The typed rules of a loaded Skill (already checked at load time)."""
    return parse_rules(getattr(skill, "rules", None) or {})
