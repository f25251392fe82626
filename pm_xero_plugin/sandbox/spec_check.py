"""Check an outgoing Xero request against Xero's official OpenAPI spec.

Used by the tests (every payload kind, and every request the client sends in the end-to-end
tests) – never on the production path: openapi-core is a test/dev tool and loading the 900 KB
spec takes about half a second.

Two layers:

1. ``openapi-core`` validates path, query, headers and body: types, enums (``CurrencyCode``),
   ``format: uuid`` ids, required fields, and that no ``readOnly`` field (``Total``…) is sent.
2. A strict pass of our own: the spec never sets ``additionalProperties: false``, so a misspelt
   field (``InvoiceNumbr``) would pass layer 1 and be silently ignored by Xero. Every key we send
   must be a property the spec declares at that place.

The body is also run through ``json.dumps`` first: a ``Decimal`` or ``date`` left in a payload is
a bug the spec check must catch, not the HTTP client at send time.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest
from openapi_core.validation.request.exceptions import RequestBodyValidationError

from pm_xero_plugin.sandbox.spec_location import find_xero_spec

__all__ = [
    "XERO_API_ROOT",
    "SpecViolation",
    "find_xero_spec",
    "load_xero_spec",
    "validate_httpx_request",
    "validate_xero_request",
]

XERO_API_ROOT = "https://api.xero.com/api.xro/2.0"
_HOST = "https://api.xero.com"
_BASE_PATH = "/api.xro/2.0"


class SpecViolation(AssertionError):
    """A request Xero's spec does not allow; ``problems`` lists each one with its JSON path."""

    def __init__(self, method: str, path: str, problems: list[str]) -> None:
        self.method = method.upper()
        self.path = path
        self.problems = problems
        listed = "\n  ".join(problems)
        super().__init__(f"{self.method} {path} breaks Xero's spec:\n  {listed}")


@lru_cache(maxsize=2)
def load_xero_spec(path: Path | str) -> OpenAPI:
    """The spec as openapi-core reads it; cached, as loading is slow.

    ``spec_validator_cls=None``: Xero's spec does not itself pass strict OpenAPI validation.
    """
    return OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None))


