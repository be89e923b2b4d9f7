"""The one validator: the shape of every file Scope reads, checked when it is read or submitted.

A schema is a table of `Key(name, kind, default, trust)` rows, one line a key, so a later issue adds a
key by adding a row. `kind` is one of the names in `KINDS` (with `?` for "or null"). Errors read
`file:line: key: what is wrong`, e.g. `config.toml:7: auto_approve: expected a boolean, got "no"`.

Stdlib only, and no `re`: session files are checked on every `scope poll`.
"""

from __future__ import annotations

from scope_tui.store.errors import CorruptFile, UsageError

TYPE_CHECKING = False  # typing stays unimported: every `scope` process pays for what it imports
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

_INF = float("inf")


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and -_INF < v < _INF


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_tokens(v: object) -> bool:
    return isinstance(v, dict) and all(_is_int(x) or _is_num(x) for x in v.values())


def _is_price(v: object) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_is_num(x) and x >= 0 for x in v)


# kind -> (test, what the error says is expected)
KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "a boolean"),
    "num": (_is_num, "a finite number"),
    "num+": (lambda v: _is_num(v) and v >= 0, "a number, 0 or more"),
    "pos": (lambda v: _is_num(v) and v > 0, "a positive number"),
    "int": (_is_int, "a whole number"),
    "int+": (lambda v: _is_int(v) and v >= 1, "a whole number, 1 or more"),
    "table": (lambda v: isinstance(v, dict), "a table"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "list[str]": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "names": (
        lambda v: isinstance(v, str) or isinstance(v, list) and all(isinstance(x, str) for x in v),
        "a name or a list of names",
    ),
    "table[str]": (
        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "a table of strings",
    ),
    "table[price]": (
        lambda v: isinstance(v, dict) and all(_is_price(x) for x in v.values()),
        "a table of [input, output] dollar pairs",
    ),
    "tokens": (_is_tokens, "a table of token counts"),
    "model": (lambda v: isinstance(v, (str, dict)), "a model name or a table (provider, name, base_url)"),
    "any": (lambda v: True, "anything"),
}


