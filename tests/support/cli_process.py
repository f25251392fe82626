"""Run ``pm-xero`` as a real process, the way a person or a script meets it: its own
interpreter, environment, exit status, stdout and stderr (click's in-process runner hides
the error boundary's exit codes, signal handling and what reaches the terminal)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PM_XERO = [sys.executable, "-m", "pm_xero_plugin.cli.main"]

APP_VARS = (
    "PM_XERO_CLIENT_ID",
    "PM_XERO_CLIENT_SECRET",
    "PM_XERO_URL",
    "PM_XERO_DATA_DIR",
    "PM_XERO_REDIRECT_URI",
    "PM_XERO_WORKER",
    "PM_XERO_DEBUG",
)


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without a Xero app or data dir, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in APP_VARS}
    env["COLUMNS"] = "80"
    env.update(extra or {})
    return env


def pm_xero(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``pm-xero ARGS…`` as a process; returns its exit status and output."""
    return subprocess.run(
        [*PM_XERO, *(str(a) for a in args)],
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin if stdin is not None else "",
    )
