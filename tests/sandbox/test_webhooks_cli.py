"""``pm-xero sandbox --webhook-url URL [--webhook-key KEY]``: subscribed at start, the key printed
among the host's settings, kept in ``--state`` across a restart; bad options are one line."""

from __future__ import annotations

import shlex
import signal
import subprocess
from pathlib import Path

import httpx
from support.sandbox_helpers import pm_xero_command, start_sandbox_cli
from support.webhook_receiver import Receiver

from pm_xero_plugin.sandbox.server import serve


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def printed_key(banner: str) -> str:
    (line,) = [ln for ln in banner.splitlines() if "PM_XERO_WEBHOOK_KEY=" in ln]
    return shlex.split(line.split("PM_XERO_WEBHOOK_KEY=", 1)[1])[0]


def test_it_subscribes_at_start_prints_the_key_and_keeps_it_in_the_state(
    spec_path: str, tmp_path: Path
) -> None:
    """About 2 s: two sandbox processes."""
    receiver = Receiver("cli-key")
    state = str(tmp_path / "sandbox.json")
    with serve(receiver) as endpoint:
        url = f"{endpoint.url}/hook"
        args = ("--state", state, "--webhook-url", url, "--webhook-key", "cli-key")
        proc, sandbox_url, banner = start_sandbox_cli(*args, spec_path=spec_path)
        try:
            assert f"webhooks:      {url} – OK" in banner
            assert printed_key(banner) == "cli-key"
            assert "export PM_XERO_URL=" in banner
            with httpx.Client(base_url=sandbox_url, timeout=5) as c:
                sub = c.get("/sandbox/webhooks").json()["subscription"]
            assert sub == {"url": url, "key": "cli-key", "status": "OK"}
        finally:
            stop(proc)
        assert len(receiver.calls) == 2  # the intent-to-receive check's two calls
        # restarted without the options: the kept subscription and its key
        proc, _url, banner = start_sandbox_cli("--state", state, spec_path=spec_path)
        try:
            assert printed_key(banner) == "cli-key"
        finally:
            stop(proc)


def test_a_webhook_url_that_is_not_one_is_one_line_exit_2() -> None:
    result = subprocess.run(
        [*pm_xero_command(), "sandbox", "--port", "0", "--webhook-url", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--webhook-url" in result.stderr
    assert "Traceback" not in result.stderr
