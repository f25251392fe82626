"""Every code block in the README runs, as written, so the README cannot rot.

Blocks are fenced with a language: ``python`` blocks run as a script (twice, in the same folder:
a host developer runs an example more than once), ``sh`` blocks run line by line in a shell whose
working folder holds ``.venv`` – the venv these tests run in, as the README's set-up leaves it –
and ``text`` blocks are diagrams. The README's two set-up commands are not re-run inside the test
suite (one of them *is* the test suite): the test command must be exactly what ``.ci/run`` runs,
the demo command must set up the same venv, and its last step (``.venv/bin/pm-xero demo``) runs.
A command marked ``# serves until Ctrl-C`` must start serving and stop cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SERVES = "# serves until Ctrl-C"
FENCE = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)


def _blocks(lang: str) -> list[str]:
    return [m["body"] for m in FENCE.finditer(README.read_text()) if m["lang"].strip() == lang]


def _commands() -> list[str]:
    lines = [line.strip() for block in _blocks("sh") for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


SETUP = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install -q -e (?P<extra>\S+) && ")
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/pytest -q"
)
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/pm-xero demo"


def _env() -> dict[str, str]:
    """The user's environment after the README's set-up: no add-on variables, venv not on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PM_XERO_")}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder laid out as the README's set-up leaves a clone: ``.venv`` is this suite's venv."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return tmp_path


def test_every_block_has_a_language_the_test_knows() -> None:
    langs = [m["lang"].strip() for m in FENCE.finditer(README.read_text())]
    assert langs, langs
    assert set(langs) <= {"python", "sh", "text"}, langs
    assert not re.search(r"^    (\.venv/bin/|pm-xero |python)", README.read_text(), re.M), (
        "an indented code block: fence it with ```sh so it is run"
    )


def test_the_two_commands_are_the_ones_ci_and_the_demo_test_run() -> None:
    commands = _commands()
    assert TEST_COMMAND in commands
    assert DEMO_COMMAND in commands
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert TEST_COMMAND in [line.strip() for line in ci], ".ci/run must run the README's command"
    for command in (TEST_COMMAND, DEMO_COMMAND):
        assert SETUP.match(command), f"{command!r} does not set up the venv as the other does"


def _runnable_blocks() -> list[list[str]]:
    blocks = []
    for block in _blocks("sh"):
        lines = [line.strip() for line in block.splitlines()]
        commands = [c for c in lines if c and not c.startswith("#") and not SETUP.match(c)]
        if commands:
            blocks.append(commands)
    return blocks


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("commands", _runnable_blocks(), ids=lambda c: c[0][:60])
def test_each_shell_block_runs_as_written_line_by_line(commands: list[str], workdir: Path) -> None:
    """One block is one session: its lines run in order, in one folder, each must succeed."""
    for command in commands:
        if SERVES in command:
            _serves_until_ctrl_c(command, workdir)
            continue
        run = subprocess.run(
            command,
            shell=True,
            cwd=workdir,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=280,
        )
        assert run.returncode == 0, (command, run.stdout[-2000:], run.stderr[-2000:])
        assert "Traceback" not in run.stderr, command


def _serves_until_ctrl_c(command: str, workdir: Path) -> None:
    proc = subprocess.Popen(
        shlex.split(command.split(SERVES)[0]),
        cwd=workdir,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        said: list[str] = []
        for line in proc.stdout:  # wait until it says it serves, then press Ctrl-C
            said.append(line)
            if "Ctrl-C" in line:
                break
        if proc.poll() is not None and not any("http://" in line for line in said):
            err = proc.stderr.read() if proc.stderr else ""
            if "in use" in err or "busy" in err:
                pytest.skip(f"the README's port is taken on this machine: {err.strip()}")
        assert any("http://" in line for line in said), (said, proc.stderr)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode in (0, 130), proc.returncode


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_demo_commands_last_step_runs_as_written(workdir: Path) -> None:
    last = DEMO_COMMAND.split(" && ")[-1]
    run = subprocess.run(
        last, shell=True, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=280
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_each_python_block_runs_and_runs_again(index: int, workdir: Path) -> None:
    script = workdir / f"readme_block_{index}.py"
    script.write_text(_blocks("python")[index])
    for attempt in (1, 2):
        run = subprocess.run(
            [sys.executable, str(script)],
            cwd=workdir,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, (attempt, run.stderr[-3000:])
