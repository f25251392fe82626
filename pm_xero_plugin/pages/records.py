"""(skeleton: filled by the page's owner)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pm_xero_plugin.pages.base import Pages

__all__ = ["routes"]


def routes(pages: Pages) -> list[BaseRoute]:
    """This page's routes."""

    def show(request: Request) -> Response:
        return pages.render(request, "placeholder.html", {"title": "records"}, tab="records")

    return [Route("/records/{row_id:int}", show, name="record")]
