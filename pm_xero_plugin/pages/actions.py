"""The pages' buttons on a record: ``POST /actions/{action}`` runs one admin action and goes back.

Every button that acts on a ledger row – "Retry", "Resolve", "Exclude", "Include parent
invoice" on the dashboard, "Link to this contact" / "Create under a distinct name" on the
contact sync page – posts here: the form's fields are the action's parameters
(:mod:`pm_xero_plugin.sync.actions`, the same call the host's ``admin_action`` hook makes), and
``next`` says where to go back to. The answer is a 303 to ``next`` with the action's sentence
(``?said=``), so a reload repeats nothing.

``next`` must be a page of this app: a path under the app's mount point (or an absolute URL of
this very host and mount point). Anything else – another site, ``//evil.example``, a backslash
trick, a path outside the app – is ignored and the dashboard is used instead: a forged form
must not turn the add-on into an open redirect.

``disconnect`` is not offered here: it also clears the location's organisation in the
host's settings, which the Settings page's own Disconnect button does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hookspecs.pages import page_context
from pm_xero_plugin.pages.base import Pages
from pm_xero_plugin.pages.guard import CSRF_FIELD, said_query
from pm_xero_plugin.sync.actions import ACTIONS, perform

__all__ = ["NOT_HERE", "routes", "safe_next"]

NOT_HERE = frozenset({"disconnect"})
"""Actions with their own page (Disconnect also clears the settings: the Settings page's)."""

"""A message longer than this is cut in the redirect (a URL has its limits)."""


def safe_next(request: Request, wanted: str | None) -> str | None:
    """``wanted`` as a path (and query) inside this app, or ``None`` when it points anywhere
    else: another scheme or host, a protocol-relative ``//host``, a backslash, a control
    character, or a path outside the app's mount point."""
    if not wanted or len(wanted) > 2000:
        return None
    if "\\" in wanted or any(ord(ch) < 32 or ord(ch) == 127 for ch in wanted):
        return None
    parts = urlsplit(wanted)
    if parts.scheme or parts.netloc:
        here = urlsplit(str(request.base_url))
        if (parts.scheme, parts.netloc) != (here.scheme, here.netloc):
            return None
    path = parts.path
    if not path.startswith("/") or path.startswith("//"):
        return None
    root = str(request.scope.get("root_path") or "").rstrip("/")
    if root and path != root and not path.startswith(root + "/"):
        return None
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def _with_said(request: Request, target: str, said: str) -> str:
    """``target`` with ``said`` as its one-line message (replacing one it carried)."""
    path, _, query = target.partition("?")
    kept = [
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in ("said", "said_sig")
    ]
    kept.extend(said_query(request, said).items())
    return f"{path}?{urlencode(kept)}" if kept else path


def routes(pages: Pages) -> list[BaseRoute]:
    """``POST /actions/{action}`` (route name ``action``)."""

    def act(request: Request, action: str, params: dict[str, Any]) -> str:
        if action in NOT_HERE:
            return (
                f"{action} is done from the Settings page (it also clears the location's "
                "organisation in the settings)"
            )
        if action not in ACTIONS:
            return f"unknown action {action!r}"
        if action == "reconcile" and pages.reconcile is not None:
            return pages.reconcile(params)  # reads Xero for a while: on the job thread
        return perform(pages.need_engine(), pages.runtime(), action, params).message

    async def post(request: Request) -> Response:
        action = str(request.path_params["action"])
        form = await request.form()
        params = {k: str(v) for k, v in form.items() if k not in (CSRF_FIELD, "next", "by")}
        context = page_context(request.scope)
        if context is not None:  # who decided: the host's word on the visitor, never the form's
            params["by"] = context.visitor.name
        wanted = form.get("next")
        said = await run_in_threadpool(act, request, action, params)
        target = safe_next(request, wanted if isinstance(wanted, str) else None)
        if target is None:
            target = urlsplit(str(request.url_for("dashboard"))).path
        return RedirectResponse(_with_said(request, target, said), status_code=303)

    return [Route("/actions/{action}", post, methods=["POST"], name="action")]
