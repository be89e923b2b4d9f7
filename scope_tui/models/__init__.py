"""Model protocol; anthropic and offline backends; token and cost accounting; budgets.

Entry points: `select.model_for(project, meta, level)` (alias `for_session`), `base.Model`, `base.Reply`.
"""

from __future__ import annotations

from typing import Any


def for_session(project: Any, meta: dict[str, Any], level: str | None = None) -> Any:
    """The model a session (its meta.json dict) talks to, accounted against it; see select.model_for."""
    from scope_tui.models.select import model_for

    return model_for(project, meta, level)
