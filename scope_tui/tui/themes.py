"""Themes as files: every `themes/*.toml` becomes a Textual Theme (name, colours, extra variables)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from textual.theme import Theme

# The top-level themes/ of a checkout, through a link that a wheel replaces by the files themselves;
# SCOPE_THEMES_DIR may point elsewhere.
THEMES_DIR = (Path(__file__).parent.parent / "shipped" / "themes").resolve()
FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
FALLBACK = Theme(
    name="scope-dark",
    primary="#7aa2f7",
    secondary="#bb9af7",
    accent="#e0af68",
    foreground="#c0caf5",
    background="#16161e",
    surface="#1a1b26",
    panel="#24283b",
    success="#9ece6a",
    warning="#e0af68",
    error="#f7768e",
    dark=True,
)


def load_theme(path: Path) -> Theme:
    """One theme file as a Theme; raises ValueError when it lacks a name or primary colour."""
    data = tomllib.loads(path.read_text())
    if not data.get("name") or not data.get("primary"):
        raise ValueError(f"{path.name}: a theme needs name and primary")
    kw: dict[str, Any] = {k: str(data[k]) for k in FIELDS if data.get(k)}
    return Theme(
        name=str(data["name"]),
        dark=bool(data.get("dark", True)),
        variables={str(k): str(v) for k, v in (data.get("variables") or {}).items()},
        **kw,
    )


def load_themes(folder: Path | None = None) -> list[Theme]:
    """Every readable theme in `folder` (broken files are skipped); the built-in dark one when none."""
    import os

    folder = folder or Path(os.environ.get("SCOPE_THEMES_DIR") or THEMES_DIR)
    out: list[Theme] = []
    for p in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            out.append(load_theme(p))
        except (OSError, ValueError, tomllib.TOMLDecodeError):
            continue
    if not any(t.name == FALLBACK.name for t in out):
        out.insert(0, FALLBACK)
    return out


def register(app: Any, wanted: str) -> list[str]:
    """Register every theme with `app` and choose `wanted` (scope-dark when it is not there); their names.

    Called before the first mount, so the stylesheet is built once, for that theme."""
    names: list[str] = []
    for th in load_themes():
        app.register_theme(th)
        names.append(th.name)
    app.theme = wanted if wanted in app.available_themes else FALLBACK.name
    return names
