"""Where Xero's OpenAPI spec is: one rule for the sandbox, the demo, the spec checks and the tests.

``$XERO_OPENAPI_SPEC`` if it is set, else ``../shared/xero-openapi/xero_accounting.yaml`` beside
the project checkout – nothing else. A second rule (the working directory, folders further up)
once made a clone elsewhere silently check against another checkout's copy of the spec.

This module imports nothing heavy: the sandbox and the CLI ask it at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SPEC_ENV", "beside_checkout", "find_xero_spec", "spec_missing_reason"]

SPEC_ENV = "XERO_OPENAPI_SPEC"


def beside_checkout() -> Path:
    """``../shared/xero-openapi/xero_accounting.yaml`` beside the checkout holding this package."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout.parent / "shared" / "xero-openapi" / "xero_accounting.yaml"


def find_xero_spec(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The spec file to use, or ``None`` when there is none.

    :param explicit: a path the user named (``--spec``); it wins, and must exist.
    :return: an existing file: ``explicit``, else ``$XERO_OPENAPI_SPEC``, else the copy beside
        the checkout; ``None`` when the chosen place holds no file (see
        :func:`spec_missing_reason` for the words to say so).
    """
    if explicit:
        path = Path(explicit)
    elif os.environ.get(SPEC_ENV):
        path = Path(os.environ[SPEC_ENV])
    else:
        path = beside_checkout()
    return path if path.is_file() else None


def spec_missing_reason() -> str:
    """One sentence for every place that needs the spec and has none (skips, start-up lines)."""
    configured = os.environ.get(SPEC_ENV)
    if configured:
        return f"Xero's OpenAPI spec not found: {SPEC_ENV} names {configured}, which is not a file"
    return (
        f"Xero's OpenAPI spec not found: set {SPEC_ENV} to xero_accounting.yaml, "
        f"or put it at {beside_checkout()}"
    )
