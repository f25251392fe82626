"""The Settings page: the host's switch, prefixes, organisation mode, and a tab per location with
its organisation, its connection and the account codes picked from that organisation's chart.

The settings belong to the host: the page saves through
:meth:`hookspecs.pages.PageServices.save_settings` (the host runs every ``validate_settings``
and then ``on_settings_saved``), and an error comes back beside the field it names, with the
admin's input kept. The start date is not on this page (Start syncing data owns it): whatever is
saved stays as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pm_xero_plugin.inputs.settings import Prefixes
from pm_xero_plugin.pages import settings_form as sf
from pm_xero_plugin.pages.base import PLUGIN, Pages
from pm_xero_plugin.pages.guard import CSRF_FIELD, said_query
from pm_xero_plugin.sync.actions import perform
from pm_xero_plugin.xero.client import waiting_for_limits
from pm_xero_plugin.xero.errors import XeroError

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = [
    "SettingsPage",
    "SettingsView",
    "back_to_settings",
    "field",
    "posted_form",
    "routes",
    "saved_settings",
    "with_form",
]

log = logging.getLogger("pm_xero_plugin.pages")

DEFAULT_TRACKING = "Location"
"""The tracking category "Create tracking options in Xero" makes when none is named."""


def saved_settings(engine: Engine) -> dict[str, Any]:
    """What the host has saved for the add-on (a copy)."""
    return dict(engine.host.settings(PLUGIN) or {})


def back_to_settings(request: Request, said: str, location_id: str | None = None) -> Response:
    """303 to the settings page (on ``location_id``'s tab) with a one-line message."""
    url = URL(str(request.url_for("settings")))
    params = said_query(request, said)
    if location_id:
        params["location"] = location_id
    return RedirectResponse(str(url.include_query_params(**params)), status_code=303)


async def posted_form(request: Request) -> dict[str, list[str]]:
    """The posted form as ``name -> values`` (the CSRF token left out)."""
    form = await request.form()
    return {key: [str(v) for v in form.getlist(key)] for key in form if key != CSRF_FIELD}


def _tenant_of(settings: Mapping[str, Any], location_id: str) -> str | None:
    """The organisation ``location_id``'s records go to under ``settings`` – the rule of
    :meth:`Settings.tenant_for`, on the raw dict: the form being shown again may not parse."""
    locations = dict(settings.get("locations") or {})
    own = dict(locations.get(location_id) or {}).get("tenant_id")
    if settings.get("organisation_mode") == "shared":
        if settings.get("tenant_id"):
            return str(settings["tenant_id"])
        tenants = {str(v.get("tenant_id")) for v in locations.values() if v and v.get("tenant_id")}
        return next(iter(tenants)) if len(tenants) == 1 else None
    return str(own) if own else None


class SettingsView:
    """What the settings page shows for one location's tab (built per request)."""

    def __init__(self, engine: Engine, runtime: XeroRuntime | None, request: Request) -> None:
        self.engine = engine
        self.runtime = runtime
        self.request = request
        self.locations = engine.locations()

    def location_id(self, wanted: str | None) -> str | None:
        """The tab to show: the one asked for, else the first location."""
        if wanted and wanted in self.locations:
            return wanted
        return next(iter(self.locations), None)

    def chart(self, tenant_id: str, what: str) -> list[dict[str, Any]] | None:
        """One part of the organisation's chart (cached, else read from Xero once)."""
        try:
            return self.engine.chart.read(tenant_id, what)
        except Exception:  # a chart that cannot be read is shown as "not read yet"
            log.exception("xero pages: reading %s of %s failed", what, tenant_id)
            return None

    def tenant_name(self, tenant_id: str) -> str:
        """The organisation's name as Xero's ``/connections`` gave it (empty when unknown)."""
        if self.runtime is None:
            return ""
        return self.runtime.client.tenant_names.get(tenant_id) or ""

    def values(
        self,
        location_id: str | None,
        shown: Mapping[str, Any],
        errors: list[str],
    ) -> dict[str, Any]:
        """The template's values for ``location_id``'s tab, the form filled from ``shown``."""
        tabs = [
            {
                "id": lid,
                "name": str(loc.get("name") or lid),
                "url": str(
                    URL(str(self.request.url_for("settings"))).include_query_params(location=lid)
                ),
                "active": lid == location_id,
            }
            for lid, loc in self.locations.items()
        ]
        values: dict[str, Any] = {
            "tabs": tabs,
            "location_id": location_id,
            "location_name": tabs[[t["id"] for t in tabs].index(location_id)]["name"]
            if location_id
            else "",
            "mode": shown.get("organisation_mode") or "per_location",
            "prefixes": [
                {
                    "path": f"prefixes.{name}",
                    "label": sf.PREFIX_LABELS[name],
                    "value": str(
                        dict(shown.get("prefixes") or {}).get(name, _default_prefix(name))
                    ),
                }
                for name in sf.PREFIX_NAMES
            ],
            "rounding_tolerance": str(
                shown.get("rounding_tolerance")
                if shown.get("rounding_tolerance") is not None
                else "0.02"
            ),
            "start_date": shown.get("start_date"),
            "app_configured": self.runtime is not None,
            "redirect_note": self._redirect_note(),
        }
        values.update(self._location_values(location_id, shown))
        values.update(sf.books_values(shown))
        paths = _paths(values)
        by_field, top = sf.errors_by_field(errors, paths)
        values["errors"] = by_field
        values["top_errors"] = top
        return values

    def _location_values(self, location_id: str | None, shown: Mapping[str, Any]) -> dict[str, Any]:
        if location_id is None:
            return {"tenant_id": None}
        entry = dict(dict(shown.get("locations") or {}).get(location_id) or {})
        tenant_id = _tenant_of(shown, location_id)
        shared = shown.get("organisation_mode") == "shared"
        enabled = entry.get("connection_enabled")
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "connection_enabled": shared if enabled is None else bool(enabled),
            "tracking_category": shown.get("tracking_category") or "",
            "tracking_option": entry.get("tracking_option") or "",
        }
        if tenant_id is None:
            return values
        record = self.engine.ledger.tenant(tenant_id)
        accounts = self.chart(tenant_id, "accounts")
        rates = self.chart(tenant_id, "tax_rates") or []
        categories = self.chart(tenant_id, "tracking_categories") or []
        codes = dict(dict(shown.get("account_codes") or {}).get(tenant_id) or {})
        names, options = sf.tracking_choices(categories, values["tracking_category"] or None)
        values.update(
            tenant_name=self.tenant_name(tenant_id),
            connected=record.connected,
            connection_reason=record.connection_reason,
            codes_state=record.codes_state,
            codes_detail=record.codes_detail,
            chart_read=accounts is not None,
            code_fields=sf.code_fields(tenant_id, codes, accounts),
            tax_fields=sf.tax_rate_choices(tenant_id, codes, rates),
            tracking_categories=names,
            tracking_options=options,
        )
        return values

    def _redirect_note(self) -> str:
        """Why Connect would fail: Xero sends the admin back to a URI that is not this page's."""
        if self.runtime is None:
            return ""
        expected = str(self.request.url_for("connect_callback"))
        configured = self.runtime.oauth.redirect_uri
        if configured == expected:
            return ""
        return (
            f"Xero sends the admin back to {configured}, but this page's callback is {expected}: "
            "register this address as the Xero app's redirect URI and set PM_XERO_REDIRECT_URI "
            "to it, or Connect to Xero will not come back here."
        )


