"""Atomic file writes: a temp file in the same folder, then os.replace. Files are 0600: state is the person's."""

from __future__ import annotations

import itertools
import os

from scope_tui.store import files, jsontext

TYPE_CHECKING = False  # typing stays unimported: every `scope` process pays for what it imports
if TYPE_CHECKING:
    from typing import Any

    from _typeshed import StrPath

TEMP_PREFIX = ".tmp-"
_serial = itertools.count()


def _open_temp(folder: str, name: str) -> tuple[int, str]:
    """A new file beside `name`, unique to this process and call (no other writer can open it)."""
    while True:
        tmp = os.path.join(folder, f"{TEMP_PREFIX}{name}.{os.getpid()}.{next(_serial)}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp
        except FileExistsError:  # left by a crashed process whose pid came round again
            continue


def write_text(path: StrPath, text: str | bytes) -> None:
    """Write `text` to `path` so that a reader sees either the old file or the whole new one.

    Raises CorruptFile when `path` is a link or a folder (refused, as readers refuse them) and
    WriteFailed when the disk is full or failing: the old file then stays as it was.
    """
    data = text.encode() if isinstance(text, str) else text
    files.refuse_link(path)
    folder, name = os.path.split(os.fspath(path))
    fd, tmp = _open_temp(folder or ".", name)
    try:
        try:
            files.write_all(fd, data, path)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: StrPath, obj: Any) -> None:
    write_text(path, jsontext.dumps(obj, indent=2) + "\n")


def is_temp(name: str) -> bool:
    """True for the temp files this module leaves for an instant; watchers ignore them."""
    return os.path.basename(name).startswith(TEMP_PREFIX)
