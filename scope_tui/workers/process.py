"""Child processes of a worker: they end with it rather than run on headless in a dead pane."""

from __future__ import annotations

import signal
from collections.abc import Callable


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` that asks Linux to send `sig` to the child when its worker dies (kill -9 included).

    Elsewhere it does nothing and the pane's hangup has to do.
    """

    def _preexec() -> None:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
        except Exception:
            pass

    return _preexec
