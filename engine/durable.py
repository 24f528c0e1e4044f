"""Files written whole or not at all, for the log and its snapshots.

A file is written under a temporary name, fsynced, renamed over its final
name and its directory fsynced: a crash at any moment leaves either the old
file (or none) or the whole new one, never a part.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Optional


def fsync_dir(directory: Path) -> None:
    """Make the names in ``directory`` (created, renamed, removed) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, chunks: Iterable[bytes], *, temp: Optional[Path] = None) -> None:
    """``chunks`` as the file ``path``, replacing any file of that name.

    ``temp`` names the temporary file (a caller holding a lock may use a
    fixed name that it knows to clean up); by default it is a unique hidden
    name beside ``path``, so concurrent writers never share one.
    """
    if temp is None:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        temp = Path(name)
    else:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_dir(path.parent)
