"""Atomic file writes: a temp file in the same folder, then os.replace."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".tmp-"


def write_text(path: Path, text: str | bytes) -> None:
    """Write `text` to `path` so that a reader sees either the old file or the whole new one."""
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def is_temp(name: str) -> bool:
    """True for the temp files this module leaves for an instant; watchers ignore them."""
    return os.path.basename(name).startswith(TEMP_PREFIX)
