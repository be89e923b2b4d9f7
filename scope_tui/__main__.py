"""`python -m scope_tui`: the command line (the `scope` script's twin).

Every tmux window starts its worker through `worker()` below (substrate.server.worker_command), with
`python -c`: neither runpy nor the command-line parser is imported for it.
"""


def worker(argv: list[str]) -> int:
    """`worker SESSION_DIR`: run that session's worker to its end (api.run_worker)."""
    from scope_tui.api import run_worker

    return run_worker(argv[0])


if __name__ == "__main__":
    from scope_tui.cli import main

    raise SystemExit(main())
