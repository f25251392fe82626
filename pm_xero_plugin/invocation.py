"""How to write a ``pm-xero`` command so that it runs exactly as printed.

A verb that tells the user what to run next (``See it all: pm-xero status --data-dir …``, a
dashboard's "retry" action) must print something that works in the user's shell. After the
README's set-up the console script lives in ``.venv/bin`` and is *not* on ``PATH``, so a bare
``pm-xero`` would fail. The rule: ``pm-xero`` when that name on ``PATH`` is this very program,
else the program as the user typed it (``.venv/bin/pm-xero``), else the console script beside
this interpreter, else ``python -m pm_xero_plugin``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["pm_xero", "program"]

_NAME = "pm-xero"


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def program() -> str:
    """The words that start a ``pm-xero`` command in the user's shell (already shell-quoted)."""
    on_path = shutil.which(_NAME)
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == _NAME and os.path.exists(argv0):
        if on_path and _same_file(on_path, argv0):
            return _NAME
        return shlex.quote(argv0)
    beside = Path(sys.executable).parent / _NAME
    if beside.is_file():
        if on_path and _same_file(on_path, beside):
            return _NAME
        return shlex.quote(str(beside))
    if on_path:
        return _NAME
    return f"{shlex.quote(sys.executable)} -m pm_xero_plugin"


def pm_xero(*args: str | os.PathLike[str]) -> str:
    """A whole command line: ``pm_xero("status", "--data-dir", path)`` → ``.venv/bin/pm-xero status
    --data-dir /tmp/x`` (each argument shell-quoted)."""
    return " ".join([program(), *(shlex.quote(os.fspath(a)) for a in args)])
