"""Real HTTP: a served sandbox delivers webhooks to an endpoint on loopback from its own thread,
signed, retried after a 500, in order – and stopping the sandbox stops that thread."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import httpx
from support.sandbox_helpers import Api, connect
from support.webhook_receiver import Receiver, delivery_problems, verify

from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.server import serve

KEY = "served-webhook-key"


def wait_for(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_served_sandbox_delivers_signed_retries_after_a_500_and_keeps_order() -> None:
    """About 1 s: the batching wait (0.5 s) twice and a 0.1 s retry backoff (set short here;
    Xero's and the default are 1, 2, 4 … s)."""
    receiver = Receiver(KEY, script=[500])
    clock = SandboxClock(datetime(2024, 3, 1, 9, 0, tzinfo=UTC))
    sandbox = Sandbox(clock=clock, webhook_backoff=0.1)
    with serve(receiver) as endpoint, sandbox.serve() as server:
        url = f"{endpoint.url}/webhooks/xero"
        with httpx.Client(base_url=server.url) as client:
            answer = client.put("/sandbox/webhooks", json={"url": url, "key": KEY}).json()
            assert answer["status"] == "OK"
            api = Api(client, connect(client))
            first = api.contact("First", "F1")
            wait_for(lambda: any(c.events for c in receiver.calls))  # the 500
            second = api.contact("Second", "S1")
            wait_for(lambda: len(receiver.events) == 2)
            seen = client.get("/sandbox/webhooks").json()["deliveries"]
        threads = {t.name for t in threading.enumerate()}
        assert "xero-sandbox-webhooks" in threads
    assert "xero-sandbox-webhooks" not in {t.name for t in threading.enumerate()}
    with_events = [c for c in receiver.calls if c.events]
    assert [c.status for c in with_events] == [500, 200, 200]
    assert with_events[0].body == with_events[1].body  # the retry is the same body
    for call in with_events:
        assert verify(call.body, call.signature, KEY)
        assert delivery_problems(call.payload) == []
    assert [e["resourceId"] for e in receiver.events] == [first["ContactID"], second["ContactID"]]
    assert [e["resourceUrl"].split("/api.xro")[0] for e in receiver.events] == [server.url] * 2
    assert [(d["first_sequence"], [a.get("status") for a in d["attempts"]]) for d in seen] == [
        (2, [200]),
        (1, [500, 200]),
    ]
