"""Test doubles for the Xero client layer: a fake clock, fake tokens, scripted HTTP answers."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
CONN = "loc-1"
SECRET = b"host-secret-for-tests-0123456789"


class FakeClock:
    """Monotonic time that only moves when slept on (or advanced); records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeTokens:
    """Access tokens ``tok-1``, ``tok-2``…: each invalidate() hands out the next one."""

    def __init__(self) -> None:
        self.generation = 1
        self.invalidations: list[str | None] = []

    def access_token(self, connection_key: str) -> str:
        return f"tok-{self.generation}"

    def invalidate(self, connection_key: str, rejected_token: str | None = None) -> str:
        self.invalidations.append(rejected_token)
        self.generation += 1
        return self.access_token(connection_key)


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Script:
    """An httpx MockTransport handler answering from a queue, recording every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies: deque[Reply] = deque(replies)
        self.requests: list[httpx.Request] = []

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.replies.popleft()
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def xero_json(status: int, payload: Any, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json=payload, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )
