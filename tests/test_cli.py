"""The `scope` command itself: the fast-path command map and one-line usage errors."""

from __future__ import annotations

import argparse
import importlib

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
