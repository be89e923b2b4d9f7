"""The store: ids, atomic writes, events under concurrency, incremental reading, corruption, finding projects."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from scope_tui.store import events, ids, sessions
from scope_tui.store.errors import NoProject, UsageError
from scope_tui.store.project import Project, find


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../x",
        "3..1",
        "/etc",
        "0",
        "3.",
        ".3",
        "a",
        "3.0",
        "3/1",
        "3 1",
        "-1",
        "3\n",
        "٣",
        "1" + ".1" * 32,
        "1234567890",
    ],
)
def test_bad_ids_are_refused(bad):
    with pytest.raises(UsageError, match="bad session id"):
        ids.validate(bad)


def test_good_ids_and_relations():
    for good in ["1", "3.1", "3.1.2", "12.40.7"]:
        assert ids.validate(good) == good
    assert ids.parent_of("3.1.2") == "3.1" and ids.parent_of("3") is None
    assert ids.is_descendant("3.1.2", "3") and not ids.is_descendant("31", "3")
    assert sorted(["10", "9", "9.10", "9.2"], key=ids.sort_key) == ["9", "9.2", "9.10", "10"]


def _append_many(d: str, n: int, who: int) -> None:
    for i in range(n):
        events.append(Path(d), "tick", who=who, i=i, pad="x" * 300)


def test_events_from_many_processes_get_unique_ordered_seqs(tmp_path):
    procs = [
        mp.get_context("fork").Process(target=_append_many, args=(str(tmp_path), 50, w)) for w in range(6)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    evs = [json.loads(x) for x in lines]  # an interleaved line would not parse
    assert len(evs) == 300
    assert [e["seq"] for e in evs] == list(range(1, 301))
    for w in range(6):
        assert [e["i"] for e in evs if e["who"] == w] == list(range(50))


def test_event_reader_resumes_from_offset_and_waits_for_partial_lines(tmp_path):
    events.append(tmp_path, "a")
    r = events.EventReader(tmp_path / "events.jsonl")
    assert [e["type"] for e in r.read_new()] == ["a"]
    assert r.read_new() == []
    with open(tmp_path / "events.jsonl", "ab") as fh:
        fh.write(b'{"seq": 2, "t": 1, "type": "b"}\n{"seq": 3, "t": 1, "ty')
    assert [e["type"] for e in r.read_new()] == ["b"]
    with open(tmp_path / "events.jsonl", "ab") as fh:
        fh.write(b'pe": "c"}\nnot json\n')
    got = r.read_new()
    assert [e["type"] for e in got] == ["c", "corrupt_event"]
    events.append(tmp_path, "d")
    assert [e["seq"] for e in r.read_new()] == [4]


def test_corrupt_session_is_reported_and_others_load(tmp_path):
    p = Project.create(tmp_path / ".scope")
    a = sessions.create(p, "fine")
    b = sessions.create(p, "broken")
    (b.dir / "state.json").write_text('{"status": "runn')
    listed = sessions.list_all(p)
    assert [s.id for s in listed] == [a.id, b.id]
    assert listed[0].corrupt is None and listed[0].status == "pending"
    assert listed[1].status == "corrupt" and "state.json" in listed[1].corrupt


def test_a_spawn_mid_way_is_not_listed_as_corrupt_but_an_abandoned_one_is(tmp_path):
    p = Project.create(tmp_path / ".scope")
    a = sessions.create(p, "fine")
    half = p.sessions / "2"
    half.mkdir()  # what another process's `create` has claimed and not yet filled
    assert [s.id for s in sessions.list_all(p)] == [a.id]
    old = time.time() - 3600
    os.utime(half, (old, old))  # an hour later it is no spawn in progress: its folder is broken
    listed = sessions.list_all(p)
    assert [s.id for s in listed] == [a.id, "2"] and "meta.json: missing" in (listed[1].corrupt or "")


def test_terminal_status_is_sticky(tmp_path):
    p = Project.create(tmp_path / ".scope")
    s = sessions.create(p, "t")
    assert sessions.set_status(s.dir, "killed", reason="by test")
    assert not sessions.set_status(s.dir, "done")
    assert sessions.load(p, s.id).status == "killed"
    assert sessions.set_status(s.dir, "pending", force=True)


def test_inbox_is_consumed_in_order(tmp_path):
    p = Project.create(tmp_path / ".scope")
    s = sessions.create(p, "t")
    for i in range(5):
        sessions.put_message(s.dir, "redirect", f"m{i}")
    assert [m["text"] for m in sessions.take_messages(s.dir)] == [f"m{i}" for i in range(5)]
    assert sessions.take_messages(s.dir) == []


def test_project_is_found_walking_up_but_never_home_scope(tmp_path, monkeypatch):
    monkeypatch.delenv("SCOPE_DIR", raising=False)
    home = tmp_path / "home"
    (home / ".scope" / "agents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    deep = home / "work" / "a" / "b"
    deep.mkdir(parents=True)
    assert find(deep) is None
    with pytest.raises(NoProject):
        Project.open(deep)
    (home / "work" / ".scope").mkdir()
    assert find(deep) == str((home / "work" / ".scope").resolve())
    monkeypatch.setenv("SCOPE_DIR", str(home / "work" / ".scope"))
    assert find(Path("/")) == str((home / "work" / ".scope").resolve())


def test_atomic_write_leaves_no_temp_files(tmp_path):
    from scope_tui.store.atomic import write_json

    for i in range(20):
        write_json(tmp_path / "x.json", {"i": i})
    assert os.listdir(tmp_path) == ["x.json"]


def test_a_project_is_the_same_given_as_str_or_path(tmp_path):
    from scope_tui.substrate.server import tmux_for

    a, b = Project(f"{tmp_path}/.scope/"), Project(tmp_path / ".scope")
    assert a == b and a.home_path == str(tmp_path) and a.home == tmp_path
    assert tmux_for(a).socket == tmux_for(b).socket  # one tmux server per project, however it is named
