"""The Start syncing data page: pick the start date, preview it, confirm, start.

The one irreversible step of the setup: once data has synced the start date can only move
earlier, and back-syncing a period someone already typed into Xero by hand duplicates it. So the
page shows, before anything is sent, what the date would send – per organisation and kind the
counts and totals, how many Xero already has by number (linked, not created again), the clashes
that will fail and what would be held – from :func:`pm_xero_plugin.dashboard.preview.preview`,
the same numbers ``pm-xero preview`` prints. "Preview" is a GET (``/start?date=…``): it changes
nothing.

"Start syncing data" (``POST /start``) needs the confirmation box ticked. It saves the date
through the host (:meth:`hookspecs.pages.PageServices.save_settings`, merged into the saved
settings, so the host runs ``validate_settings`` and an error – a locked date moved later –
comes back beside the date in its words), then calls the plugin's own ``backfill`` hook as the
host's button would: written down in the ledger and run in the background. A future date is
allowed: data then waits until that day.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pm_xero_plugin.dashboard.preview import preview
from pm_xero_plugin.pages.base import PLUGIN, Pages
from pm_xero_plugin.xero.errors import XeroError

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = ["CONFIRM_LABEL", "TICK_THE_BOX", "routes"]

log = logging.getLogger("pm_xero_plugin.pages")

CONFIRM_LABEL = (
    "I understand: records from this date are sent to Xero, and the date cannot be moved later"
)
TICK_THE_BOX = "Tick the box to confirm"

_KIND_WORDS = {
    "contact": "Contacts",
    "invoice": "Invoices",
    "credit_note": "Credit notes",
    "allocation": "Credit note allocations",
    "payment": "Payments",
    "overpayment": "Overpayments",
    "deposit": "Deposits",
    "deposit_allocation": "Deposit allocations",
    "credit_note_refund": "Refunds of credit notes",
    "overpayment_refund": "Refunds of overpayments",
    "deposit_refund": "Refunds of deposits",
    "payout_fee": "Card payout fees",
    "payout": "Card payouts",
}


def _parse(text: str | None) -> tuple[date | None, str | None]:
    """A date from the form, or the reason it is none."""
    if not text or not text.strip():
        return None, "choose a start date"
    try:
        return date.fromisoformat(text.strip()), None
    except ValueError:
        return None, f"{text.strip()!r} is not a date (YYYY-MM-DD)"


def _preview(engine: Engine, runtime: XeroRuntime | None, day: date) -> dict[str, Any]:
    """The preview of ``day``, looked up in Xero when connected; without the look-ups (said in
    ``lookup_note``) when Xero cannot answer now."""
    try:
        report = preview(
            engine,
            engine.host,
            day,
            client=runtime.client if runtime else None,
            connection_for=runtime.connection_for if runtime else None,
        )
    except XeroError as exc:
        log.warning("xero: the preview's look-ups failed: %s", exc)
        report = preview(engine, engine.host, day)
        report["lookup_note"] = (
            f"not looked up in Xero: it could not be asked now ({exc}); numbers already in Xero "
            "are unknown"
        )
    for org in report.get("organisations") or []:
        org["rows"] = [_kind_row(kind, numbers) for kind, numbers in org["kinds"].items()]
    return report


def _kind_row(kind: str, numbers: Mapping[str, Any]) -> dict[str, Any]:
    """One line of an organisation's preview table."""
    found = numbers.get("already_in_xero")
    clashes = numbers.get("clashes")
    return {
        "kind": kind,
        "label": _KIND_WORDS.get(kind, kind),
        "count": numbers.get("count", 0),
        "total": numbers.get("total"),
        "first_date": numbers.get("first_date"),
        "last_date": numbers.get("last_date"),
        "already_synced": numbers.get("already_synced", 0),
        "already_in_xero": found,
        "linked": None if found is None else int(found) - int(clashes or 0),
        "clashes": clashes,
    }


def _today(engine: Engine) -> date | None:
    """The earliest business date among the locations (a start date after it waits)."""
    days = [engine.today(loc) for loc in engine.locations()]
    return min(days) if days else None


