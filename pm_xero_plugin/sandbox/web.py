"""Minimal WSGI request/response types (stdlib only, so the app mounts anywhere)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx

__all__ = ["ApiError", "Request", "Response", "SandboxHang", "json_response", "problem"]

JSON = "application/json; charset=utf-8"


@dataclass
class Request:
    """One HTTP request as the sandbox's handlers read it (headers lower-cased, body read)."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        """The request a WSGI server hands over."""
        headers = {
            k[5:].replace("_", "-").lower(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        path = environ.get("PATH_INFO", "/") or "/"
        if isinstance(path, str):  # PEP 3333: latin-1 decoded bytes
            path = path.encode("latin-1").decode("utf-8", "replace")
        return cls(
            environ["REQUEST_METHOD"].upper(), path, environ.get("QUERY_STRING", ""), headers, body
        )

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, case-insensitive keys (Xero's are), first value wins."""
        return {
            k.lower(): v[0] for k, v in parse_qs(self.query_string, keep_blank_values=True).items()
        }

    def form(self) -> dict[str, str]:
        """The body as an HTML form (``/connect/token`` and pyxero's ``xml=`` posts)."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def json(self) -> Any:
        """The body parsed with Decimals for numbers (money must not go through float)."""
        return json.loads(self.body or b"null", parse_float=Decimal)


@dataclass
class Response:
    """What a handler answers; ``hang`` makes the server or transport withhold it."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: "timeout" or "lost": the transport/server must not deliver this answer.
    hang: str | None = None


class ApiError(Exception):
    """Raised by handlers to answer with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class SandboxHang(httpx.ReadTimeout):
    """The sandbox decided this request gets no answer (timeout, or response lost after commit).

    It is an ``httpx.ReadTimeout`` so that even a plain ``httpx.WSGITransport`` surfaces it as the
    timeout a client would see; the loopback server catches it and drops the connection.
    """

    def __init__(self, kind: str, hang_seconds: float = 0.0) -> None:
        super().__init__(f"sandbox: {kind} (no response)")
        self.kind = kind
        self.hang_seconds = hang_seconds


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (dates and Decimals written as Xero writes them)."""
    body = json.dumps(payload, default=_default).encode()
    return Response(status, body, {"Content-Type": JSON, **(headers or {})})


def text_response(
    status: int, text: str, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    return Response(status, text.encode(), {"Content-Type": content_type})


def problem(status: int, detail: str) -> Response:
    """Xero's identity-layer problem JSON (401/403), in the shape Xero is observed to send:
    ``{"Type":null,"Title":"Unauthorized","Status":401,"Detail":"TokenExpired: …",
    "Extensions":{}}`` – capitalised keys, unlike RFC 7807's lower-case ones, so a client that
    reads only ``detail`` is caught here and not in production."""
    title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
    return json_response(
        status,
        {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Extensions": {},
        },
    )
