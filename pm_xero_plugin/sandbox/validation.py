"""Check request bodies against Xero's official OpenAPI spec, as Xero's own front door would –
and, on demand, the sandbox's own answers against the spec's response schemas, so that the
sandbox cannot drift from Xero's shapes unnoticed (the end-to-end suite fails on any violation).

The spec is loaded once per process and path (about half a second); without it the sandbox runs
unchecked and says so at start.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

__all__ = ["ResponseChecker", "SpecChecker", "find_spec", "load_spec"]

SERVER = "https://api.xero.com"
BASE = "/api.xro/2.0"


def find_spec(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Where the spec is: the explicit path as given (the caller says if it is missing), else the
    project's one rule (:func:`pm_xero_plugin.sandbox.spec_location.find_xero_spec`)."""
    if explicit:
        return Path(explicit)
    from pm_xero_plugin.sandbox.spec_location import find_xero_spec

    return find_xero_spec()


@functools.lru_cache(maxsize=4)
def load_spec(path: str) -> Any:
    """The parsed spec (cached per process: tests and servers share one load)."""
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_file_path(path, config=Config(spec_validator_cls=None))


class SpecChecker:
    """Validates the body of Accounting API requests; other paths are not in the spec."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from openapi_core.validation.request.validators import V30RequestBodyValidator

        self.path = str(path)
        self._validator = V30RequestBodyValidator(load_spec(self.path).spec)

    def check(self, method: str, api_path: str, query: dict[str, str], body: bytes) -> str | None:
        """Return the spec's complaint about this request body, or None if it passes.

        :param api_path: the path below ``/api.xro/2.0`` (e.g. ``/Invoices``).
        """
        if method not in ("PUT", "POST") or not body:
            return None
        from openapi_core.templating.paths.exceptions import PathError
        from openapi_core.testing import MockRequest

        request = MockRequest(
            SERVER, method, BASE + api_path, args=query, data=body, content_type="application/json"
        )
        try:
            self._validator.validate(request)
        except PathError:
            return None  # not an operation the spec knows: routing answers 404/405
        except Exception as exc:
            errors = [
                str(getattr(e, "message", e)) for e in getattr(exc.__cause__, "schema_errors", [])
            ]
            # Xero ignores read-only fields it is sent (its own SDK sends HasAttachments etc.).
            errors = [e for e in errors if not e.startswith("Tried to write read-only")]
            if not errors and getattr(exc.__cause__, "schema_errors", None):
                return None
            detail = "; ".join(errors) or str(exc.__cause__ or exc)
            return f"The request body does not match Xero's schema: {detail}"[:2000]
        return None


class ResponseChecker:
    """Validates Accounting API answers against the response schemas of Xero's spec.

    Only answers the spec declares for that operation and status are checked (a 401, 403, 429 or
    5xx comes from Xero's gateway and is not in the spec); every complaint is a violation – a
    place where a client could pass against the sandbox and fail on Xero. About 1 ms for one
    document, 35 ms for a page of 100 invoices.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from openapi_core.validation.response.validators import V30ResponseDataValidator

        self.path = str(path)
        self._validator = V30ResponseDataValidator(load_spec(self.path).spec)

    def check(
        self,
        method: str,
        api_path: str,
        query: dict[str, str],
        status: int,
        content_type: str,
        body: bytes,
    ) -> list[str] | None:
        """The spec's complaints about this answer; ``[]`` if it passes, ``None`` if the spec
        says nothing about it (not an operation it knows, a status it does not list, not JSON).

        :param api_path: the path below ``/api.xro/2.0`` (e.g. ``/Invoices``).
        """
        if "json" not in content_type.lower():
            return None
        from openapi_core.templating.paths.exceptions import PathError
        from openapi_core.templating.responses.exceptions import ResponseFinderError
        from openapi_core.testing import MockRequest, MockResponse

        request = MockRequest(SERVER, method, BASE + api_path, args=query)
        response = MockResponse(body, status, content_type="application/json")
        try:
            self._validator.validate(request, response)
        except (PathError, ResponseFinderError):
            return None
        except Exception as exc:
            errors = getattr(exc.__cause__, "schema_errors", None) or getattr(
                exc, "schema_errors", None
            )
            if errors:
                return [_where(e) for e in errors]
            return [f"{type(exc).__name__}: {exc.__cause__ or exc}"[:500]]
        return []


def _where(error: Any) -> str:
    where = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
    return f"{where or '(body)'}: {getattr(error, 'message', error)}"[:500]
