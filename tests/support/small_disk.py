"""A small disk that can be filled: a tmpfs mounted on a test's directory.

Filling the real disk of a shared machine is not an option; a tmpfs of a few megabytes is, where
the tests may mount (they run as root in CI and in the project's containers). Where mounting is
not possible the test is skipped with the reason, never passed silently.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "8m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``path`` (made if missing) and unmount it afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("a disk-full episode needs a small tmpfs: no mount/umount command here")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(
            f"a disk-full episode needs a small tmpfs and mounting one failed "
            f"(run as root, or in a container allowed to mount): {done.stderr.strip()}"
        )
    try:
        yield path
    finally:
        if subprocess.run([umount, str(path)], capture_output=True, check=False).returncode:
            subprocess.run([umount, "-l", str(path)], capture_output=True, check=False)


def fill(directory: Path, name: str = "filler") -> Path:
    """Write a file in ``directory`` until its filesystem has no byte left; returns the file."""
    filler = directory / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        os.fsync(fd)
    finally:
        os.close(fd)
    return filler
