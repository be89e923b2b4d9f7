"""The room's settings: `.scope/config.toml` as trust allows, and the words for what could not apply."""

from __future__ import annotations

from typing import Any

from scope_tui.store import config
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project


def load(project: Project) -> tuple[dict[str, Any], str | None, str]:
    """(settings, why config.toml is broken or None, the banner line of an untrusted project or "").

    A broken file gives the defaults; an untrusted project's trust-gated keys are left out and named.
    """
    try:
        settings, ignored = config.load_trusted(project.config_path)
    except ScopeError as exc:
        return dict(config.DEFAULTS), str(exc), ""
    untrusted = ""
    if ignored:
        untrusted = (
            f"untrusted project: ignoring {', '.join(ignored)} in .scope/config.toml "
            "(run `scope trust` outside any session to let them apply)"
        )
    return settings, None, untrusted
