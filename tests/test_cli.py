"""The `scope` command itself: the fast-path command map and one-line usage errors."""

from __future__ import annotations

import argparse
import importlib

import pytest

from scope_tui import cli


def test_every_command_is_mapped_to_the_group_that_registers_it():
    for group in cli.GROUPS:
        p = argparse.ArgumentParser()
        sub = p.add_subparsers()
        importlib.import_module(f"scope_tui.cli.{group}").register(sub)
        for name in sub.choices:
            assert cli.COMMANDS.get(name) == group, f"{name} (group {group}) is missing from cli.COMMANDS"


def test_help_lists_every_command(capsys):
    try:
        cli.main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        if name not in ("worker", "reap"):  # internal, run by tmux
            assert name in out


def test_bad_input_is_one_line_and_exit_2_before_anything_runs(scope):
    for cmd in (
        ["spawn", "--skill", "nope", "t"],
        ["spawn", "--model", "", "t"],
        ["run", "--candidates", "map-reduce,nope", "t"],
        ["serve", "--port", "99999"],
        ["skills", "--explain", "t", "--context", "/no/such/file"],
    ):
        out = scope.run(*cmd)
        assert out.returncode == 2, (cmd, out.stdout, out.stderr)
        assert out.stderr.startswith("scope: ") and len(out.stderr.strip().splitlines()) == 1, (
            cmd,
            out.stderr,
        )
    assert not list((scope.scope_dir / "sessions").iterdir()), "nothing was spawned"


def test_an_os_error_is_one_line_not_a_traceback(scope, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = scope.run("demo", "--dir", str(blocker / "demo"), "--headless")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("scope: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr


PLAIN_COMMON = {
    "spawn": [
        ["count the ERROR lines"],
        ["--cmd", "echo 1", "bench 1"],
        ["--cmd=make test", "--json", "t"],
        ["t", "--level", "tactical", "--parallel", "3", "--budget", "1.5"],
        ["--context", "a", "--context=b", "--worktree", "-"],
        ["--", "-starts with a dash"],
        [],
    ],
    "hook": [["PreToolUse"], ["Stop", "--session-dir", "/p/.scope/sessions/1"], ["--session-dir=/d", "Stop"]],
}


@pytest.mark.parametrize("name", cli.PLAIN)
def test_plain_command_lines_are_read_as_argparse_reads_them(name, capsys):
    """The commands in cli.PLAIN read their plain command lines without argparse (cli/options.py):
    whatever the plain reader accepts, argparse must read the same way; the rest goes to argparse."""
    import random

    from scope_tui.cli import options
    from scope_tui.cli.parser import build_parser

    opts, positional, required, _ = importlib.import_module(f"scope_tui.cli.{cli.COMMANDS[name]}").PLAIN[name]
    parser = build_parser(name)

    def both(argv: list[str]) -> tuple[str | None, str | None]:
        plain = options.read(argv, opts, positional, required=required, command=name)
        try:
            ns = vars(parser.parse_args([name, *argv]))
            ns.pop("func")
        except SystemExit:
            ns = None
        capsys.readouterr()
        # compared as sorted reprs: nan != nan, and the order of the keys does not matter
        return (None if plain is None else repr(sorted(vars(plain).items()))), ns and repr(sorted(ns.items()))

    for argv in PLAIN_COMMON[name]:
        plain, ns = both(argv)
        assert plain is not None, argv  # the common forms never need argparse
        assert plain == ns, argv
    pool = ["TASK", "-", "--", "", "ø", "-h", "-x", "--=x", "3", "x3", "nan", "-1", "a b", "--json x"]
    for o in opts:
        pool += [o.flag, o.flag, f"{o.flag}=v", f"{o.flag}=", o.flag[:5], *(o.choices or ())]
    rng = random.Random(7)
    accepted = 0
    for _ in range(3000):
        argv = [rng.choice(pool) for _ in range(rng.randint(0, 6))]
        plain, ns = both(argv)
        if plain is not None:
            accepted += 1
            assert plain == ns, argv
    assert accepted > 150  # the corpus really exercises the plain reader


def test_poll_and_tree_show_the_rooms_glyph_for_each_status(scope):
    from scope_tui.store import sessions
    from scope_tui.store.project import Project
    from scope_tui.tui.labels import Palette, row

    project = Project(scope.scope_dir)
    made = {}
    for status in ("done", "failed", "escalated", "killed"):
        s = sessions.create(project, f"a task that ended {status}", level="operational")
        sessions.set_status(s.dir, status)
        made[status] = sessions.load(project, s.id)
    poll, tree = scope.run("poll").stdout, scope.run("tree").stdout
    expected = {"done": "✓", "failed": "✗", "escalated": "▲", "killed": "■"}
    for status, s in made.items():
        room = row(s, Palette(), 0.0).plain.split(" ", 1)[0]
        assert room == expected[status]
        assert f"{room} {status}" in poll, poll
        assert f"{room} {s.id}  " in tree, tree


def test_the_cli_and_the_room_write_an_age_the_same_way():
    from scope_tui.cli.render import age
    from scope_tui.tui import labels

    now = 1_000_000.0
    for seconds, shown in ((42, "42s"), (187, "3m07s"), (725, "12m"), (7500, "2h05m")):
        assert age(now - seconds, now) == labels.age(seconds) == shown
    for seconds, shown in ((42, "<1m"), (187, "3m"), (725, "12m"), (7500, "2h05m")):  # a live session's
        assert age(now - seconds, now, live=True) == labels.age(seconds, live=True) == shown
