"""`pm-xero demo` run again soon after a run: it waits for Xero's limits and says so.

Seen before: the second run crashed in the demo's chart read with ``RateLimited: rate limited
(local-minute); retry after 56.9s`` (a traceback, exit 1) – against a ``--no-limits`` sandbox too,
whose remaining-headers claimed the minute was used up while it refused nothing.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from support.sandbox_helpers import connect  # the sandbox suite's OAuth code flow with PKCE

from pm_xero_plugin.sandbox import Limits, Sandbox, SandboxClock

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


WAIT_LINE = re.compile(r"waiting (\d+) s for Xero's minute limit on (Sandbox Pets Ltd \d)")


def _demo_command(data_dir: Path, url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pm_xero_plugin.cli.main",
        "demo",
        "--xero-url",
        url,
        "--data-dir",
        str(data_dir),
        "--json",
        "--live-rounds",
        "0",
    ]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PM_XERO_")}


def _demo(data_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _demo_command(data_dir, url), capture_output=True, text=True, env=_env(), timeout=200
    )


def _nothing_twice(sandbox: Sandbox) -> None:
    for tenant_id, book in sandbox.inspect().items():
        numbers = collections.Counter(i["InvoiceNumber"] for i in book["invoices"])
        assert max(numbers.values(), default=1) == 1, f"an invoice reached {tenant_id} twice"
        contacts = collections.Counter(c.get("ContactNumber") for c in book["contacts"])
        assert all(n == 1 for number, n in contacts.items() if number), "a contact twice"


def _use_up_the_minute(url: str, tenant_id: str) -> int:
    """Spend what is left of the organisation's minute from another connection (as another app
    of the practice would); return Xero's Retry-After."""
    with httpx.Client(base_url=url, timeout=10) as c:
        tokens = connect(c, tenant=tenant_id)
        for _ in range(61):
            resp = c.get("/api.xro/2.0/Organisation", headers=tokens.headers(tenant_id))
            if resp.status_code == 429:
                assert resp.headers["X-Rate-Limit-Problem"] == "minute"
                return int(resp.headers["Retry-After"])
    raise AssertionError("the minute never ran out")


def test_a_rerun_within_the_minute_waits_for_xeros_limit_and_says_so(
    tmp_path: Path, xero_spec_path: Path
) -> None:
    clock = SandboxClock(time_scale=1.0)
    sandbox = Sandbox(orgs=2, clock=clock, spec_path=xero_spec_path, limits=Limits(), seed=3)
    data_dir = tmp_path / "practice"
    with sandbox.serve(port=0) as server:
        first = _demo(data_dir, server.url)
        assert first.returncode == 0, first.stderr[-3000:]

        # Both organisations' minutes are used up; the sandbox clock then stands 3 s before
        # they end (each window opened at a different moment, so stop at the earlier end).
        retry = min(_use_up_the_minute(server.url, t) for t in sandbox.tenant_ids)
        clock.time_scale = 0.0
        clock.advance(max(0, retry - 3))

        second = subprocess.Popen(
            _demo_command(data_dir, server.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        err_lines: list[str] = []

        def read_stderr() -> None:
            assert second.stderr is not None
            for line in second.stderr:
                err_lines.append(line)
                if WAIT_LINE.search(line) and clock.time_scale == 0.0:
                    clock.advance(5)  # the minute Xero asked us to wait for passes
                    clock.time_scale = 1.0

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        # stdout read here, stderr by the reader alone: communicate() would read (and close)
        # stderr too, under the reader's feet.
        assert second.stdout is not None
        out = second.stdout.read()
        second.wait(timeout=200)
        reader.join(timeout=10)
        err = "".join(err_lines)
        assert second.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        waits = [m for m in map(WAIT_LINE.search, err_lines) if m]
        assert waits, err[-3000:]
        seconds, organisation = int(waits[0].group(1)), waits[0].group(2)
        assert 1 <= seconds <= 5  # Xero's Retry-After, not a guess of a whole minute
        assert organisation in {book["name"] for book in sandbox.inspect().values()}
        # The wait was the settings step's chart read, before anything was sent.
        before_sending = err.split("contact sync")[0]
        assert WAIT_LINE.search(before_sending), err[-3000:]
        assert out.strip().startswith("{")
        _nothing_twice(sandbox)


def test_a_rerun_against_a_sandbox_without_limits_never_waits(
    tmp_path: Path, xero_spec_path: Path
) -> None:
    sandbox = Sandbox(orgs=2, spec_path=xero_spec_path, limits=Limits(enabled=False), seed=3)
    data_dir = tmp_path / "practice"
    with sandbox.serve(port=0) as server:
        runs = [_demo(data_dir, server.url) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        assert "waiting" not in run.stderr
    _nothing_twice(sandbox)
