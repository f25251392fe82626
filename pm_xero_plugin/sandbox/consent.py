"""The sandbox's consent page: what a browser sees at ``/identity/connect/authorize``, like Xero's.

Xero shows the signed-in user the app asking for access, the organisations to allow it into, and
"Allow access" / "Cancel". The sandbox shows the same to a browser (an ``Accept`` header that
asks for HTML) that named no organisation, so an admin clicking "Connect to Xero" in the add-on's
pages goes through a page, as with Xero. API clients and the demo (``Accept: */*``) keep the
auto-consent. Everything shown is escaped: the organisation names and the query come from
whoever set the sandbox up and whoever sent the browser here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs

from .web import Request, Response, text_response

__all__ = ["APP_NAME", "chosen_tenants", "consent_page", "pressed", "wants_page"]

APP_NAME = "Pet Manager Xero add-on"
"""The app's name on the consent page (Xero shows the name the app was registered with)."""


def wants_page(req: Request, query: Mapping[str, str]) -> bool:
    """Whether a browser asks (HTML accepted) and no organisation was named in the query."""
    accept = req.headers.get("accept", "")
    return "text/html" in accept and not (query.get("tenant") or query.get("orgs"))


def _form(req: Request) -> dict[str, list[str]]:
    return parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)


def pressed(req: Request) -> str:
    """Which button the consent form was sent with: ``allow`` or ``cancel``."""
    return (_form(req).get("action") or ["cancel"])[-1]


def chosen_tenants(req: Request) -> list[str]:
    """The organisations ticked on the consent form."""
    return [t for t in _form(req).get("tenant", []) if t]


def consent_page(
    req: Request,
    tenant_names: Mapping[str, str],
    scopes: Sequence[str],
    problem: str = "",
    status: int = 200,
) -> Response:
    """The page: the app, what it asks for, a checkbox per organisation (ticked when it is the
    only one), Allow and Cancel, posting to this same URL (query and all)."""
    action = html.escape("?" + req.query_string, quote=True)
    ticked = " checked" if len(tenant_names) == 1 else ""
    orgs = "\n".join(
        f'<li><input type="checkbox" id="org-{i}" name="tenant" value="{html.escape(tid)}"'
        f'{ticked}> <label for="org-{i}">{html.escape(name)}</label></li>'
        for i, (tid, name) in enumerate(tenant_names.items())
    )
    asked = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes if s)
    warning = f'<p class="problem" role="alert">{html.escape(problem)}</p>' if problem else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Xero sandbox · Allow access</title>
<style>body{{font:15px system-ui,sans-serif;max-width:560px;margin:40px auto;color:#1f2933}}
h1{{font-size:20px}} ul{{list-style:none;padding:0}} li{{margin:6px 0}}
button{{padding:8px 16px;border:0;border-radius:5px;font:inherit;cursor:pointer}}
.allow{{background:#13b5ea;color:#fff}} .problem{{color:#c53030}}</style></head>
<body>
<p>Xero sandbox (not the real Xero)</p>
<h1>{html.escape(APP_NAME)} wants access to your organisation</h1>
{warning}
<form method="post" action="{action}">
<p>Choose the organisations it may use:</p>
<ul>
{orgs}
</ul>
<p>It asks to:</p>
<ul>{asked}</ul>
<p><button type="submit" name="action" value="allow" class="allow">Allow access</button>
<button type="submit" name="action" value="cancel">Cancel</button></p>
</form>
</body></html>
"""
    response = text_response(status, page, "text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response
