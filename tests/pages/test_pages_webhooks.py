"""Xero's webhook endpoint (``POST /webhooks/xero``): the signature is the caller's whole
authentication; intent to receive, keeping events once, replays, limits and what is never logged.

The add-on's real app (``build_app``) with the host's public forward stood in for (a
``PublicContext`` in the scope) and a sink that keeps events in memory – the ledger's own
``add_xero_events`` behind it is in tests/pages/test_pages_webhooks_served.py.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient
from support.pages_world import ADMIN, HostServices, as_visitor, csrf_of

from hookspecs.pages import SCOPE_KEY, PageContext, PublicContext, Receive, Scope, Send
from hookspecs.refhost import RefHost
from pm_xero_plugin.ledger.interface import LedgerBusy
from pm_xero_plugin.ledger.types import XeroEvent
from pm_xero_plugin.pages import webhooks
from pm_xero_plugin.pages.app import build_app
from pm_xero_plugin.pages.guard import Guard
from pm_xero_plugin.pages.webhooks import (
    MAX_WEBHOOK_BODY,
    REPLAY_WINDOW,
    WEBHOOK_PATH,
    LedgerWebhookSink,
    WebhookSink,
    event_key,
    signature,
)

KEY = b"xero-webhook-key-0123456789abcdef"
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
TENANT = "aef86862-2015-4b6b-88bc-d89032cecc50"
PRACTICE = "practice-1"


class MemorySink:
    """A :class:`WebhookSink` keeping events in a dict, as the ledger would (a key kept once)."""

    def __init__(self, key: bytes | None = KEY) -> None:
        self.key_value = key
        self.kept: dict[str, XeroEvent] = {}
        self.wakes = 0
        self.busy = False

    def key(self) -> bytes | None:
        return self.key_value

    def now(self) -> datetime:
        return NOW

    def keep(self, events: Sequence[XeroEvent]) -> list[bool]:
        if self.busy:
            raise LedgerBusy("the ledger is busy")
        new = [event.key not in self.kept for event in events]
        for event in events:
            self.kept.setdefault(event.key, event)
        return new

    def wake(self) -> None:
        self.wakes += 1


def event(
    resource: str = "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
    *,
    category: str = "CONTACT",
    when: datetime = NOW - timedelta(minutes=1),
    **extra: Any,
) -> dict[str, Any]:
    """One event as Xero sends it (``xero-webhooks.yaml``)."""
    plural = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{plural.get(category, 'X')}/{resource}",
        "resourceId": resource,
        "tenantId": TENANT,
        "tenantType": "ORGANISATION",
        "eventCategory": category,
        "eventType": "UPDATE",
        "eventDateUtc": when.replace(tzinfo=None).isoformat(timespec="milliseconds"),
        **extra,
    }


def delivery(*events: dict[str, Any], first: int = 1) -> bytes:
    return json.dumps(
        {
            "events": list(events),
            "firstEventSequence": first,
            "lastEventSequence": first + max(len(events) - 1, 0),
            "entropy": "FXNGWLCCGVANWHKILRUB",
        }
    ).encode()


def public(app: Any, practice_id: str = PRACTICE) -> Any:
    """``app`` as the host forwards a public path: a PublicContext, no visitor."""

    async def forwarded(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, SCOPE_KEY: PublicContext(practice_id)}, receive, send)

    return forwarded


def add_on(sink: WebhookSink | None) -> Guard:
    return build_app(
        engine=lambda: None,
        runtime=lambda: None,
        secret=lambda: b"s" * 32,
        practice_id=lambda: PRACTICE,
        webhooks=sink,
    )


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def xero(sink: MemorySink) -> Iterator[TestClient]:
    with TestClient(public(add_on(sink)), raise_server_exceptions=True) as client:
        yield client


def post(client: TestClient, body: bytes, sig: str | None = None, **headers: str) -> Any:
    sent = {"content-type": "application/json", **headers}
    if sig is not None:
        sent["x-xero-signature"] = sig
    return client.post(WEBHOOK_PATH, content=body, headers=sent)


# -- the signature ---------------------------------------------------------------------------------


def _forgeries() -> dict[str, tuple[bytes, str | None]]:
    body = delivery(event())
    return {
        "unsigned": (body, None),
        "empty signature": (body, ""),
        "garbage": (body, "not-a-signature"),
        "another body's signature": (body, signature(delivery(event("other")), KEY)),
        "another key's signature": (body, signature(body, b"another-key")),
        "hex instead of base64": (body, hmac.new(KEY, body, "sha256").hexdigest()),
        "a truncated signature": (body, signature(body, KEY)[:-4]),
    }


@pytest.mark.parametrize("case", sorted(_forgeries()))
def test_a_forged_or_unsigned_call_gets_401_with_an_empty_body_and_nothing_kept(
    xero: TestClient, sink: MemorySink, case: str
) -> None:
    body, sig = _forgeries()[case]
    answer = post(xero, body, sig)
    assert answer.status_code == 401
    assert answer.content == b""
    assert sink.kept == {}
    assert sink.wakes == 0


def test_a_correct_signature_is_refused_when_no_key_is_set_up(sink: MemorySink) -> None:
    sink.key_value = None
    body = delivery(event())
    with TestClient(public(add_on(sink))) as client:
        for sig in (signature(body, KEY), signature(body, b""), None):
            assert post(client, body, sig).status_code == 401
    assert sink.kept == {}


def test_without_a_sink_every_call_gets_401() -> None:
    body = delivery(event())
    with TestClient(public(add_on(None))) as client:
        assert post(client, body, signature(body, KEY)).status_code == 401


def test_the_signature_is_compared_in_constant_time_on_the_base64_bytes(
    xero: TestClient, sink: MemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = delivery(event())
    sig = signature(body, KEY)
    assert post(xero, body, sig).status_code == 200
    assert (sig.encode(), sig.encode()) in compared
    assert post(xero, body, signature(body, b"other")).status_code == 401
    assert (sig.encode(), signature(body, b"other").encode()) in compared


def test_a_signature_header_sent_twice_is_no_signature(xero: TestClient, sink: MemorySink) -> None:
    body = delivery(event())
    sig = signature(body, KEY)
    answer = xero.post(
        WEBHOOK_PATH,
        content=body,
        headers=[("x-xero-signature", sig), ("x-xero-signature", sig)],  # type: ignore[arg-type]
    )
    assert answer.status_code == 401
    assert sink.kept == {}


# -- intent to receive, keeping, retries and replays -----------------------------------------------


def test_intent_to_receive_gets_200_with_an_empty_body_and_keeps_nothing(
    xero: TestClient, sink: MemorySink
) -> None:
    body = delivery()
    answer = post(xero, body, signature(body, KEY))
    assert answer.status_code == 200
    assert answer.content == b""
    assert sink.kept == {}
    assert sink.wakes == 0


def test_a_signed_delivery_is_kept_once_and_wakes_a_pass(
    xero: TestClient, sink: MemorySink
) -> None:
    contact = event()
    invoice = event("55d84274-a3da-4829-a7c0-0cab601b95cc", category="INVOICE")
    with_id = event("8c0e1c57-b1c3-4f0e-a4a4-2b4c1d9d1f3e", category="CREDITNOTE", eventId="ev-9")
    body = delivery(contact, invoice, with_id)
    answer = post(xero, body, signature(body, KEY))
    assert answer.status_code == 200
    assert answer.content == b""
    assert sorted(sink.kept) == sorted([event_key(contact), event_key(invoice), "ev-9"])
    kept = sink.kept[event_key(invoice)]
    assert (kept.tenant_id, kept.category, kept.event_type) == (TENANT, "INVOICE", "UPDATE")
    assert kept.resource_id == "55d84274-a3da-4829-a7c0-0cab601b95cc"
    assert kept.event_date == invoice["eventDateUtc"]
    assert kept.received_at == NOW
    assert kept.handled_at is None
    assert sink.wakes == 1


def test_an_events_key_without_an_id_is_the_digest_of_what_identifies_it() -> None:
    import hashlib

    one = event()
    subject = f"{TENANT}|CONTACT|UPDATE|{one['resourceId']}|{one['eventDateUtc']}"
    assert event_key(one) == hashlib.sha256(subject.encode()).hexdigest()
    assert event_key({**one, "eventId": "abc"}) == "abc"
    assert event_key({**one, "entropy": "other"}) == event_key(one)


def test_the_same_delivery_again_gets_200_and_changes_nothing(
    xero: TestClient, sink: MemorySink
) -> None:
    body = delivery(event(), event("55d84274-a3da-4829-a7c0-0cab601b95cc"))
    assert post(xero, body, signature(body, KEY)).status_code == 200
    kept = dict(sink.kept)
    for _ in range(2):  # Xero's retry, or someone replaying a captured delivery within the window
        answer = post(xero, body, signature(body, KEY))
        assert answer.status_code == 200
        assert answer.content == b""
    assert sink.kept == kept
    assert sink.wakes == 1  # nothing new: no pass woken again


def test_a_captured_delivery_older_than_the_window_gets_401_and_nothing_kept(
    xero: TestClient, sink: MemorySink
) -> None:
    old = NOW - REPLAY_WINDOW - timedelta(minutes=1)
    body = delivery(event(when=old), event("55d84274-a3da-4829-a7c0-0cab601b95cc", when=old))
    answer = post(xero, body, signature(body, KEY))
    assert answer.status_code == 401
    assert answer.content == b""
    assert sink.kept == {}


def test_a_delivery_with_one_event_inside_the_window_is_kept_whole(
    xero: TestClient, sink: MemorySink
) -> None:
    """An event that waited in Xero's queue beside a fresh one is no replay."""
    body = delivery(
        event(when=NOW - REPLAY_WINDOW - timedelta(hours=1)),
        event("55d84274-a3da-4829-a7c0-0cab601b95cc", when=NOW - timedelta(seconds=5)),
    )
    assert post(xero, body, signature(body, KEY)).status_code == 200
    assert len(sink.kept) == 2