def _state(engine: Engine) -> dict[str, Any]:
    """The saved start date, whether it is locked or still ahead, and the contact sync."""
    settings = engine.settings
    saved = settings.start_date if settings is not None else None
    locked = engine.start_date_locked()
    today = _today(engine)
    tenants = settings.tenant_ids() if settings is not None else []
    contacts_pending = [t for t in tenants if engine.ledger.tenant(t).contact_sync == "not_started"]
    return {
        "saved": saved.isoformat() if saved else None,
        "locked": locked.isoformat() if locked else None,
        "waiting_until": saved.isoformat() if saved and today and saved > today else None,
        "today": today.isoformat() if today else None,
        "started": engine.ledger.meta("backfill_started") is not None,
        "contacts_pending": contacts_pending,
    }


class StartPage:
    """The page's handlers (a class so the values every rendering needs are built once)."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def render(
        self,
        request: Request,
        chosen: str | None,
        *,
        errors: Mapping[str, list[str]] | None = None,
        status_code: int = 200,
    ) -> Response:
        """The page, with the preview of ``chosen`` when it is a date."""
        engine = self.pages.need_engine()
        state = _state(engine)
        problems: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        report = None
        day, why = _parse(chosen) if chosen else (None, None)
        if day is not None:
            try:
                report = _preview(engine, self.pages.runtime(), day)
            except ValueError as exc:
                problems.setdefault("start_date", []).append(str(exc))
        elif why:
            problems.setdefault("start_date", []).append(why)
        waiting = (
            day.isoformat() if day and state["today"] and day.isoformat() > state["today"] else None
        )
        values = {
            **state,
            "chosen": day.isoformat() if day else (chosen or state["saved"] or ""),
            "previewed": report,
            "preview_waiting": waiting,
            "errors": problems,
            "confirm_label": CONFIRM_LABEL,
        }
        return self.pages.render(
            request, "start.html", values, status_code=status_code, tab="start"
        )

    def show(self, request: Request) -> Response:
        """GET /start, and GET /start?date=… (the preview)."""
        return self.render(request, request.query_params.get("date"))

    def start(self, request: Request, chosen: str, confirmed: bool) -> Response:
        """POST /start: confirmed, save the date through the host and start the back-sync."""
        engine = self.pages.need_engine()
        day, why = _parse(chosen)
        if day is None:
            return self.render(request, chosen, errors={"start_date": [why or ""]}, status_code=400)
        if not confirmed:
            return self.render(request, chosen, errors={"confirm": [TICK_THE_BOX]}, status_code=400)
        settings = dict(engine.host.settings(PLUGIN) or {})
        settings["start_date"] = day.isoformat()
        errors = self.pages.context(request).services.save_settings(PLUGIN, settings)
        if errors:
            beside: dict[str, list[str]] = {}
            for error in errors:
                path = "start_date" if error.startswith("start_date") else "general"
                beside.setdefault(path, []).append(error)
            return self.render(request, chosen, errors=beside, status_code=400)
        self.pages.backfill(None, day)
        today = _today(engine)
        if today is not None and day > today:
            said = (
                f"Waiting until {day.isoformat()}: the start date is saved, and data sync starts "
                "on that day by itself"
            )
        else:
            said = (
                f"Syncing data from {day.isoformat()}: the history is back-synced in the "
                "background, after the contact sync; every new record follows by itself"
            )
        return self.pages.back(request, "dashboard", said)


def routes(pages: Pages) -> list[BaseRoute]:
    """``GET /start`` (route ``start``) and ``POST /start``."""
    page = StartPage(pages)

    async def post(request: Request) -> Response:
        form = await request.form()
        chosen = form.get("start_date")
        confirmed = form.get("confirm") in ("on", "yes", "1", "true")
        return await run_in_threadpool(
            page.start, request, chosen if isinstance(chosen, str) else "", confirmed
        )

    return [
        Route("/start", page.show, methods=["GET"], name="start"),
        Route("/start", post, methods=["POST"], name="start_post"),
    ]
