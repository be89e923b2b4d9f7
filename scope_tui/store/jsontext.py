"""JSON text in and out exactly as `json` writes and reads it, without importing `json`, whose `re` and
`enum` cost every short-lived `scope` process CPU: `python -c "import json"` takes 23.6 ms of CPU here,
`python -c "import scope_tui.store.jsontext"` 15.2 ms (bare interpreter 13.5 ms; means of 100 runs).
CPython's `_json` does the hard parts; any input the fast path does not take whole goes to `json` itself.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unimported: every `scope` process pays for what it imports
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"
_INF = float("inf")


class _Context:
    """What `make_scanner` reads: json's default decoder settings (the C scanner keeps its own memo)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": _INF, "-Infinity": -_INF}.__getitem__


try:
    from _json import encode_basestring as _encode_str
    from _json import make_encoder as _make_encoder
    from _json import make_scanner
except ImportError:  # not CPython: json (imported when first needed) does all the work
    _HAVE_C = False
else:
    _HAVE_C = True
    _scan = make_scanner(_Context())  # type: ignore[arg-type]  # the stub wants a scanner; any context does


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """`json.dumps(obj, ensure_ascii=False, indent=indent, default=str)`, to the character."""
    if not _HAVE_C:
        import json

        return json.dumps(obj, ensure_ascii=False, indent=indent, default=str)
    if indent is None:  # what json.encoder.JSONEncoder.iterencode does for indent=None
        encode = _make_encoder({}, str, _encode_str, None, ": ", ", ", False, False, True)
        return "".join(encode(obj, 0))
    out: list[str] = []
    _Indented(out, " " * indent).value(obj, "\n")
    return "".join(out)


def loads(data: str | bytes | bytearray) -> Any:
    """`json.loads(data)`; any input the fast path does not take whole goes to json, errors and all."""
    if not _HAVE_C:
        return _json_loads(data)
    if isinstance(data, str):
        text = data
    elif isinstance(data, (bytes, bytearray)):
        # Where json's detect_encoding would not pick UTF-8, the text has a BOM or a NUL in its first two
        # characters, so it fails below and json decodes it its own way.
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return _json_loads(data)
    else:
        return _json_loads(data)
    try:
        obj, end = _scan(text, _skip_ws(text, 0))
    except Exception:  # StopIteration, JSONDecodeError, RecursionError...: json raises its own
        return _json_loads(data)
    if _skip_ws(text, end) != len(text):
        return _json_loads(data)
    return obj


def _json_loads(data: Any) -> Any:
    import json

    return json.loads(data)


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _floatstr(o: float) -> str:
    if o != o:
        return "NaN"
    if o == _INF:
        return "Infinity"
    if o == -_INF:
        return "-Infinity"
    return float.__repr__(o)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _floatstr(key)
    if key is True or key is False or key is None:
        return _scalar(key)
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _scalar(o: Any) -> str:
    """None, a bool, an int or a float as json writes them (subclasses by their base's repr)."""
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    return _floatstr(o)


class _Indented:
    """json.encoder._make_iterencode for an indent, ensure_ascii=False and default=str, as plain calls."""

    __slots__ = ("out", "step", "markers")
    markers: dict[int, Any]  # id -> object for every container (or default=str object) being written

    def __init__(self, out: list[str], step: str) -> None:
        self.out, self.step, self.markers = out, step, {}

    def value(self, o: Any, newline: str) -> None:
        """Write `o`; `newline` is a line break and the indent of the line `o` starts on."""
        if isinstance(o, str):
            self.out.append(_encode_str(o))
        elif o is None or isinstance(o, (int, float)):
            self.out.append(_scalar(o))
        elif isinstance(o, (list, tuple, dict)):
            self.container(o, newline)
        else:
            self.enter(o)
            self.value(str(o), newline)
            del self.markers[id(o)]

    def container(self, o: list[Any] | tuple[Any, ...] | dict[Any, Any], newline: str) -> None:
        is_dict = isinstance(o, dict)
        if not o:
            self.out.append("{}" if is_dict else "[]")
            return
        self.enter(o)
        inner = newline + self.step
        sep = inner
        self.out.append("{" if is_dict else "[")
        for item in o.items() if isinstance(o, dict) else o:
            if is_dict:
                key, item = item
                self.out += (sep, _encode_str(_key(key)), ": ")
            else:
                self.out.append(sep)
            sep = "," + inner
            # A container straight to container(): one frame a level, so nesting is as deep as json allows
            (self.container if isinstance(item, (list, tuple, dict)) else self.value)(item, inner)
        self.out += (newline, "}" if is_dict else "]")
        del self.markers[id(o)]

    def enter(self, o: Any) -> None:
        if id(o) in self.markers:
            raise ValueError("Circular reference detected")
        self.markers[id(o)] = o
