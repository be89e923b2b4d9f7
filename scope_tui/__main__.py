import sys

if len(sys.argv) == 3 and sys.argv[1] == "worker":
    # What every tmux window runs: straight to the worker, without building the command-line parser.
    from pathlib import Path

    from scope_tui.api import run_worker

    raise SystemExit(run_worker(Path(sys.argv[2])))

from scope_tui.cli import main  # noqa: E402

raise SystemExit(main())
