"""The `.scope/` files: ids, atomic writes, events, reading state back. Stdlib only."""

from scope_tui.store.errors import CorruptFile, NoProject, ScopeError, UnknownSession, UsageError

__all__ = ["CorruptFile", "NoProject", "ScopeError", "UnknownSession", "UsageError"]
