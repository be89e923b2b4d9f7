"""Errors a person may see. Each carries a one-line message and the exit code the CLI uses."""


class ScopeError(Exception):
    """A failure a person can act on: printed as one line, never as a traceback."""

    exit_code = 1


class UsageError(ScopeError):
    """Bad input: a malformed id, a missing argument, a file that is not there."""

    exit_code = 2


class NoProject(UsageError):
    def __init__(self, where: str = "") -> None:
        super().__init__(
            "no Scope project here"
            + (f" ({where})" if where else "")
            + " (try 'scope spawn' or 'scope demo')"
        )


class UnknownSession(UsageError):
    def __init__(self, sid: str) -> None:
        super().__init__(f"no session {sid} (try 'scope poll --all')")
        self.sid = sid


class CorruptFile(ScopeError):
    """A state file that cannot be read: half-written, hand-broken or of the wrong shape."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
