"""The admin's actions as one call: what the pages' buttons, the host's ``admin_action`` hook
and any script do, each answered in words.

:func:`perform` takes an action's name and its parameters as a host (or a form) sends them –
JSON-compatible, strings where a form has them – and returns an :class:`ActionResult`: whether it
happened and a sentence naming the record and what changed. An admin's mistake (an unknown row
or organisation, a missing parameter, a move the ledger's state machine refuses, an unknown
action) is said in that sentence, never raised: the caller is a page or a host, and neither
should show a traceback to a person.

The actions (see :func:`hookspecs.spec.admin_action` for the contract):

``retry``            ``row_id``; or ``kind`` and/or ``tenant_id`` (or ``all_failed``) for every
                     failed row (and rows held by Xero) that matches
``resolve``          ``row_id``: fixed by hand in Xero (or dealt with in Pet Manager)
``exclude``          ``row_id``: never send it
``include_parent``   ``row_id``: send the payment's invoice dated before the start date too
                     (also ``include_parent_invoice``, as the dashboard's failures name it)
``link_contact``     ``row_id``, optional ``contact_id``: it is the Xero contact with its name
``create_distinct``  ``row_id``, optional ``name``: create ours under a distinct name
``refresh_accounts`` ``tenant_id``: read the organisation's chart of accounts again, now
``disconnect``       ``location_id``: Xero's ``DELETE /connections`` for its organisation when no
                     other location uses it, and its stored connection forgotten; clearing the
                     location's organisation in the settings is the caller's (the settings are
                     the host's)
``reconcile``        optional ``tenant_id``, ``full``: a reconciliation pass with Xero's books now
                     (its webhook events, a read within the day's budget, the comparison)
``books_accept``     ``key`` (``<row id>:<difference>``, as the report names it): Xero's version
                     stands, marked
``books_resend``     ``key``: the host's version goes to Xero again
``books_relink``     ``key``: the record is the Xero document the difference names

The messages are worded as ``pm-xero retry/resolve/exclude`` word theirs
(:mod:`pm_xero_plugin.cli.admin`): ``row 7 (invoice #7 in T1): failed -> ready``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pm_xero_plugin.core.admin import row_label
from pm_xero_plugin.ledger import IllegalTransition
from pm_xero_plugin.ledger.interface import LedgerUnavailable
from pm_xero_plugin.ledger.states import KINDS, State
from pm_xero_plugin.xero.errors import NotFound, XeroError

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = ["ACTIONS", "ActionResult", "perform"]

log = logging.getLogger("pm_xero_plugin")

CHART_PARTS = ("accounts", "tax_rates", "tracking_categories")
"""What "Resync accounts" reads again: the parts of a chart the settings page offers."""

DISCONNECTED_REASON = "disconnected by an admin: press Connect to Xero to connect it again"


@dataclass(frozen=True)
class ActionResult:
    """What an action did, in the admin's words."""

    ok: bool
    """Whether it happened (``False``: nothing changed, ``message`` says why)."""
    message: str
    """One sentence naming the record (or organisation, location) and what changed."""

    def as_dict(self) -> dict[str, Any]:
        """The ``admin_action`` hook's answer: ``{"ok": …, "message": …}``."""
        return {"ok": self.ok, "message": self.message}


class _Refused(Exception):
    """An admin's mistake, already in words: :func:`perform` answers it as ``ok=False``."""


_PAST = {
    "retry": "retried",
    "resolve": "resolved",
    "exclude": "excluded",
    "include_parent": "given its parent invoice",
    "link_contact": "linked to a Xero contact",
    "create_distinct": "given a distinct name",
}


