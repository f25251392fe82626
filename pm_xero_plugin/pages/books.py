"""The reconciliation page: the host's totals beside Xero's and the records that differ, each
with its actions (docs/reconciliation.md). Being built for issue 16."""

from __future__ import annotations

from starlette.routing import BaseRoute

from pm_xero_plugin.pages.base import Pages

__all__ = ["routes"]


def routes(pages: Pages) -> list[BaseRoute]:
    """The page's routes (none yet)."""
    return []
