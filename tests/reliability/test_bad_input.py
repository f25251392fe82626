"""Malformed and hostile input never escapes into the host, never vanishes, never corrupts.

Three doors, each fuzzed with hypothesis from real data (a generated practice, the sandbox's
real answers) mutated towards the hostile:

* host records through the record hooks – the hook returns, nothing reaches the host's failure
  list or the add-on's own "hook failed" list, and the record is either queued (a live row for
  its id) or kept as ``rejected`` with a reason;
* settings through ``validate_settings`` / save – a list of readable errors or a clean save;
* Xero's answers (status, body, content type, ``Retry-After``, element ids) under a worker – no
  batch crashes the sender, and no row is left leased.

After every example the ledger is consistent: the counts table equals a recount of the rows and
no row is in an impossible state/gate combination.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.reliability_hostile import hostile, response_mutation, spoil
from support.reliability_practice import (
    Prepared,
    frozen_clock,
    ledger_problems,
    make_sandbox,
    prepare,
)
from support.reliability_runner import running

from hookspecs.refhost import ManualClock, RefHost, generate_practice
from pm_xero_plugin import plugin
from pm_xero_plugin.sandbox import API_ROOT, Sandbox

TODAY = date(2025, 6, 1)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ACCOUNTS: list[dict[str, Any]] = [
    {"Code": c, "Name": n, "Status": "ACTIVE", "Type": t, "Class": k}
    for c, n, t, k in (
        ("200", "Sales", "REVENUE", "REVENUE"),
        ("090", "Bank", "BANK", "ASSET"),
        ("092", "Clearing", "BANK", "ASSET"),
        ("610", "Receivable", "CURRENT", "ASSET"),
        ("860", "Rounding", "CURRENT", "ASSET"),
    )
]


class ChartFromMemory:
    def accounts(self, tenant_id: str) -> list[dict[str, Any]]:
        return list(ACCOUNTS)

    def tax_rates(self, tenant_id: str) -> list[dict[str, Any]]:
        return [{"TaxType": "OUTPUT", "Status": "ACTIVE"}, {"TaxType": "EXEMPTOUTPUT"}]

    def tracking_categories(self, tenant_id: str) -> list[dict[str, Any]]:
        return []


def good_settings(locations: list[str]) -> dict[str, Any]:
    methods = ("cash", "card", "eftpos", "bank_transfer", "stripe", "voucher")
    return {
        "enabled": True,
        "prefixes": {"client": "C", "invoice": "INV", "credit_note": "CN", "payment": "PAY"},
        "organisation_mode": "per_location",
        "locations": {
            loc: {"tenant_id": f"T{i}", "connection_enabled": True}
            for i, loc in enumerate(locations)
        },
        "account_codes": {
            f"T{i}": {
                "income": {"default": "200"},
                "credit_notes": "200",
                "payments": {m: "090" for m in methods},
                "overpayments": "610",
                "rounding": "860",
                "tax_types": {"10": "OUTPUT", "0": "EXEMPTOUTPUT"},
            }
            for i in range(len(locations))
        },
        "start_date": "2025-03-01",
        "rounding_tolerance": "0.02",
    }


@dataclass
class LiveHost:
    host: RefHost
    samples: dict[str, list[dict[str, Any]]]
    settings: dict[str, Any]

    @property
    def engine(self) -> Any:
        engine = plugin.get_engine()
        assert engine is not None
        return engine


@pytest.fixture(scope="module")
def live_host() -> Iterator[LiveHost]:
    """A running host with the add-on (no Xero app: nothing is sent), settings saved, contact
    sync started and history backfilled; real records to mutate."""
    root = Path(tempfile.mkdtemp(prefix="pmx-hostile-"))
    host = RefHost(root, clock=ManualClock(frozen_clock(TODAY).now()), load_entrypoints=False)
    host.register(plugin, name="xero")
    generate_practice(host, seed=5, locations=2, clients=12, start=date(2025, 2, 1), end=TODAY)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("PM_XERO_CLIENT_ID", "PM_XERO_CLIENT_SECRET", "PM_XERO_URL"):
            mp.delenv(name, raising=False)
        host.start()
    try:
        engine = plugin.get_engine()
        assert engine is not None
        engine.set_accounts_source(ChartFromMemory())
        locations = [loc["id"] for loc in host.locations()]
        good = good_settings(locations)
        assert host.save_plugin_settings("xero", good) == []
        for i in range(len(locations)):
            engine.set_connection(None, f"T{i}", True)
        host.start_contact_sync(None)
        host.backfill(None, None)
        samples = {
            kind: list(host.iter_history(kind))[:6]
            for kind in ("clients", "invoices", "credit_notes", "payments")
        }
        assert all(samples.values())
        yield LiveHost(host, samples, good)
    finally:
        host.stop()
        host.close()
        shutil.rmtree(root, ignore_errors=True)


HOOKS = {
    "clients": ("on_client_saved", "client", ("contact",)),
    "invoices": ("on_invoice_created", "invoice", ("invoice",)),
    "credit_notes": ("on_credit_note_created", "credit_note", ("credit_note", "allocation")),
    "payments": ("on_payment_recorded", "payment", ("payment", "overpayment")),
}


@st.composite
def host_record(draw: st.DrawFn, samples: dict[str, list[dict[str, Any]]]) -> tuple[str, Any]:
    kind = draw(st.sampled_from(sorted(HOOKS)))
    base = draw(st.sampled_from(samples[kind]))
    return kind, draw(hostile(base))


def test_hostile_host_records_are_queued_or_rejected_with_a_reason(live_host: LiveHost) -> None:
    engine = live_host.engine
    ledger = engine.ledger

    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        kind, record = data.draw(host_record(live_host.samples))
        hook, arg, ledger_kinds = HOOKS[kind]
        errors_before = list(engine.hook_errors)
        failures_before = len(live_host.host.hook_failures)
        since = ledger._now()
        top = ledger.max_row_id()
        getattr(live_host.host.pm.hook, hook)(
            **{arg: record, "practice_id": None}
        )  # raises if it does

        assert len(live_host.host.hook_failures) == failures_before
        assert list(engine.hook_errors) == errors_before
        marks = ",".join("?" * len(ledger_kinds))
        touched = ledger._q(
            f"SELECT state, message FROM rows WHERE kind IN ({marks}) "
            "AND (id > ? OR updated_at >= ?)",
            [*ledger_kinds, top, since],
        )
        record_id = record.get("id") if isinstance(record, dict) else None
        live = (
            ledger._q(
                f"SELECT count(*) FROM rows WHERE kind IN ({marks}) AND state != 'rejected' "
                "AND (host_id = ? OR substr(host_id, 1, length(?) + 1) = ? || ':')",
                [*ledger_kinds, str(record_id), str(record_id), str(record_id)],
            )[0][0]
            if isinstance(record_id, str)
            else 0
        )
        # queued (a live row for its id: new, updated, or an identical replay) or rejected
        assert touched or live, f"{kind} {record!r:.300} left no trace in the ledger"
        for state, message in touched:
            if state == "rejected":
                assert message, "a rejected record must say why"
                assert message.strip(), "a rejected record must say why"
        assert ledger_problems(ledger) == []

    check()


@st.composite
def hostile_settings(draw: st.DrawFn, good: dict[str, Any]) -> Any:
    return draw(hostile(good))


def test_hostile_settings_get_readable_errors_or_a_clean_save(live_host: LiveHost) -> None:
    host = live_host.host
    engine = live_host.engine

    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        candidate = data.draw(hostile_settings(live_host.settings))
        answers = host.pm.hook.validate_settings(
            plugin="xero", settings=candidate, practice_id=None
        )
        errors = [e for answer in answers if answer for e in answer]
        assert all(isinstance(e, str) and e.strip() for e in errors), errors
        assert not any(e.startswith("settings: could not be checked") for e in errors), errors
        if not errors and isinstance(candidate, dict):
            failures = len(host.hook_failures)
            hook_errors = list(engine.hook_errors)
            assert host.save_plugin_settings("xero", candidate) == []
            assert len(host.hook_failures) == failures
            assert list(engine.hook_errors) == hook_errors
        assert ledger_problems(engine.ledger) == []

    try:
        check()
    finally:
        assert host.save_plugin_settings("xero", live_host.settings) == []


# -- Xero's answers ------------------------------------------------------------------------------


class SpoilingTransport(httpx.BaseTransport):
    """The sandbox in process, with each Accounting answer spoiled by the next mutation."""

    def __init__(self, sandbox: Sandbox, mutations: list[dict[str, Any]]) -> None:
        self._inner = sandbox.transport()
        self._mutations = list(mutations)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not request.url.path.startswith(API_ROOT) or not self._mutations:
            return response
        mutation = self._mutations.pop(0)
        status, headers, body = spoil(response.status_code, response.read(), mutation)
        return httpx.Response(status, headers=headers, content=body, request=request)


@dataclass
class Pristine:
    prepared: Prepared
    sandbox: Sandbox
    url: str


@pytest.fixture(scope="module")
def pristine() -> Iterator[Pristine]:
    root = Path(tempfile.mkdtemp(prefix="pmx-spoiled-"))
    sandbox = make_sandbox(orgs=1, seed=9)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            root / "pm",
            sandbox,
            server.url,
            seed=9,
            locations=1,
            clients=8,
            days=40,
            window_days=30,
            clock=frozen_clock(TODAY),
        )
    yield Pristine(prepared, sandbox, server.url)
    shutil.rmtree(root, ignore_errors=True)


class _Crashes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_hostile_xero_answers_never_crash_a_batch_or_strand_a_row(pristine: Pristine) -> None:
    counter = iter(range(10**6))
    sent = 0

    @settings(FUZZ, max_examples=20)
    @given(mutations=st.lists(response_mutation(), min_size=1, max_size=10))
    def check(mutations: list[dict[str, Any]]) -> None:
        nonlocal sent
        work = Path(tempfile.mkdtemp(prefix=f"pmx-spoiled-{next(counter)}-"))
        try:
            shutil.copytree(pristine.prepared.root, work / "pm")
            prepared = Prepared(
                root=work / "pm",
                start_date=pristine.prepared.start_date,
                tenants=pristine.prepared.tenants,
                today=pristine.prepared.today,
            )
            crashes = _Crashes()
            logger = logging.getLogger("pm_xero_plugin")
            logger.addHandler(crashes)
            try:
                with running(
                    prepared,
                    pristine.sandbox,
                    pristine.url,
                    frozen_clock(TODAY),
                    transport=SpoilingTransport(pristine.sandbox, mutations),
                ) as run:
                    for _ in range(3):  # a blocked tenant (Retry-After) holds a run to its end
                        sent += run.run_once(max_seconds=0.15).api_calls
                        run.vt.advance(600)
                    ledger = run.engine.ledger
                    assert ledger_problems(ledger) == []
                    stranded = ledger._q("SELECT count(*) FROM rows WHERE state = 'sending'")
                    assert stranded[0][0] == 0, "a row stayed leased after the worker stopped"
            finally:
                logger.removeHandler(crashes)
            crashed = [m for m in crashes.messages if "crashed" in m]
            assert crashed == [], crashed
        finally:
            shutil.rmtree(work, ignore_errors=True)

    check()
    assert sent > 0, "no batch went out: the answers were never spoiled"
