"""A command's options declared once: added to its argparse parser, and read without argparse when the
command line is in a plain form.

`scope spawn` runs by the hundred (fork-join scripts, map-reduce) and `scope hook` on every tool call of
every Claude Code session, and importing argparse (with re, gettext and locale) cost each run ~10 ms of
CPU, a quarter of a spawn's start-up. `read` takes the plain forms
only: `--name VALUE`, `--name=VALUE`, flags, and one positional. Anything else (help, an abbreviation, an
unknown option, a word other than '-' that starts with '-', a bad number or choice) returns None and the caller parses
with argparse, so every message and every corner stays argparse's own. tests/test_cli.py checks that both
read the same argument lists the same way.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: every `scope` process would pay for it
if TYPE_CHECKING:
    from typing import Any

KINDS = ("str", "int", "float", "flag", "append")


class Option:
    """One `--name`: its kind (str, int, float, flag, append), choices, metavar and help."""

    __slots__ = ("flag", "dest", "kind", "metavar", "choices", "help")

    def __init__(
        self,
        flag: str,
        kind: str = "str",
        *,
        metavar: str | None = None,
        choices: tuple[str, ...] | None = None,
        help: str = "",
    ) -> None:
        assert flag.startswith("--") and kind in KINDS, (flag, kind)
        self.flag, self.kind, self.metavar, self.choices, self.help = flag, kind, metavar, choices, help
        self.dest = flag[2:].replace("-", "_")

    def add_to(self, parser: Any) -> None:
        kw: dict[str, Any] = {"help": self.help}
        if self.kind == "flag":
            kw["action"] = "store_true"
        elif self.kind == "append":
            kw["action"] = "append"
        elif self.kind != "str":
            kw["type"] = int if self.kind == "int" else float
        if self.metavar and self.kind != "flag":
            kw["metavar"] = self.metavar
        if self.choices:
            kw["choices"] = list(self.choices)
        parser.add_argument(self.flag, **kw)

    def convert(self, text: str) -> Any:
        """The value as argparse would store it; ValueError when argparse would refuse it."""
        value: Any = int(text) if self.kind == "int" else float(text) if self.kind == "float" else text
        if self.choices and value not in self.choices:
            raise ValueError(text)
        return value


class Args:
    """What `read` returns: attributes like argparse's Namespace."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Args({self.__dict__!r})"


def read(
    argv: list[str], options: tuple[Option, ...], positional: str, *, required: bool = False, **fixed: Any
) -> Args | None:
    """`argv` (after the command's name) read as argparse would read it, when it is in a plain form: at most
    one positional (stored as `positional`; None when absent, unless `required`) and `options`; `fixed` are
    set as they are (argparse's set_defaults). None for anything else."""
    by_flag = {o.flag: o for o in options}
    values: dict[str, Any] = {o.dest: (False if o.kind == "flag" else None) for o in options}
    values[positional] = None
    seen_positional = False
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok == "--":
            rest = argv[i:]
            if len(rest) > 1 or seen_positional:
                return None
            if rest:
                values[positional], seen_positional = rest[0], True
            break
        if tok.startswith("--"):
            name, eq, text = tok.partition("=")
            opt = by_flag.get(name)
            if opt is None or (eq and opt.kind == "flag"):
                return None
            if opt.kind == "flag":
                values[opt.dest] = True
                continue
            if not eq:
                if i == len(argv) or (argv[i].startswith("-") and argv[i] != "-"):
                    return None
                text, i = argv[i], i + 1
            try:
                value = opt.convert(text)
            except ValueError:
                return None
            if opt.kind == "append":
                values[opt.dest] = [*(values[opt.dest] or []), value]
            else:
                values[opt.dest] = value
            continue
        if (tok.startswith("-") and tok != "-") or seen_positional:
            return None
        values[positional], seen_positional = tok, True
    if required and not seen_positional:
        return None
    return Args(**values, **fixed)
