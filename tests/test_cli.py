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