def _default_prefix(name: str) -> str:
    return str(getattr(Prefixes(), name))


def _paths(values: Mapping[str, Any]) -> set[str]:
    """Every field (and field group) the page shows an error beside."""
    paths = {p["path"] for p in values["prefixes"]}
    paths |= {"prefixes", "organisation_mode", "tenant_id", "rounding_tolerance"}
    paths |= set(sf.BOOKS_FIELDS)
    location_id, tenant_id = values.get("location_id"), values.get("tenant_id")
    if location_id:
        base = f"locations.{location_id}"
        paths |= {base, f"{base}.tenant_id", f"{base}.connection_enabled"}
        paths |= {f"{base}.tracking_option", "tracking_category"}
    if tenant_id:
        base = f"account_codes.{tenant_id}"
        paths |= {base, f"{base}.income", f"{base}.payments", f"{base}.tax_types"}
        paths |= {f.path for f in values.get("code_fields", [])}
        paths |= {f.path for f in values.get("tax_fields", [])}
    return paths


def field(form: sf.Form, name: str, default: str = "") -> str:
    """The last value posted for ``name`` (a checkbox comes after its hidden ``0``)."""
    values = form.get(name)
    return str(values[-1]) if values else default


def with_form(
    work: Callable[[Request, dict[str, list[str]]], Response],
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint reading the posted form, then running ``work`` in the thread pool (what it
    calls – the host's save, the ledger, Xero – blocks)."""

    async def endpoint(request: Request) -> Response:
        form = await posted_form(request)
        return await run_in_threadpool(work, request, form)

    return endpoint


class SettingsPage:
    """The handlers of the settings page (see the module docstring)."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def render(
        self,
        request: Request,
        wanted: str | None,
        shown: Mapping[str, Any] | None = None,
        errors: list[str] | None = None,
        status_code: int = 200,
    ) -> Response:
        """The page on ``wanted``'s tab, filled from ``shown`` (default: what is saved)."""
        services = self.pages.context(request).services
        engine = self.pages.engine()
        base = {"switch_on": services.is_enabled(PLUGIN), "ready": engine is not None}
        if engine is None:
            return self.pages.render(request, "settings.html", base, tab="settings")
        view = SettingsView(engine, self.pages.runtime(), request)
        location_id = view.location_id(wanted)
        current = saved_settings(engine) if shown is None else shown
        values = {**base, **view.values(location_id, current, errors or [])}
        return self.pages.render(
            request, "settings.html", values, status_code=status_code, tab="settings"
        )

    def show(self, request: Request) -> Response:
        """GET: the saved settings on the asked-for location's tab."""
        return self.render(request, request.query_params.get("location"))

    def save(self, request: Request, form: dict[str, list[str]]) -> Response:
        """POST: the whole settings (the form over what is saved), through the host's save;
        refused, the form again with the input kept and each error beside its field."""
        engine = self.pages.need_engine()
        location_id = field(form, "location") or None
        wanted = sf.settings_from_form(form, saved_settings(engine))
        errors = self.pages.context(request).services.save_settings(PLUGIN, wanted)
        if errors:
            return self.render(request, location_id, wanted, errors, status_code=400)
        return back_to_settings(request, "Settings saved", location_id)

    def switch(self, request: Request, form: dict[str, list[str]]) -> Response:
        """POST: flip the host's switch; switched on, the settings' own switch follows."""
        services = self.pages.context(request).services
        on = field(form, "enabled") == "1"
        services.set_enabled(PLUGIN, on)
        if not on:
            return back_to_settings(
                request,
                "The Xero add-on is switched off: nothing new is sent; what is queued waits",
            )
        engine = self.pages.engine()
        saved = saved_settings(engine) if engine is not None else {}
        if saved and saved.get("enabled") is not True:
            errors = services.save_settings(PLUGIN, {**saved, "enabled": True})
            if errors:
                return back_to_settings(
                    request, f"Switched on, but the settings were not saved: {'; '.join(errors)}"
                )
        return back_to_settings(request, "The Xero add-on is switched on")

    def resync(self, request: Request, form: dict[str, list[str]]) -> Response:
        """POST: read the organisation's chart again (the admin action ``refresh_accounts``)."""
        engine = self.pages.need_engine()
        params = {"tenant_id": field(form, "tenant_id")}
        result = perform(engine, self.pages.runtime(), "refresh_accounts", params)
        return back_to_settings(request, result.message, field(form, "location") or None)

    def tracking(self, request: Request, form: dict[str, list[str]]) -> Response:
        """POST: create the tracking category and an option per location in the organisation
        (each named after its location), then choose them in the settings."""
        engine = self.pages.need_engine()
        runtime = self.pages.runtime()
        tenant_id, location_id = field(form, "tenant_id"), field(form, "location") or None
        category = field(form, "tracking_category_name").strip() or DEFAULT_TRACKING
        if runtime is None:
            return back_to_settings(request, "No Xero app is configured", location_id)
        saved = saved_settings(engine)
        names = {
            lid: str(loc.get("name") or lid)
            for lid, loc in engine.locations().items()
            if _tenant_of(saved, lid) == tenant_id
        }
        if not names:
            return back_to_settings(
                request, f"No location is linked to organisation {tenant_id}", location_id
            )
        try:
            with waiting_for_limits(log.info, max_wait=60.0):
                runtime.ensure_tracking_options(tenant_id, category, sorted(names.values()))
        except (XeroError, LookupError) as exc:
            return back_to_settings(
                request, f"The tracking options were not created in Xero: {exc}", location_id
            )
        engine.chart.read(tenant_id, "tracking_categories", refresh=True)
        errors = self.pages.context(request).services.save_settings(
            PLUGIN, sf.tracking_settings(saved, category, names)
        )
        if errors:
            return back_to_settings(
                request,
                f"Created in Xero, but the settings were not saved: {'; '.join(errors)}",
                location_id,
            )
        return back_to_settings(
            request,
            f"Tracking category {category} in Xero now has the options "
            f"{', '.join(sorted(names.values()))}, chosen for their locations",
            location_id,
        )


def routes(pages: Pages) -> list[BaseRoute]:
    """This page's routes: show, save, the switch and "Resync accounts"."""
    page = SettingsPage(pages)
    return [
        Route("/settings", page.show, name="settings", methods=["GET"]),
        Route("/settings", with_form(page.save), name="settings_save", methods=["POST"]),
        Route("/settings/switch", with_form(page.switch), name="settings_switch", methods=["POST"]),
        Route("/settings/resync", with_form(page.resync), name="settings_resync", methods=["POST"]),
        Route(
            "/settings/tracking",
            with_form(page.tracking),
            name="settings_tracking",
            methods=["POST"],
        ),
    ]