def perform(
    engine: Engine, runtime: XeroRuntime | None, action: str, params: Mapping[str, Any]
) -> ActionResult:
    """Run ``action`` with ``params``; never raises (see the module docstring)."""
    handler = ACTIONS.get(action)
    if handler is None:
        known = ", ".join(sorted(ACTIONS))
        return ActionResult(False, f"unknown action {action!r} (the actions: {known})")
    try:
        return handler(engine, runtime, params)
    except _Refused as exc:
        return ActionResult(False, str(exc))
    except LedgerUnavailable as exc:
        return ActionResult(
            False,
            f"{action}: the ledger cannot take the change now ({exc}); nothing changed, "
            "try again in a moment",
        )
    except Exception as exc:  # never a traceback for a person; the log has it
        log.exception("xero: admin action %s failed", action)
        return ActionResult(
            False, f"{action} failed unexpectedly ({type(exc).__name__}); see the add-on's log"
        )


# -- parameters ---------------------------------------------------------------------------------


def _text(params: Mapping[str, Any], name: str) -> str | None:
    """A parameter as text, ``None`` when absent or blank."""
    value = params.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_ROW_ID = re.compile(r"[0-9]{1,18}")


def _row_id(action: str, params: Mapping[str, Any]) -> int:
    value = params.get("row_id")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Refused(f"{action} needs row_id: the ledger row of the record (its failure's row)")
    if isinstance(value, bool):
        raise _Refused(f"row_id must be a ledger row number, not {value!r}")
    text = str(value).strip()
    if not _ROW_ID.fullmatch(text):  # SQLite's ids are 64-bit: a longer number is no row
        raise _Refused(f"row_id must be a ledger row number, not {value!r}")
    return int(text)


def _describe(engine: Engine, row_id: int) -> str:
    row = engine.ledger.get(row_id)
    if row is None:
        raise _Refused(f"no ledger row {row_id} (the dashboard's failures list gives row ids)")
    return row_label(row)


def _state(engine: Engine, row_id: int) -> str:
    row = engine.ledger.get(row_id)
    if row is None:
        return "gone"
    return f"{row.state} ({row.gate})" if row.state == State.WAITING and row.gate else row.state


def _known_tenants(engine: Engine, runtime: XeroRuntime | None) -> set[str]:
    """Organisations the add-on knows: mapped in the settings, in the ledger, or reached by a
    stored connection (an organisation being chosen on the settings page)."""
    known = set(engine.settings.tenant_ids()) if engine.settings is not None else set()
    known.update(t.tenant_id for t in engine.ledger.tenants())
    if runtime is not None:
        for key in runtime.tokens.connection_keys():
            try:
                known.update(runtime.tokens.tenant_ids(key))
            except XeroError:  # a token set that cannot be read lists nothing usable
                continue
    return known


def _tenant(engine: Engine, runtime: XeroRuntime | None, params: Mapping[str, Any]) -> str | None:
    tenant_id = _text(params, "tenant_id")
    if tenant_id is None:
        return None
    known = _known_tenants(engine, runtime)
    if tenant_id not in known:
        names = ", ".join(sorted(known)) or "none yet"
        raise _Refused(f"unknown organisation {tenant_id!r} (known: {names})")
    return tenant_id


# -- the actions on one row ---------------------------------------------------------------------