def test_an_event_missing_its_fields_is_skipped_and_the_rest_kept(
    xero: TestClient, sink: MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    good = event()
    no_tenant = {k: v for k, v in event("a").items() if k != "tenantId"}
    bad_date = event("b", eventDateUtc="yesterday")
    unknown = event("c", eventCategory="PAYROLL")
    body = delivery(good, no_tenant, bad_date, unknown, "not an event")  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="pm_xero_plugin.pages.webhooks"):
        assert post(xero, body, signature(body, KEY)).status_code == 200
    assert list(sink.kept) == [event_key(good)]
    assert "missing tenantId" in caplog.text
    assert "1 new, 0 already kept, 4 skipped" in caplog.text


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"events": "none"}', b'{"entropy": "x"}', b"\xff\xfe"]
)
def test_a_signed_body_that_is_no_delivery_gets_400_and_nothing_kept(
    xero: TestClient, sink: MemorySink, body: bytes
) -> None:
    answer = post(xero, body, signature(body, KEY))
    assert answer.status_code == 400
    assert answer.content == b""
    assert sink.kept == {}


# -- limits and the ledger's answers ---------------------------------------------------------------


def test_a_body_over_the_cap_gets_413_declared_or_streamed(
    xero: TestClient, sink: MemorySink
) -> None:
    big = b" " * (MAX_WEBHOOK_BODY + 1)
    assert post(xero, big, signature(big, KEY)).status_code == 413

    def chunks() -> Iterator[bytes]:  # no content-length: the cap holds while reading
        for _ in range(MAX_WEBHOOK_BODY // 65536 + 1):
            yield b" " * 65536

    answer = xero.post(
        WEBHOOK_PATH, content=chunks(), headers={"x-xero-signature": signature(b"", KEY)}
    )
    assert answer.status_code == 413
    assert sink.kept == {}


def test_a_busy_ledger_gets_503_so_that_xero_retries(xero: TestClient, sink: MemorySink) -> None:
    sink.busy = True
    body = delivery(event())
    answer = post(xero, body, signature(body, KEY))
    assert answer.status_code == 503
    assert sink.kept == {}
    sink.busy = False
    assert post(xero, body, signature(body, KEY)).status_code == 200  # the retry
    assert len(sink.kept) == 1


def test_the_add_on_not_started_yet_gets_503() -> None:
    sink = LedgerWebhookSink(lambda: None, lambda: KEY, clock=lambda: NOW)
    body = delivery(event())
    with TestClient(public(add_on(sink))) as client:
        assert post(client, body, signature(body, KEY)).status_code == 503


def test_a_slow_ledger_gets_503_in_time_and_a_write_landing_later_still_wakes_a_pass(
    sink: MemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "ANSWER_WITHIN", 0.2)
    release = threading.Event()
    kept = threading.Event()
    woken = threading.Event()

    class SlowSink(MemorySink):
        def keep(self, events: Sequence[XeroEvent]) -> list[bool]:
            release.wait(5)
            new = super().keep(events)
            kept.set()
            return new

        def wake(self) -> None:
            super().wake()
            woken.set()

    slow = SlowSink()
    body = delivery(event())
    with TestClient(public(add_on(slow))) as client:
        answer = post(client, body, signature(body, KEY))
        assert answer.status_code == 503
        assert not kept.is_set()
        release.set()
        assert woken.wait(5)
        assert len(slow.kept) == 1
        assert post(client, body, signature(body, KEY)).status_code == 200  # Xero's retry


# -- who reaches the route -------------------------------------------------------------------------


def test_a_get_gets_405(xero: TestClient, sink: MemorySink) -> None:
    assert xero.get(WEBHOOK_PATH).status_code == 405
    assert sink.kept == {}


def test_a_call_past_no_host_gets_401(sink: MemorySink) -> None:
    body = delivery(event())
    with TestClient(add_on(sink)) as client:  # no context at all
        assert post(client, body, signature(body, KEY)).status_code == 401
    assert sink.kept == {}


def test_an_admins_session_is_no_way_in_even_with_the_pages_token(
    started_host: RefHost, sink: MemorySink
) -> None:
    """Through the sign-in (a PageContext) the route takes nothing: only the host's public
    forward reaches it, and the signature is then the whole authentication."""
    context = PageContext(ADMIN, PRACTICE, HostServices(started_host), links={})
    body = delivery(event())
    with TestClient(as_visitor(add_on(sink), context)) as client:
        token = csrf_of(client.get("/settings").text)
        assert post(client, body, signature(body, KEY)).status_code == 403  # no token: CSRF
        answer = post(client, body, signature(body, KEY), **{"x-csrf-token": token})
        assert answer.status_code == 401
    assert sink.kept == {}


@pytest.mark.parametrize(
    "path", ["/settings", "/dashboard", "/", f"{WEBHOOK_PATH}/", f"{WEBHOOK_PATH}X", "/webhooks"]
)
def test_a_public_context_opens_no_other_path(
    xero: TestClient, sink: MemorySink, path: str
) -> None:
    body = delivery(event())
    for answer in (
        xero.get(path),
        xero.post(path, content=body, headers={"x-xero-signature": signature(body, KEY)}),
    ):
        assert answer.status_code == 401, (path, answer.text)
    assert sink.kept == {}


def test_a_public_call_for_another_practice_gets_404(sink: MemorySink) -> None:
    body = delivery(event())
    with TestClient(public(add_on(sink), practice_id="practice-2")) as client:
        assert post(client, body, signature(body, KEY)).status_code == 404
    assert sink.kept == {}


# -- secrets ---------------------------------------------------------------------------------------


def test_neither_the_key_nor_a_signature_is_ever_logged(
    xero: TestClient, sink: MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    body = delivery(event())
    sig = signature(body, KEY)
    wrong = signature(body, b"other")
    old = delivery(event(when=NOW - timedelta(days=3)))
    with caplog.at_level(logging.DEBUG):
        post(xero, body, sig)
        post(xero, body, sig)
        post(xero, body, wrong)
        post(xero, body, None)
        post(xero, b"{", signature(b"{", KEY))
        post(xero, old, signature(old, KEY))
        sink.busy = True
        post(xero, delivery(event("x")), signature(delivery(event("x")), KEY))
    text = caplog.text
    assert "1 new, 0 already kept" in text
    assert "0 new, 1 already kept" in text
    for secret in (KEY.decode(), sig, wrong):
        assert secret not in text
    assert KEY.decode() not in repr(LedgerWebhookSink(lambda: None, lambda: KEY))


def test_a_flood_of_forged_calls_is_logged_once_a_minute_with_its_count(
    xero: TestClient, sink: MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    body = delivery(event())
    with caplog.at_level(logging.WARNING, logger="pm_xero_plugin.pages.webhooks"):
        answers = [post(xero, body, signature(body, b"forged")).status_code for _ in range(50)]
    assert answers == [401] * 50
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1, [r.getMessage() for r in refused]  # not one line per call
    assert "1 call in the last minute" in refused[0].getMessage()
    assert sink.kept == {}