class Key:
    """One key of a schema: dotted `name`, its `kind`, its `default` and whether it `trust`s (applies
    only in a project the person trusted: it names a program, a command, a URL or a host)."""

    __slots__ = ("name", "kind", "default", "trust", "choices", "doc")

    def __init__(
        self,
        name: str,
        kind: str,
        default: Any = None,
        trust: bool = False,
        choices: tuple[str, ...] = (),
        doc: str = "",
    ) -> None:
        assert kind.rstrip("?") in KINDS, kind
        self.name, self.kind, self.default, self.trust, self.choices, self.doc = (
            name,
            kind,
            default,
            trust,
            choices,
            doc,
        )

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this key, or None."""
        if value is None and self.kind.endswith("?"):
            return None
        test, expected = KINDS[self.kind.rstrip("?")]
        if not test(value):
            return f"expected {expected}{' or null' if self.kind.endswith('?') else ''}, got {shown(value)}"
        if self.choices and value not in self.choices:
            return f"expected one of {', '.join(self.choices)}, got {shown(value)}"
        return None


def shown(value: Any) -> str:
    """A value as an error shows it: JSON-ish, short."""
    if isinstance(value, str):
        text = '"' + value.replace('"', '\\"') + '"'
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "a list"
    else:
        text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _get(obj: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def problems(obj: dict[str, Any], keys: Iterable[Key]) -> list[tuple[str, str]]:
    """(key, what is wrong) for each key present in `obj` whose value has the wrong shape."""
    out = []
    for k in keys:
        there, value = _get(obj, k.name)
        if there:
            why = k.problem(value)
            if why:
                out.append((k.name, why))
    return out


def check_record(name: str, obj: dict[str, Any], keys: Iterable[Key]) -> None:
    """Raise CorruptFile (`name: key: what is wrong`) for the first bad key of a JSON record."""
    for key, why in problems(obj, keys):
        raise CorruptFile(name, f"{key}: {why}")


def toml_line(text: str, dotted: str) -> int:
    """The line where `dotted` (a.b.c) is set in TOML `text`, as well as a line scan can tell; else 1."""
    table, _, leaf = dotted.rpartition(".")
    current = ""
    header_line = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            current = line.strip("[]").strip().replace('"', "").replace(" ", "")
            if current == dotted:
                header_line = n
            continue
        key, eq, _ = line.partition("=")
        if not eq:
            continue
        key = key.strip().replace('"', "").replace(" ", "")
        full = f"{current}.{key}" if current else key
        if full == dotted or (full == table and leaf) or (current == table and key == leaf):
            return n
    return header_line or 1


class ConfigError(UsageError):
    """A config (or rubric, DAG, front matter) value of the wrong shape: `file:line: key: what is wrong`."""

    def __init__(self, file: str, line: int, key: str, why: str) -> None:
        super().__init__(f"{file}:{line}: {key}: {why}")
        self.file, self.line, self.key, self.why = file, line, key, why


def check_toml(file: str, text: str, data: dict[str, Any], keys: Iterable[Key]) -> None:
    """Raise ConfigError for the first key of `data` (parsed from `text`) whose value is wrong."""
    for key, why in problems(data, keys):
        raise ConfigError(file, toml_line(text, key), key, why)


def check_table(file: str, text: str, where: str, obj: dict[str, Any], keys: Iterable[Key]) -> None:
    """Raise ConfigError for the first unknown key of the TOML table `where` (dotted, e.g. `tasks.build`)
    or the first value of the wrong shape; `keys` are named relative to the table."""
    keys = list(keys)
    known = [k.name for k in keys]
    at = f"{where}." if where else ""
    for k in obj:
        if k not in known:
            raise ConfigError(
                file, toml_line(text, at + k), at + k, f"unknown key (known: {', '.join(known)})"
            )
    for key, why in problems(obj, keys):
        raise ConfigError(file, toml_line(text, at + key), at + key, why)


def json_line(text: str, key: str) -> int:
    """The line of `"key":` in JSON `text` (its last part, for a dotted key); 1 when not found."""
    needle = '"' + key.rpartition(".")[2] + '"'
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def check_json(file: str, text: str, data: dict[str, Any], keys: Iterable[Key]) -> None:
    for key, why in problems(data, keys):
        raise ConfigError(file, json_line(text, key), key, why)


def defaults(keys: Iterable[Key]) -> dict[str, Any]:
    """The nested defaults a schema describes (keys without a default are left out)."""
    out: dict[str, Any] = {}
    for k in keys:
        if k.default is None:
            continue
        *tables, leaf = k.name.split(".")
        cur = out
        for t in tables:
            cur = cur.setdefault(t, {})
        cur[leaf] = k.default
    return out


# --- the session records (sessions/<id>/meta.json and state.json): what readers use, with its type ------
# Older fields a reader does not use are not listed: an older `.scope/` still reads.
META = (
    Key("id", "str?"),
    Key("parent", "str?"),
    Key("level", "str?"),
    Key("title", "str?"),
    Key("driver", "str?"),
    Key("created_at", "num?"),
    Key("tmux", "table?"),
    Key("tmux.socket", "str?"),
    Key("tmux.socket_path", "str?"),
    Key("tmux.window", "str?"),
    Key("tmux.pane", "str?"),
    Key("skill", "str?"),
    Key("model", "str?"),
    Key("agent", "str?"),
    Key("budget", "num?"),
    Key("cwd", "str?"),
    Key("cmd", "str?"),
    Key("worktree", "str?"),
    Key("pattern", "str?"),
    Key("role", "str?"),
)
STATE = (
    Key("status", "str"),
    Key("phase", "str?"),
    Key("reason", "str?"),
    Key("exit_code", "int?"),
    Key("tokens", "tokens?"),
    Key("cost", "num?"),
    Key("updated_at", "num?"),
    Key("model", "str?"),
)
