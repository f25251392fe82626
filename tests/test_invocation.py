"""Commands a verb prints are written the way the user started ``pm-xero``, so they run as
printed: after the README's set-up ``pm-xero`` is not on PATH, ``.venv/bin/pm-xero`` is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pm_xero_plugin import invocation

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder laid out as the README's set-up leaves it, with the venv not on PATH."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    return tmp_path


def test_started_as_venv_bin_pm_xero_it_prints_that_path(
    clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [".venv/bin/pm-xero", "demo"])
    assert invocation.pm_xero("status", "--data-dir", "/tmp/a b") == (
        ".venv/bin/pm-xero status --data-dir '/tmp/a b'"
    )


def test_plain_pm_xero_once_the_venv_is_on_path(
    clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join([str(clone / ".venv" / "bin"), os.environ["PATH"]]))
    monkeypatch.setattr(sys, "argv", [str(clone / ".venv" / "bin" / "pm-xero"), "status"])
    assert invocation.program() == "pm-xero"


def test_inside_a_host_process_it_names_the_script_beside_the_interpreter(
    clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["/srv/pet-manager/host.py"])
    assert invocation.program() == str(VENV_BIN / "pm-xero")


def test_a_printed_command_runs_as_printed_in_the_users_shell(clone: Path) -> None:
    printed = subprocess.run(
        [".venv/bin/python", "-c", "from pm_xero_plugin.invocation import pm_xero; "
         "print(pm_xero('--version'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert "pm-xero" in printed
    ran = subprocess.run(printed, shell=True, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert "version" in ran.stdout, ran.stderr
