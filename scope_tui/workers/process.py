"""Child processes of a worker: they end with it rather than run on headless in a dead pane."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

# util-linux's setpriv sets the parent-death signal and execs the command: no Python runs between fork
# and exec, so the child can be started the fast way (a preexec_fn forces a full fork of the worker).
SETPRIV = next((p for p in ("/usr/bin/setpriv", "/bin/setpriv") if os.access(p, os.X_OK)), None)


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


def dying_with_parent(
    argv: list[str], sig: int = signal.SIGTERM
) -> tuple[list[str], Callable[[], None] | None]:
    """`argv` and the `preexec_fn` to start it with so that it gets `sig` when its worker dies:
    through setpriv when the machine has it, else die_with_parent."""
    if SETPRIV:
        name = signal.Signals(sig).name.removeprefix("SIG")
        return [SETPRIV, f"--pdeathsig={name}", "--", *argv], None
    return argv, die_with_parent(sig)
