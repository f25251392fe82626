"""Files and folders only the host's user may read: 0600 and 0700, whatever the umask says.

The ledger holds customers' names, emails and phones; the token store holds what reaches the
practice's books in Xero. Any local user could read them at the default 0644. So every file the
add-on writes is created 0600 – before SQLite opens it, because SQLite creates its ``-wal``,
``-shm`` and ``-journal`` files with the main file's mode – and an existing one made by an
earlier version is narrowed to 0600 when it is opened again; every folder it creates is 0700.

Below every layer (the ledger, the Xero side and the demo all use it); the sandbox, which
imports nothing from the add-on, does the same in its own persistence.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["FILE_MODE", "FOLDER_MODE", "private_file", "private_folder", "write_private"]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path | str, *, narrow_existing: bool = False) -> Path:
    """Make ``path`` (and any missing parent) a folder; the folders made here are 0700.

    :param narrow_existing: also narrow ``path`` to 0700 when it already existed – only for a
        folder that is the add-on's own (its data directory), never one a person chose, which
        may be shared (``/tmp``).
    """
    folder = Path(path)
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for made in missing if not narrow_existing else [*missing, folder]:
        _narrow(made, FOLDER_MODE)
    return folder


def private_file(path: Path | str) -> Path:
    """Make sure ``path`` exists and is 0600 before anything (SQLite) opens it.

    Nothing is created where its folder is missing or cannot be written to: the opener then
    fails with its own words, as it would have."""
    file = Path(path)
    with contextlib.suppress(OSError):  # FileExistsError: narrowed below; others: see above
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _narrow(file, FILE_MODE)
    for suffix in ("-wal", "-shm", "-journal"):  # left by an earlier version at its mode
        sibling = file.with_name(file.name + suffix)
        if sibling.exists():
            _narrow(sibling, FILE_MODE)
    return file


def write_private(path: Path | str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a temporary file, then ``os.replace``), 0600."""
    file = Path(path)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, FILE_MODE)  # a leftover temporary file keeps its old mode on O_TRUNC
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _narrow(path: Path, mode: int) -> None:
    """``chmod`` to ``mode`` when it differs (a file owned by someone else is left as it is:
    the host's user cannot change it, and opening it will say what is wrong)."""
    with contextlib.suppress(OSError):
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
