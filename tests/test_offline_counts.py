"""The offline stand-in's counts are exact at any size or say they are cut: four logs of 50 ERROR lines
each, counted by the real map-reduce engine with offline built-in mappers, answer 200 (it said 160: the
offline grep stopped at 40 lines a file). Through the real CLI and tmux."""

from __future__ import annotations


def test_offline_map_reduce_counts_every_error_line_of_four_logs(scope, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(4):
        (logs / f"app{i}.log").write_text("".join(f"ERROR request {i}-{n} failed\n" for n in range(50)))
    sid = scope.spawn(
        "--skill", "map-reduce", "--context", str(logs), "--model", "offline", "count the ERROR lines"
    )
    scope.wait_status(sid, "done", "failed", timeout=90)
    assert scope.status(sid) == "done", scope.state(sid)
    result = (scope.session(sid) / "result.md").read_text()
    assert result.startswith("200 in total"), result
    for i in range(1, 5):
        assert f"part {i}: 50" in result or "50" in (scope.session(f"{sid}.{i}") / "result.md").read_text()


def test_an_offline_search_says_how_many_lines_matched_in_all_beyond_those_it_shows(scope):
    (scope.root / "big.log").write_text("".join(f"ERROR request {n} failed\n" for n in range(120)))
    sid = scope.spawn("--model", "offline", "find mentions of ERROR in big.log")
    scope.wait_status(sid, "done", "failed", timeout=60)
    result = (scope.session(sid) / "result.md").read_text()
    assert "120 matching line(s) (the first 10 shown)" in result, result
