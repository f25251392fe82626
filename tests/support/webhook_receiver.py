"""A webhook endpoint for the sandbox's tests: checks Xero's signature as an app must, answers
with a script, and keeps every call – mountable in-process (`transport`) or served on loopback
with the sandbox's own server (``serve(receiver)``).

Also the check of a delivered body against Xero's webhooks spec (``xero-webhooks.yaml``, beside
``$XERO_OPENAPI_SPEC``): `spec_problems`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from pm_xero_plugin.sandbox.spec_location import find_xero_spec

__all__ = ["Call", "Receiver", "delivery_problems", "spec_problems", "verify"]


def verify(body: bytes, signature: str | None, key: str) -> bool:
    """What an app checks: base64(HMAC-SHA256(raw body, key)), in constant time."""
    digest = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(digest, signature or "")


@dataclass
class Call:
    """One POST the receiver got, and what it answered."""

    body: bytes
    signature: str | None
    content_type: str | None
    status: int

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.payload["events"])


class Receiver:
    """A WSGI webhook endpoint keyed with `key` (``None``: it does not check signatures and
    answers 200 to everything – an endpoint that fails intent to receive).

    :param script: statuses for the next calls that carry events, consumed first (then 200);
        a correctly signed call without events (intent to receive) always gets 200.
    """

    def __init__(self, key: str | None, script: Iterable[int] = ()) -> None:
        self.key = key
        self.script: deque[int] = deque(script)
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        signature = environ.get("HTTP_X_XERO_SIGNATURE")
        with self._lock:
            if self.key is not None and not verify(body, signature, self.key):
                status = 401
            elif self.script and json.loads(body or b"{}").get("events"):
                status = self.script.popleft()
            else:
                status = 200
            self.calls.append(Call(body, signature, environ.get("CONTENT_TYPE"), status))
        start_response(f"{status} X", [("Content-Length", "0")])
        return [b""]

    def transport(self) -> httpx.WSGITransport:
        return httpx.WSGITransport(app=self)

    @property
    def deliveries(self) -> list[Call]:
        """The calls with events that it accepted (2xx), in order."""
        with self._lock:
            return [c for c in self.calls if c.events and 200 <= c.status < 300]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event it accepted, in order."""
        return [e for c in self.deliveries for e in c.events]


# -- Xero's webhooks spec ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def _webhooks_spec() -> dict[str, Any] | None:
    accounting = find_xero_spec()
    if accounting is None:
        return None
    path = Path(accounting).parent / "xero-webhooks.yaml"
    if not path.is_file():
        return None
    # yaml reads the example's bare timestamps as datetimes; the schemas have none.
    spec: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return spec


def spec_problems(payload: dict[str, Any], schema: str = "WebhookEvent") -> list[str]:
    """Why `payload` breaks the webhooks spec's `schema` (``WebhookEvent`` or
    ``CreditNoteWebhookEvent``); ``["no spec"]`` when the spec file is not there.

    Of the formats ``uuid`` is checked; not ``date-time``: Xero's own ``eventDateUtc`` (the
    spec's example, ``2025-12-02T00:44:09.923``) has no zone, which RFC 3339 would refuse.
    """
    spec = _webhooks_spec()
    if spec is None:
        return ["no spec"]
    uri = "urn:xero-webhooks"
    registry: Registry[Any] = Registry().with_resource(
        uri, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    checker = FormatChecker(formats=["uuid"])
    validator = Draft202012Validator(
        {"$ref": f"{uri}#/components/schemas/{schema}"}, registry=registry, format_checker=checker
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(payload)
    ]


def delivery_problems(payload: dict[str, Any]) -> list[str]:
    """A delivery against ``WebhookEvent``, and each of its credit-note events against
    ``CreditNoteWebhookEvent`` (which holds only credit-note events, each with its ``data``)."""
    problems = spec_problems(payload)
    for event in payload["events"]:
        if event["eventCategory"] == "CREDITNOTE":
            problems += spec_problems({**payload, "events": [event]}, "CreditNoteWebhookEvent")
    return problems
