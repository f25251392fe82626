"""After the demo, its books stay usable (issue 9, item 11): ``preview`` and ``worker`` on the
demo's data dir reach the demo's Xero with nothing configured – they serve its sandbox again on
the saved books – and ``pm-xero sandbox`` prints the settings a host needs, claims its state file
(two servers on one file would overwrite each other's books) and is found by the verbs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support.demo_helpers import clean_env, demo, pm_xero, served_sandbox, summary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

_NEW_RECORDS = """
import random, sys
from datetime import date
from hookspecs.refhost import RefHost, live_day
host = RefHost(sys.argv[1])
host.start()
live_day(host, date(2026, 3, 11), random.Random(5), per_day=2)
host.stop()
host.close()
"""


def _invoice_numbers(state_file: Path) -> set[str]:
    from pm_xero_plugin.sandbox import persistence

    state = persistence.decode(state_file.read_text())
    numbers = set()
    for org in state["orgs"].values():
        invoices = org["invoices"]
        for item in invoices.values() if isinstance(invoices, dict) else invoices:
            doc = persistence.decode(item) if isinstance(item, str) else item
            numbers.add(str(doc["InvoiceNumber"]))
    return numbers


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir the demo ran in with its embedded sandbox (which ended with the demo)."""
    data_dir = tmp_path_factory.mktemp("demo") / "practice"
    summary(demo(data_dir, "--today", "2026-03-10"))
    return data_dir


def test_preview_and_worker_on_a_demo_dir_reach_the_demos_xero_with_nothing_configured(
    demo_dir: Path,
) -> None:
    data_dir = demo_dir
    state_file = data_dir / "sandbox-state.json"
    before = _invoice_numbers(state_file)

    preview = pm_xero("preview", "--data-dir", str(data_dir), "--json")
    assert preview.returncode == 0, preview.stderr[-2000:]
    report = json.loads(preview.stdout)
    assert report["looked_up"] is True, "looked up in its Xero"
    assert not report["lookup_note"], "looked up in its Xero"
    invoices = [org["kinds"]["invoice"] for org in report["organisations"]]
    assert all(i["in_xero"] is not None and i["in_xero"] >= i["already_synced"] for i in invoices)

    # The practice goes on without the demo (the host has no Xero app configured: the add-on
    # keeps its records); a foreground worker on the data dir sends them to the demo's books.
    made = subprocess.run(
        [sys.executable, "-c", _NEW_RECORDS, str(data_dir)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    worker = pm_xero("worker", "--data-dir", str(data_dir), "--once", "--threads", "2")
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert "synced 0," not in worker.stdout, worker.stdout
    assert len(_invoice_numbers(state_file)) > len(before), "the new invoices are in its books"


def test_reconcile_on_a_demo_dir_reads_the_demos_xero_back_and_finds_the_books_agree(
    demo_dir: Path,
) -> None:
    done = pm_xero("reconcile", "--data-dir", str(demo_dir), "--json")
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    report = json.loads(done.stdout)
    assert report["clean"] is True
    assert len(report["tenants"]) == 2
    for tenant in report["tenants"]:
        assert tenant["checked"] > 0
        assert tenant["read_at"] is not None, "Xero's books were read back"
        assert tenant["differences"] == []
        assert 0 < tenant["calls_today"] <= 10, "a full read of a small practice: a few calls"


def test_the_sandbox_prints_a_hosts_settings_claims_its_state_and_the_verbs_use_it(
    demo_dir: Path,
) -> None:
    data_dir = demo_dir
    state_file = data_dir / "sandbox-state.json"

    with served_sandbox(state_file) as url:
        second = pm_xero("sandbox", "--port", "0", "--state", str(state_file), timeout=30)
        assert second.returncode == 1
        assert f"already served at {url}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        assert "Traceback" not in second.stderr

        preview = pm_xero("preview", "--data-dir", str(data_dir), "--json")
        assert preview.returncode == 0, preview.stderr[-2000:]
        seen = httpx.get(f"{url}/sandbox/requests", timeout=10).json()
        assert any("/api.xro/2.0/" in r["path"] for r in seen), "the verb used this server"


def test_pm_xero_sandbox_prints_the_environment_a_host_needs() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pm_xero_plugin.cli.main", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if line.startswith("Ctrl-C"):
                break
        url = lines[0].split("listening on ", 1)[1]
        assert f"  export PM_XERO_URL={url}" in lines
        assert "  export PM_XERO_CLIENT_ID=sandbox-client" in lines
        assert "  export PM_XERO_CLIENT_SECRET=sandbox-secret" in lines
    finally:
        proc.terminate()
        proc.wait(timeout=15)
