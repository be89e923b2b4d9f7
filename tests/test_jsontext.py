"""jsontext: the store's JSON without importing json writes the same files and reads (or refuses) the same
text, with the same errors, as json itself."""

from __future__ import annotations

import ast
import collections
import datetime
import enum
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from scope_tui.store import jsontext

NAN, INF = float("nan"), float("inf")
_CHARS = ["a", "Z", " ", "é", "中", "\U0001f600", "\U0010ffff", "\x00", "\x1f", "\x7f", '"', "\\", "/", "\n"]
_CHARS += ["\t", "\u2028", "\u2029", "\ud800", "\udfff"]
_FLOATS = [0.0, -0.0, 0.1, 1.5, 1e16, 1e300, -1e300, 5e-324, -5e-324, NAN, INF, -INF]
_INTS = [0, -1, 2**53 + 1, 2**63, -(2**64), 10**100, -(10**300)]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(rng.randrange(7)))


def _scalar(rng: random.Random) -> object:
    return rng.choice(
        [
            lambda: _text(rng),
            lambda: rng.choice(_INTS) if rng.random() < 0.3 else rng.randrange(-(10**6), 10**6),
            lambda: (
                rng.choice(_FLOATS) if rng.random() < 0.5 else rng.random() * 10 ** rng.randrange(-300, 300)
            ),
            lambda: rng.choice([True, False, None]),
        ]
    )()


def _key(rng: random.Random) -> object:
    return (
        _text(rng)
        if rng.random() < 0.6
        else rng.choice([1, -7, 2**70, 1.5, -0.0, NAN, INF, True, False, None])
    )


def _value(rng: random.Random, depth: int) -> object:
    if depth == 0 or rng.random() < 0.35:
        return _scalar(rng)
    n = rng.randrange(5)
    if rng.random() < 0.5:
        items = [_value(rng, depth - 1) for _ in range(n)]
        return tuple(items) if rng.random() < 0.2 else items
    return {_key(rng): _value(rng, depth - 1) for _ in range(n)}


def _deep(depth: int) -> object:
    doc: object = "bottom"
    for i in range(depth):
        doc = [doc, i] if i % 2 else {"k": doc, "": []}
    return doc


_CORPUS = [_value(random.Random(seed), 6) for seed in range(300)] + [_deep(150), {}, [], ()]


def _json_dumps(obj: object, indent: int | None = None) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=indent, default=str)


def _outcome(loads, data) -> tuple[object, ...]:
    """What a caller sees: the result (by repr: NaN != NaN, 1 == 1.0 == True) or the error and its text."""
    try:
        return ("ok", repr(loads(data)))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


@pytest.mark.parametrize("indent", [None, 2, 0])
def test_dumps_writes_exactly_what_json_writes(indent):
    for doc in _CORPUS:
        assert jsontext.dumps(doc, indent=indent) == _json_dumps(doc, indent), doc


def test_loads_reads_exactly_what_json_reads():
    for doc in _CORPUS:
        texts = [_json_dumps(doc), _json_dumps(doc, 2), json.dumps(doc, separators=(",", ":"), default=str)]
        texts.append(json.dumps(doc, indent="\t", default=str))  # ASCII only: \uXXXX escapes, surrogate pairs
        for text in texts:
            assert _outcome(jsontext.loads, text) == _outcome(json.loads, text), text
            data = text.encode("utf-8", "surrogatepass")
            assert _outcome(jsontext.loads, data) == _outcome(json.loads, data), data


def test_an_indented_file_reads_back_as_written():
    doc = {
        "id": "3.1",
        "title": 'say "hi"\n',
        "n": [1, -0.0, 2.5, None, True],
        "tags": [],
        "meta": {},
        7: "é",
    }
    text = jsontext.dumps(doc, indent=2)
    assert text == (
        "{\n"
        '  "id": "3.1",\n'
        '  "title": "say \\"hi\\"\\n",\n'
        '  "n": [\n    1,\n    -0.0,\n    2.5,\n    null,\n    true\n  ],\n'
        '  "tags": [],\n'
        '  "meta": {},\n'
        '  "7": "é"\n'
        "}"
    )
    back = jsontext.loads(text)
    assert back == {
        "id": "3.1",
        "title": 'say "hi"\n',
        "n": [1, -0.0, 2.5, None, True],
        "tags": [],
        "meta": {},
        "7": "é",
    }
    assert math.copysign(1, back["n"][1]) == -1
    assert jsontext.loads(bytearray(text.encode())) == back