def _split(path: str, query: Mapping[str, Any] | None) -> tuple[str, dict[str, str]]:
    """Accept ``/Invoices``, ``/api.xro/2.0/Invoices`` or any full URL (sandbox included)."""
    parts = urlsplit(path)
    route = parts.path
    if _BASE_PATH in route:
        route = route.split(_BASE_PATH, 1)[1]
    if not route.startswith("/"):
        route = "/" + route
    merged = dict(parse_qsl(parts.query))
    for key, value in (query or {}).items():
        merged[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return route, merged


def _schema_errors(exc: BaseException) -> list[str]:
    """Each jsonschema error of an openapi-core exception chain, with its JSON path.

    Body errors read ``Invoices/0/LineItems/1/UnitAmount: …``; parameter errors are prefixed
    with openapi-core's own sentence, which names the parameter (``Invalid path parameter:
    PaymentID``).
    """
    prefix = "" if isinstance(exc, RequestBodyValidationError) else f"{exc}: "
    found: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for error in getattr(current, "schema_errors", None) or ():
            where = "/".join(str(part) for part in error.absolute_path)
            found.append(f"{prefix}{where or '(value)'}: {error.message}")
            for sub in getattr(error, "context", None) or ():
                sub_where = "/".join(str(part) for part in sub.absolute_path)
                found.append(f"{prefix}{where}/{sub_where}: {sub.message}")
        current = current.__cause__ or current.__context__
    return found or [f"{type(exc).__name__}: {exc}"]


def _unknown_keys(schema: Any, value: Any, where: str, found: list[str]) -> None:
    """Keys the spec does not declare, walking the resolved schema beside the value."""
    if isinstance(value, list):
        if "items" in schema:
            for index, item in enumerate(value):
                _unknown_keys(schema / "items", item, f"{where}/{index}", found)
        return
    if not isinstance(value, dict) or "properties" not in schema:
        return
    properties = schema / "properties"
    declared = set(properties.keys())
    for key, item in value.items():
        if key not in declared:
            found.append(f"{where}/{key}: not a field of this Xero object (misspelt?)")
        else:
            _unknown_keys(properties / key, item, f"{where}/{key}", found)


def validate_xero_request(
    spec: OpenAPI,
    method: str,
    path: str,
    body: Any,
    query: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    strict: bool = True,
) -> None:
    """Raise :class:`SpecViolation` unless the request is one Xero's spec allows.

    :param method: ``PUT``, ``POST``… (any case).
    :param path: ``/Invoices``, ``/CreditNotes/{id}/Allocations`` with the id filled in, or a
        full URL (a sandbox URL is rewritten to Xero's); a query string in it is honoured.
    :param body: the JSON body as Python data (``None`` for no body).
    :param query: query parameters (``{"summarizeErrors": "false"}``); booleans are lowered.
    :param headers: defaults to a placeholder ``xero-tenant-id`` and ``Idempotency-Key``.
    :param strict: also refuse keys the spec does not declare.
    """
    route, params = _split(path, query)
    problems: list[str] = []
    data = b""
    if body is not None:
        try:
            data = json.dumps(body).encode()
        except (TypeError, ValueError) as exc:
            raise SpecViolation(method, route, [f"(body): not JSON-serialisable: {exc}"]) from exc
    request = MockRequest(
        _HOST,
        method,
        _BASE_PATH + route,
        args=params,
        headers=dict(
            headers
            or {"xero-tenant-id": "00000000-0000-0000-0000-000000000000", "Idempotency-Key": "k"}
        ),
        data=data,
    )
    with warnings.catch_warnings():
        # Xero's OAuth2 security scheme is one openapi-core cannot check; nothing to do with us.
        warnings.filterwarnings("ignore", message="Unsupported scheme type")
        try:
            spec.validate_request(request)
        except Exception as exc:  # openapi-core raises a family of unrelated exceptions
            problems.extend(_schema_errors(exc))
    if strict and body is not None and not problems:
        paths = spec.spec / "paths"
        template = _match_template(paths, route, method.lower())
        if template is not None:
            schema = (
                paths
                / template
                / method.lower()
                / "requestBody"
                / "content"
                / "application/json"
                / "schema"
            )
            _unknown_keys(schema, body, "", problems)
    if problems:
        raise SpecViolation(method, route, problems)


def validate_httpx_request(spec: OpenAPI, request: httpx.Request, *, strict: bool = True) -> None:
    """:func:`validate_xero_request` for a request as the client sends it (any host, e.g. the
    sandbox): method, path and query from the URL, the JSON body, the Xero headers.

    Handy in an ``httpx.MockTransport`` handler or an event hook of the end-to-end tests.
    """
    body: Any = None
    content = request.content
    if content:
        try:
            body = json.loads(content)
        except ValueError as exc:
            raise SpecViolation(
                request.method, request.url.path, [f"(body): not JSON: {exc}"]
            ) from exc
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() in ("xero-tenant-id", "idempotency-key", "if-modified-since")
    }
    query = dict(request.url.params.multi_items())
    validate_xero_request(
        spec, request.method, request.url.path, body, query, headers=headers, strict=strict
    )


def _match_template(paths: Any, route: str, method: str) -> str | None:
    """The spec's path template (``/Payments/{PaymentID}``) for a concrete route and method.

    A literal template wins over a parameterised one, as in any router.
    """
    segments = route.strip("/").split("/")
    candidates: list[str] = []
    templates = paths.keys()
    for template in templates:
        parts = str(template).strip("/").split("/")
        if len(parts) != len(segments) or method not in paths / template:
            continue
        if all(
            part == seg or (part.startswith("{") and part.endswith("}"))
            for part, seg in zip(parts, segments, strict=True)
        ):
            candidates.append(str(template))
    candidates.sort(key=lambda template: template.count("{"))
    return candidates[0] if candidates else None
