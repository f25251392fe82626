"""The settings a host gives the add-on to reach a sandbox (or any Xero-compatible server).

The sandbox prints them when it starts and the demo sets them for its host; the names are the
add-on's documented environment variables, spelled here once.
"""

from __future__ import annotations

__all__ = ["environment"]


def environment(url: str, client_id: str, client_secret: str) -> dict[str, str]:
    """The settings (environment variables) a host needs to use a Xero-compatible server."""
    return {
        "PM_XERO_URL": url,
        "PM_XERO_CLIENT_ID": client_id,
        "PM_XERO_CLIENT_SECRET": client_secret,
    }
