""" "Connect to Xero" from the settings page: off to Xero's consent page, back through the OAuth
redirect URI, the organisation linked to the location the admin pressed it for.

``POST /connect/{location_id}`` sends the admin to :meth:`XeroRuntime.connect_url` (the runtime
keeps the state and the PKCE verifier). ``GET /connect/callback`` is the redirect URI – a GET by
necessity, protected by the state and PKCE checks the runtime makes – which completes the flow:
one organisation is linked at once (saved through the host like any settings change); several
lead to a page to choose one. What goes wrong is said in words on the settings page; the code,
the state and the tokens never appear in a page or a redirect this module makes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pm_xero_plugin.pages.base import PLUGIN, Pages
from pm_xero_plugin.pages.settings import back_to_settings, field, saved_settings, with_form
from pm_xero_plugin.pages.settings_form import linked_settings, unlinked_settings
from pm_xero_plugin.sync.actions import perform
from pm_xero_plugin.xero.errors import XeroError

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = ["ConnectPages", "refusal_in_words", "routes"]

log = logging.getLogger("pm_xero_plugin.pages")

NO_APP = "No Xero app is configured (PM_XERO_CLIENT_ID / PM_XERO_CLIENT_SECRET): cannot connect"


def refusal_in_words(exc: XeroError) -> str:
    """What an admin reads when the redirect back from Xero did not connect."""
    text = exc.message
    if "access_denied" in text:
        return "Not connected: access to Xero was not allowed (Cancel was pressed); nothing changed"
    if "state" in text:
        return (
            "Not connected: this answer from Xero does not belong to a Connect to Xero started "
            "here in the last 10 minutes (or it was used already); press Connect to Xero again"
        )
    return f"Not connected: {text[:200]}; press Connect to Xero again"


def _location_name(engine: Engine, location_id: str) -> str:
    return str(engine.locations().get(location_id, {}).get("name") or location_id)


class NoApp(Exception):
    """No Xero app is configured: nothing to connect with."""


class ConnectPages:
    """The handlers of the connect flow (see the module docstring)."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def _runtime(self) -> XeroRuntime:
        runtime = self.pages.runtime()
        if runtime is None:
            raise NoApp(NO_APP)
        return runtime

    def _known(self, engine: Engine, location_id: str) -> None:
        if location_id not in engine.locations():
            raise LookupError(f"There is no location {location_id}")

    def start(self, request: Request) -> Response:
        """POST /connect/{location}: off to Xero's consent page (state and PKCE kept)."""
        location_id = request.path_params["location_id"]
        try:
            runtime = self._runtime()
            self._known(self.pages.need_engine(), location_id)
        except (NoApp, LookupError) as exc:
            return back_to_settings(request, str(exc.args[0]), location_id)
        return RedirectResponse(runtime.connect_url(location_id), status_code=303)

    def callback(self, request: Request) -> Response:
        """GET /connect/callback: Xero's redirect back; never shows the code or the state."""
        try:
            runtime = self._runtime()
        except NoApp as exc:
            return back_to_settings(request, str(exc))
        engine = self.pages.need_engine()
        params = {k: v for k, v in request.query_params.items()}
        try:
            flow = runtime.finish_connect(params)
        except XeroError as exc:
            return back_to_settings(request, refusal_in_words(exc))
        except Exception:
            log.exception("xero pages: completing Connect to Xero failed")
            return back_to_settings(
                request, "Not connected: something went wrong (the log says what); try again"
            )
        location_id = flow.connection_key
        tenants = [c.tenant_id for c in flow.connections]
        if location_id not in engine.locations():
            return back_to_settings(request, f"Connected, but there is no location {location_id}")
        if not tenants:
            return back_to_settings(
                request,
                "Not connected: no Xero organisation was chosen; press Connect to Xero and "
                "tick one",
                location_id,
            )
        if len(tenants) == 1:
            return self.link(request, engine, runtime, location_id, tenants[0])
        url = request.url_for("connect_choose").include_query_params(location=location_id)
        return RedirectResponse(str(url), status_code=303)

    def link(
        self,
        request: Request,
        engine: Engine,
        runtime: XeroRuntime,
        location_id: str,
        tenant_id: str,
    ) -> Response:
        """Save the location linked to the organisation; back to its tab saying so."""
        saved = linked_settings(saved_settings(engine), location_id, tenant_id)
        errors = self.pages.context(request).services.save_settings(PLUGIN, saved)
        name = runtime.client.tenant_names.get(tenant_id) or tenant_id
        where = _location_name(engine, location_id)
        if errors:
            return back_to_settings(
                request,
                f"Connected to Xero, but {where} was not linked to {name}: {'; '.join(errors)}",
                location_id,
            )
        return back_to_settings(
            request, f"{where} is connected to Xero organisation {name}", location_id
        )

    def _reachable(self, runtime: XeroRuntime, engine: Engine, location_id: str) -> list[str]:
        """The organisations the location's new tokens reach (:class:`LookupError` in words)."""
        self._known(engine, location_id)
        try:
            return runtime.tokens.tenant_ids(location_id)
        except XeroError as exc:
            raise LookupError(f"Not connected: {exc.message}") from None

    def choose(self, request: Request) -> Response:
        """GET /connect/choose: a radio per organisation the tokens reach."""
        location_id = request.query_params.get("location", "")
        engine = self.pages.need_engine()
        try:
            runtime = self._runtime()
            tenants = self._reachable(runtime, engine, location_id)
        except (NoApp, LookupError) as exc:
            return back_to_settings(request, str(exc.args[0]), location_id)
        current = engine.settings.tenant_for(location_id) if engine.settings else None
        organisations = [
            {
                "id": t,
                "name": runtime.client.tenant_names.get(t) or t,
                "checked": t == current or (current not in tenants and i == 0),
            }
            for i, t in enumerate(tenants)
        ]
        values = {
            "location_id": location_id,
            "location_name": _location_name(engine, location_id),
            "organisations": organisations,
        }
        return self.pages.render(request, "connect_choose.html", values, tab="settings")

    def chosen(self, request: Request, form: dict[str, list[str]]) -> Response:
        """POST /connect/choose: link the organisation picked (one the tokens reach)."""
        location_id, tenant_id = field(form, "location_id"), field(form, "tenant_id")
        engine = self.pages.need_engine()
        try:
            runtime = self._runtime()
            reachable = self._reachable(runtime, engine, location_id)
        except (NoApp, LookupError) as exc:
            return back_to_settings(request, str(exc.args[0]), location_id)
        if tenant_id not in reachable:
            return back_to_settings(
                request,
                "Not linked: that organisation is not among those Xero connected; press "
                "Connect to Xero again",
                location_id,
            )
        return self.link(request, engine, runtime, location_id, tenant_id)

    def disconnect(self, request: Request, form: dict[str, list[str]]) -> Response:
        """POST /connect/{location}/disconnect: the admin action, then the settings cleared."""
        location_id = request.path_params["location_id"]
        engine = self.pages.need_engine()
        result = perform(engine, self.pages.runtime(), "disconnect", {"location_id": location_id})
        if not result.ok:
            return back_to_settings(request, result.message, location_id)
        saved = unlinked_settings(saved_settings(engine), location_id)
        errors = self.pages.context(request).services.save_settings(PLUGIN, saved)
        said = result.message
        if errors:
            said += f"; the settings still name its organisation: {'; '.join(errors)}"
        return back_to_settings(request, said, location_id)


def routes(pages: Pages) -> list[BaseRoute]:
    """The connect flow's routes (the fixed paths before the one naming a location)."""
    page = ConnectPages(pages)
    return [
        Route("/connect/callback", page.callback, name="connect_callback", methods=["GET"]),
        Route("/connect/choose", page.choose, name="connect_choose", methods=["GET"]),
        Route("/connect/choose", with_form(page.chosen), name="connect_chosen", methods=["POST"]),
        Route("/connect/{location_id}", page.start, name="connect", methods=["POST"]),
        Route(
            "/connect/{location_id}/disconnect",
            with_form(page.disconnect),
            name="disconnect",
            methods=["POST"],
        ),
    ]
