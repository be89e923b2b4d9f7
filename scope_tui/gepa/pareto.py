"""The Pareto choice of skill versions, as GEPA draws them."""

from __future__ import annotations

import random

from scope_tui.store.project import Project


def choose_version(project: Project, skill: str, task_key: str, rng: random.Random | None = None) -> int | None:
    """The version of `skill` the next task should use; None means the latest."""
    return None