class _Colour(enum.IntEnum):
    RED = 1


class _Ratio(float):
    def __repr__(self) -> str:
        return "ratio"


class _Name(str):
    def __str__(self) -> str:
        return "not this"


@pytest.mark.parametrize("indent", [None, 2])
def test_odd_values_are_written_as_json_writes_them(indent):
    shared = [1]
    odd = [
        (1, "a", [2]),
        Path("/tmp/x y"),
        {"when": datetime.date(2024, 1, 2), "colour": _Colour.RED, "ratio": _Ratio(0.5), "name": _Name("n")},
        collections.OrderedDict([("b", 1), ("a", 2)]),
        [shared, shared, {"again": shared}],
        {False: 0, 3: 1, 2.5: 2, None: 3, -INF: 4, NAN: 5, _Colour.RED: 6, -1.5: 7},
        "just a string \u2028",
        _Colour.RED,
        NAN,
    ]
    for doc in odd:
        assert jsontext.dumps(doc, indent=indent) == _json_dumps(doc, indent)


@pytest.mark.parametrize("indent", [None, 2])
def test_unwritable_values_fail_as_json_fails(indent):
    for doc in [{(1, 2): "tuple key"}, {datetime.date(2024, 1, 2): "date key"}, {Path("/x"): 1}, [10**5000]]:
        with pytest.raises((TypeError, ValueError)) as ours:
            jsontext.dumps(doc, indent=indent)
        with pytest.raises(ours.type) as theirs:
            _json_dumps(doc, indent)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("indent", [None, 2])
def test_circular_references_are_refused(indent):
    loop: list[object] = [1]
    loop.append({"inner": (loop,)})
    selfish: dict[str, object] = {}
    selfish["me"] = selfish
    for doc in [loop, selfish]:
        with pytest.raises(ValueError, match="^Circular reference detected$"):
            jsontext.dumps(doc, indent=indent)


_ODD_TEXTS = [
    ' \r\n\t{"a" : [1 , 2.50E+2, -0, 1e400, -1e400, 1E-5, "\\u00e9\\/\\ud83d\\ude00\\udc00"] }\r\n\t ',
    "NaN",
    "[-Infinity, Infinity, NaN]",
    '{"k": 1, "k": 2}',
    '"x"',
    "true",
    "-0",
    "1" * 4000,
    "[" * 500 + "]" * 500,
    b'\xef\xbb\xbf{"bom": true}',
    b'{"surrogate": "\xed\xa0\x80"}',
    '{"a": [1]}'.encode("utf-16"),
    '{"a": [1]}'.encode("utf-16-le"),
    '{"a": [1]}'.encode("utf-32"),
    "1".encode("utf-16-le"),
]
_BAD_TEXTS = ["", "  ", "{", "[1,]", "1 2", "nul", b"\xff", '{"a": 1} x', '{"a": 1,}', '"\x01"', "'a'"]
_BAD_TEXTS += ["\ufeff{}", "[1] [2]", "NaNx", "1" * 5000, "[" * 5000, b"", b"\x00", bytearray(b"[1"), None, 3]
_BAD_TEXTS += [memoryview(b"1"), b"\xef\xbb\xbf", '{"a": "\\ud80"}', '{"a" 1}', "[1}"]


def _case_id(data: object) -> str:
    return f"memoryview({bytes(data)!r})" if isinstance(data, memoryview) else repr(data)  # no address


@pytest.mark.parametrize("data", _ODD_TEXTS + _BAD_TEXTS, ids=_case_id)
def test_unusual_and_invalid_input_is_read_or_refused_as_json_does(data):
    assert _outcome(jsontext.loads, data) == _outcome(json.loads, data)


def test_the_store_path_imports_neither_json_nor_re():
    code = (
        "import sys, scope_tui.store\n"
        "before = set(sys.modules)\n"
        "from scope_tui.store import jsontext\n"
        "doc = {'id': '3.1', 'n': [1, 2.5, None, True], 'note': 'é\\n', 'nested': {'x': []}}\n"
        "assert jsontext.loads(jsontext.dumps(doc)) == doc\n"
        "assert jsontext.loads(jsontext.dumps(doc, indent=2).encode() + b'\\n') == doc\n"
        "print(repr((sorted(set(sys.modules) - before), [m for m in ('json', 're') if m in sys.modules])))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    added, heavy = ast.literal_eval(out)
    assert heavy == []
    # __future__ as every store module imports it; _json is the C half of json, without its Python half
    assert set(added) <= {"scope_tui.store.jsontext", "_json", "__future__"}