def _on_row(
    verb: str, act: Callable[[Engine, int, Mapping[str, Any]], str | None]
) -> Callable[[Engine, XeroRuntime | None, Mapping[str, Any]], ActionResult]:
    """An action on one ledger row: named, its move said, a refused move said in words."""

    def run(engine: Engine, runtime: XeroRuntime | None, params: Mapping[str, Any]) -> ActionResult:
        row_id = _row_id(verb, params)
        label = _describe(engine, row_id)
        before = _state(engine, row_id)
        try:
            extra = act(engine, row_id, params)
        except IllegalTransition:
            return ActionResult(False, f"{label} is {before}: it cannot be {_PAST[verb]}")
        except _Refused as exc:
            return ActionResult(False, f"{label}: {exc}")
        except (KeyError, ValueError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            return ActionResult(False, f"{label}: {message}")
        said = f"{label}: {_PAST[verb]}, {before} -> {_state(engine, row_id)}"
        return ActionResult(True, f"{said}; {extra}" if extra else said)

    return run


def _retry_one(engine: Engine, row_id: int, params: Mapping[str, Any]) -> str | None:
    if engine.retry(row_id=row_id) == 0:
        raise _Refused(
            f"it is {_state(engine, row_id)}: only failed, excluded, retrying or waiting rows can "
            "be retried"
        )
    return None


def _resolve(engine: Engine, row_id: int, params: Mapping[str, Any]) -> str | None:
    engine.resolve(row_id)
    return None


def _exclude(engine: Engine, row_id: int, params: Mapping[str, Any]) -> str | None:
    engine.exclude(row_id)
    return None


def _include_parent(engine: Engine, row_id: int, params: Mapping[str, Any]) -> str | None:
    engine.include_parent_invoice(row_id)
    row = engine.ledger.get(row_id)
    return f"invoice {row.dep_invoice} is sent too" if row and row.dep_invoice else None


def _link_contact(engine: Engine, row_id: int, params: Mapping[str, Any]) -> str | None:
    engine.link_contact(row_id, _text(params, "contact_id"))
    row = engine.ledger.get(row_id)
    return f"Xero contact {row.xero_id}" if row and row.xero_id else None


def _create_distinct(engine: Engine, row_id: int, params: Mapping[str, Any]) -> str | None:
    name = engine.create_contact_distinct(row_id, _text(params, "name"))
    return f"to be created as {name!r}"


_RETRY_ONE = _on_row("retry", _retry_one)


def _retry(engine: Engine, runtime: XeroRuntime | None, params: Mapping[str, Any]) -> ActionResult:
    """One row (``row_id``), or every failed row of a kind and/or organisation."""
    kind = _text(params, "kind")
    everything = str(params.get("all_failed") or "").lower() in ("1", "true", "yes", "on")
    if _text(params, "row_id") is not None:
        if kind or _text(params, "tenant_id") or everything:
            raise _Refused(
                "retry of row_id retries one row: do not combine it with kind, tenant_id or "
                "all_failed"
            )
        return _RETRY_ONE(engine, runtime, params)
    tenant_id = _tenant(engine, runtime, params)
    if kind is not None and kind not in KINDS:
        raise _Refused(f"unknown kind {kind!r} (the kinds: {', '.join(KINDS)})")
    if kind is None and tenant_id is None and not everything:
        raise _Refused(
            "retry needs row_id, or kind and/or tenant_id (or all_failed) for every failed row "
            "that matches"
        )
    moved = engine.retry(kind=kind, tenant_id=tenant_id)
    scope = " ".join(part for part in (kind, tenant_id and f"in {tenant_id}") if part)
    rows = f"{moved} row{'s' if moved != 1 else ''}"
    return ActionResult(True, f"retried {rows}{' (' + scope + ')' if scope else ''}")


# -- the organisation's chart and its connection --------------------------------------------------


def _refresh_accounts(
    engine: Engine, runtime: XeroRuntime | None, params: Mapping[str, Any]
) -> ActionResult:
    """Read the organisation's chart of accounts from Xero now (not the cached copy), verify
    its account codes against it and re-evaluate what waits for them."""
    tenant_id = _tenant(engine, runtime, params)
    if tenant_id is None:
        raise _Refused("refresh_accounts needs tenant_id: the organisation to read again")
    source = engine.accounts_source
    if source is None:
        raise _Refused(
            f"organisation {tenant_id}: not connected to Xero, so its chart cannot be read "
            "(press Connect to Xero first)"
        )
    read: dict[str, int] = {}
    for part in CHART_PARTS:
        try:
            body = list(getattr(source, part)(tenant_id))
        except (XeroError, LookupError) as exc:
            return ActionResult(
                False,
                f"organisation {tenant_id}: its chart of accounts could not be read from Xero "
                f"({exc}); the last one read is kept",
            )
        engine.ledger.store_chart(tenant_id, part, body)
        read[part] = len(body)
    settings = engine.settings
    engine.chart.verify(tenant_id, settings.account_codes.get(tenant_id) if settings else None)
    engine.reevaluate(tenant_id)
    record = engine.ledger.tenant(tenant_id)
    verdict = f"account codes {record.codes_state}"
    if record.codes_detail:
        verdict += f": {record.codes_detail}"
    return ActionResult(
        True,
        f"organisation {tenant_id}: chart of accounts read again ({read['accounts']} accounts, "
        f"{read['tax_rates']} tax rates, {read['tracking_categories']} tracking categories); "
        f"{verdict}",
    )


def _disconnect(
    engine: Engine, runtime: XeroRuntime | None, params: Mapping[str, Any]
) -> ActionResult:
    """Stop a location reaching its organisation: Xero's connection deleted when no other
    location uses the organisation, this location's stored tokens forgotten when nothing else
    needs them. The settings still naming the organisation are the caller's to clear."""
    location_id = _text(params, "location_id")
    if location_id is None:
        raise _Refused("disconnect needs location_id: the location to disconnect")
    locations = engine.locations()
    if location_id not in locations:
        raise _Refused(f"unknown location {location_id!r} (known: {', '.join(sorted(locations))})")
    name = str(locations[location_id].get("name") or location_id)
    if runtime is None:
        raise _Refused(
            f"{name}: no Xero app is configured (PM_XERO_CLIENT_ID / PM_XERO_CLIENT_SECRET), so "
            "there is no connection to disconnect"
        )
    settings = engine.settings
    tenant_id = settings.tenant_for(location_id) if settings is not None else None
    others = (
        [loc for loc in locations if loc != location_id and settings.tenant_for(loc) == tenant_id]
        if settings is not None and tenant_id
        else []
    )
    said: list[str] = []
    if tenant_id and others:
        said.append(
            f"organisation {tenant_id} stays connected: {', '.join(others)} still send to it"
        )
    elif tenant_id:
        said.append(_delete_connection(runtime, location_id, tenant_id))
        engine.set_connection(location_id, tenant_id, False, DISCONNECTED_REASON)
    said.append(_forget_tokens(engine, runtime, location_id, keep_for=others))
    return ActionResult(True, f"{name}: " + "; ".join(said))


def _delete_connection(runtime: XeroRuntime, location_id: str, tenant_id: str) -> str:
    """``DELETE /connections/{id}`` for ``tenant_id``, through this location's token set or
    any that reaches it; what happened, in words."""
    try:
        key = location_id if runtime.tokens.load(location_id) is not None else None
        key = key or runtime.connection_for_any(tenant_id)
    except (LookupError, XeroError):
        key = None
    if key is None:
        return f"no stored connection reaches organisation {tenant_id}: nothing to delete in Xero"
    try:
        runtime.provider.disconnect(key, tenant_id)
    except NotFound:
        return f"organisation {tenant_id} was no longer connected in Xero"
    except XeroError as exc:
        return (
            f"Xero could not be told ({exc}): remove the app under Connected apps in organisation "
            f"{tenant_id}'s settings"
        )
    return f"organisation {tenant_id} disconnected in Xero (the app no longer reaches it)"


def _forget_tokens(
    engine: Engine, runtime: XeroRuntime, location_id: str, *, keep_for: list[str]
) -> str:
    """Forget the location's stored token set, unless another location sends through it."""
    try:
        if runtime.tokens.load(location_id) is None:
            return "it had no stored connection of its own"
    except XeroError:
        runtime.provider.forget(location_id)  # unreadable: nothing usable to keep
        return "its stored connection (unreadable) is forgotten"
    if keep_for and not any(
        key != location_id and _reaches(runtime, key, loc, engine)
        for key in runtime.tokens.connection_keys()
        for loc in keep_for
    ):
        return (
            f"its stored connection is kept: {', '.join(keep_for)} reach the organisation "
            "through it"
        )
    runtime.provider.forget(location_id)
    return "its stored connection is forgotten"


def _reaches(runtime: XeroRuntime, key: str, location_id: str, engine: Engine) -> bool:
    """Whether token set ``key`` reaches the organisation ``location_id`` sends to."""
    settings = engine.settings
    tenant_id = settings.tenant_for(location_id) if settings is not None else None
    try:
        return bool(tenant_id) and tenant_id in runtime.tokens.tenant_ids(key)
    except XeroError:
        return False


# -- the reconciliation with Xero's books ---------------------------------------------------------


def _yes(params: Mapping[str, Any], name: str) -> bool:
    return str(params.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _reconcile(
    engine: Engine, runtime: XeroRuntime | None, params: Mapping[str, Any]
) -> ActionResult:
    """A pass now (:meth:`~pm_xero_plugin.sync.books.XeroBooks.run_pass`); what it found."""
    from pm_xero_plugin.sync.books import books_for

    tenant_id = _tenant(engine, runtime, params)
    books = books_for(
        engine,
        runtime.client if runtime is not None else None,
        runtime.connection_for if runtime is not None else None,
    )
    if books is None:
        raise _Refused(
            "reconcile: no Xero app is configured (PM_XERO_CLIENT_ID / PM_XERO_CLIENT_SECRET), "
            "so Xero's books cannot be read"
        )
    report = books.run_pass(
        read=True, full=_yes(params, "full"), tenant_ids=[tenant_id] if tenant_id else None
    )
    tenants = [t for t in report.tenants if tenant_id is None or t.tenant_id == tenant_id]
    said = []
    for t in tenants:
        found = f"{t.differences_total} difference{'s' if t.differences_total != 1 else ''}"
        line = f"organisation {t.name or t.tenant_id}: {t.checked} records checked, {found}"
        said.append(f"{line} ({t.incomplete})" if t.incomplete else line)
    return ActionResult(True, "reconciled: " + ("; ".join(said) or "no organisation to check"))


def _books_action(
    action: str,
) -> Callable[[Engine, XeroRuntime | None, Mapping[str, Any]], ActionResult]:
    """``books_<action>``: ``Engine.books_act`` on the difference ``key`` names."""

    def run(engine: Engine, runtime: XeroRuntime | None, params: Mapping[str, Any]) -> ActionResult:
        key = _text(params, "key")
        if key is None:
            raise _Refused(
                f"books_{action} needs key: the difference's key as the reconciliation lists it "
                "(<row id>:<difference>)"
            )
        from pm_xero_plugin.core.books_actions import BooksActionRefused

        try:
            said = engine.books_act(key, action, by=_text(params, "by"))
        except BooksActionRefused as exc:  # the admin's words
            return ActionResult(False, str(exc))
        return ActionResult(True, said)

    return run


ACTIONS: dict[str, Callable[[Engine, XeroRuntime | None, Mapping[str, Any]], ActionResult]] = {
    "retry": _retry,
    "resolve": _on_row("resolve", _resolve),
    "exclude": _on_row("exclude", _exclude),
    "include_parent": _on_row("include_parent", _include_parent),
    "include_parent_invoice": _on_row("include_parent", _include_parent),
    "link_contact": _on_row("link_contact", _link_contact),
    "create_distinct": _on_row("create_distinct", _create_distinct),
    "refresh_accounts": _refresh_accounts,
    "disconnect": _disconnect,
    "reconcile": _reconcile,
    "books_accept": _books_action("accept"),
    "books_resend": _books_action("resend"),
    "books_relink": _books_action("relink"),
}
"""Every action by name (the names :func:`hookspecs.spec.admin_action` documents)."""
