"""Helpers for the demo's tests: the demo and the sandbox as processes, and the books' checks.

A uniquely named module (not ``conftest``) so imports cannot collide with other test folders.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

KINDS = ("contacts", "invoices", "credit_notes", "payments", "payouts", "deposits", "refunds")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a person who has not configured any Xero app (no ``PM_XERO_*``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PM_XERO_")}
    env.update(extra)
    return env


def pm_xero(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``pm-xero ARGS`` as a process, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "pm_xero_plugin.cli.main", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        timeout=timeout,
    )


def demo(data_dir: Path, *args: str, json_out: bool = True) -> subprocess.CompletedProcess[str]:
    """``pm-xero demo --data-dir DIR --live-rounds 2 [--json] ARGS``."""
    flags = ["--json"] if json_out else []
    return pm_xero("demo", "--data-dir", str(data_dir), "--live-rounds", "2", *flags, *args)


def summary(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, run.stderr[-3000:]
    found: dict[str, Any] = json.loads(run.stdout)
    return found


def all_synced(found: dict[str, Any]) -> None:
    """Everything eligible reached Xero, nothing failed, nothing left to say."""
    for location, counts in found["eligible"].items():
        assert counts["contacts"] > 0, location
        assert counts["invoices"] > 0, location
        assert found["synced"][location] == counts, (location, found)
        assert found["failed"][location] == dict.fromkeys(KINDS, 0), (location, found)
    assert found["problems"] == []
    assert found["live"]["reached_xero"] == found["live"]["due"]


@contextmanager
def served_sandbox(state: Path, *flags: str) -> Iterator[str]:
    """``pm-xero sandbox --port 0 --state STATE FLAGS`` as a process; yields its root URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pm_xero_plugin.cli.main",
            "sandbox",
            "--port",
            "0",
            "--state",
            str(state),
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "listening on " in first, first + (proc.stderr.read() if proc.stderr else "")
        url = first.split("listening on ", 1)[1].strip()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.startswith("Ctrl-C"):
                break
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def books(url: str) -> dict[str, Any]:
    """``/sandbox/state``: every organisation's books as the sandbox holds them."""
    answer = httpx.get(f"{url}/sandbox/state", timeout=30)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def twice_in(books_by_org: dict[str, Any]) -> list[str]:
    """What the books hold twice: contacts by number or name, documents by number, payments by
    reference and invoice, overpayments by contact, amount and line."""

    def dupes(values: list[Any]) -> list[Any]:
        return [v for v, n in collections.Counter(values).items() if n > 1]

    found = []
    for tenant_id, org in books_by_org.items():
        contacts = [c for c in org["contacts"] if c.get("ContactStatus") != "ARCHIVED"]
        payments = [p for p in org["payments"] if p.get("Status") != "DELETED"]
        overpayments = [o for o in org["overpayments"] if o.get("Status") != "VOIDED"]
        keys = {
            "contact numbers": [c["ContactNumber"] for c in contacts if c.get("ContactNumber")],
            "contact names": [c["Name"].lower() for c in contacts],
            "invoice numbers": [i["InvoiceNumber"] for i in org["invoices"]],
            "credit note numbers": [c["CreditNoteNumber"] for c in org["credit_notes"]],
            "payments": [
                (p.get("Reference"), (p.get("Invoice") or {}).get("InvoiceID")) for p in payments
            ],
            "overpayments": [
                (
                    (o.get("Contact") or {}).get("ContactID"),
                    o.get("Total"),
                    tuple(line.get("Description") for line in o.get("LineItems") or []),
                )
                for o in overpayments
            ],
        }
        for what, values in keys.items():
            twice = dupes(values)
            if twice:
                found.append(f"{tenant_id}: {what} twice: {twice[:5]}")
    return found
