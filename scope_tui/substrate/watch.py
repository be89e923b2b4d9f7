"""File-event waiting with watchfiles, falling back to polling (said once) when inotify runs out.

Machines like this one allow 128 inotify instances per user; a watcher that cannot get one polls instead.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from scope_tui.store.atomic import is_temp

_warned = False


def _keep(_change: object, path: str) -> bool:
    return not is_temp(path) and not path.endswith(".lock")


def _say_polling(why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(f"scope: file events unavailable ({why}); polling instead", file=sys.stderr)


def ticks(path: Path, *, tick_ms: int = 1000, stop: threading.Event | None = None) -> Iterator[bool]:
    """Yield True when something under `path` changed, False every `tick_ms` without a change.

    Runs until the caller stops iterating (or `stop` is set).
    """
    import watchfiles

    stop = stop or threading.Event()
    force = False
    while not stop.is_set():
        try:
            for changes in watchfiles.watch(
                path,
                watch_filter=_keep,
                debounce=20,
                step=10,
                rust_timeout=tick_ms,
                yield_on_timeout=True,
                stop_event=stop,
                force_polling=force,
                poll_delay_ms=100,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                yield bool(changes)
            return
        except OSError as exc:  # inotify instance or watch limit
            if force:
                raise
            force = True
            _say_polling(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
