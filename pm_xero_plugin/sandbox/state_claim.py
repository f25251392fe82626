"""One sandbox per state file: a server claims its ``--state`` file before it opens it.

Two servers writing one file would each overwrite the other's books. A server claims the file
with an exclusive lock on ``<state>.lock`` and publishes its root in ``<state>.url``; whoever
finds the file claimed uses the published server instead of starting a second one. Both
``pm-xero sandbox --state`` and the demo's embedded sandbox claim through here, so the sandbox
needs nothing from the add-on to keep its own books safe.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

__all__ = ["Claim", "StateClaimed", "claim_for_server", "claim_state"]


class StateClaimed(Exception):
    """Another process serves this state file; ``url`` is where (``None`` if it did not say)."""

    def __init__(self, state: Path, url: str | None) -> None:
        self.state, self.url = state, url
        where = f"at {url}" if url else "by another process"
        super().__init__(f"{state} is already served {where}")


class Claim:
    """An exclusive lock on a state file, and the URL published while it is held."""

    def __init__(self, state: Path, lock: IO[str]) -> None:
        self.state, self._lock = state, lock
        self._url_file = state.with_name(state.name + ".url")

    def publish(self, url: str) -> None:
        """Say where this file is served, so a second would-be server uses this one instead."""
        tmp = self._url_file.with_suffix(".tmp")
        with _private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "w") as out:
            out.write(url)
        os.replace(tmp, self._url_file)

    def release(self) -> None:
        """Give the file up: the published URL goes first, then the lock."""
        with contextlib.suppress(OSError):
            self._url_file.unlink()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


def _private(path: Path, flags: int, mode: str) -> IO[str]:
    """``path`` opened with ``flags``, created 0600 (and narrowed to it if it was not): next to
    the state, it is its user's only like the state itself."""
    fd = os.open(path, flags, 0o600)
    with contextlib.suppress(OSError):  # another user's file: opening it will say so
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode)


def _published(state: Path) -> str | None:
    try:
        return state.with_name(state.name + ".url").read_text().strip() or None
    except OSError:
        return None


@contextmanager
def claim_state(state: Path, url: str | None = None) -> Iterator[Claim]:
    """Hold ``state`` as its one server's for the block (and publish ``url`` if given).

    :raises StateClaimed: another process holds it; the exception says where it serves.
    """
    state = Path(state)
    lock = _private(
        state.with_name(state.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_APPEND, "a+"
    )
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise StateClaimed(state, _published(state)) from None
    claim = Claim(state, lock)
    try:
        if url is not None:
            claim.publish(url)
        yield claim
    finally:
        claim.release()


_HELD = ExitStack()
atexit.register(_HELD.close)


def claim_for_server(state: str | os.PathLike[str] | None) -> Claim | None:
    """For ``pm-xero sandbox --state``: claim the file for this process before the sandbox opens
    it (the lock goes with the process); ``None`` without a state file or where no lock file can
    be made (the sandbox then says why it cannot write there).

    :raises StateClaimed: another process serves that file.
    """
    if state is None:
        return None
    try:
        stack = ExitStack()
        claim = stack.enter_context(claim_state(Path(state)))
    except OSError:
        return None
    _HELD.push(stack)
    return claim
