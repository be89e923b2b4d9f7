"""Child processes of a worker: they end with it rather than run on headless in a dead pane."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


# util-linux's setpriv sets the parent-death signal and execs the command: no Python runs between fork
# and exec, so the child can be started the fast way (a preexec_fn forces a full fork of the worker).
def _setpriv() -> str | None:
    for path in ("/usr/bin/setpriv", "/bin/setpriv"):
        try:
            with open(path, "rb") as fh:
                # util-linux before 2.33 has no --pdeathsig: its binary does not contain the word
                if b"pdeathsig" in fh.read():
                    return path
        except OSError:
            continue
    return None


SETPRIV = _setpriv()


def die_with_parent(sig: int = 15) -> Callable[[], None]:
    """A `preexec_fn` that asks Linux to send `sig` (default SIGTERM) to the child when its worker dies
    (kill -9 included).

    Elsewhere it does nothing and the pane's hangup has to do.
    """

    def _preexec() -> None:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
        except Exception:
            pass

    return _preexec


# Without setpriv: a Python that sets the signal and execs the command (Linux only; elsewhere the pane's
# hangup has to do)
_PRCTL = (
    "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, int(sys.argv[1])); "
    "signal.signal(signal.SIGPIPE, signal.SIG_DFL); os.execv(sys.argv[2], sys.argv[2:])"
)


def dying_with_parent(argv: list[str], sig: str = "TERM") -> list[str]:
    """`argv` wrapped so that the process gets signal `sig` (a name: TERM, HUP) when its worker dies,
    kill -9 included, and needs no preexec_fn (so it can be started with posix_spawn)."""
    if SETPRIV:
        return [SETPRIV, f"--pdeathsig={sig}", "--", *argv]
    if sys.platform.startswith("linux"):
        import signal  # only here: its enums cost every worker a few milliseconds

        return [sys.executable, "-c", _PRCTL, str(int(signal.Signals[f"SIG{sig}"])), *argv]
    return argv
