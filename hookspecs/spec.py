"""Hook specifications: every call the Pet Manager host makes into its plugins.

Rules every hook shares:

* The host calls hooks with **keyword arguments** only, and may add new optional arguments in
  later versions (pluggy passes an implementation only the arguments it names).
* A hook must not block for long: the host calls record hooks on the request path of the staff
  member who just saved an invoice. Record what must be done, and do it in the background.
* A plugin **must not raise** into the host. If one does anyway, the host logs it and carries on,
  and **the other plugins are still called**: the host calls each plugin on its own with
  :func:`hookspecs.calling.call_each_plugin`, never ``pm.hook.<name>(...)`` once (pluggy would
  stop at the first plugin that raises). That module says how, and why; the reference host does
  it. The same goes for loading: :func:`hookspecs.calling.load_entrypoint_plugins`.
* Records are plain mappings shaped as in :mod:`hookspecs.records`; validate them.
* **Every hook about one practice names it** (``practice_id``): one host process may serve many
  practices (Pet Manager is a hosted service), each with its own settings, secret, data and
  connections. A host that serves many passes ``practice_id`` on every such call and gives
  ``pm_startup`` a host that is also a :class:`hookspecs.host.Practices`; a host of one practice
  passes ``None`` (or its own id), and one written before ``practice_id`` existed may leave it
  out – :func:`hookspecs.calling.call_each_plugin` fills it in
  (:data:`hookspecs.calling.ADDED_ARGUMENTS`). A plugin must never let a call for one practice
  read or change another's data.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from hookspecs.markers import hookspec

if TYPE_CHECKING:
    from hookspecs.host import Host
    from hookspecs.pages import PluginApp
    from hookspecs.records import Client, CreditNote, Deposit, Invoice, Payment, Payout, Refund

__all__ = [
    "admin_action",
    "backfill",
    "on_client_saved",
    "on_credit_note_created",
    "on_deposit_recorded",
    "on_invoice_created",
    "on_invoice_updated",
    "on_invoice_voided",
    "on_payment_recorded",
    "on_payout_recorded",
    "on_refund_recorded",
    "on_settings_saved",
    "pm_shutdown",
    "pm_startup",
    "start_contact_sync",
    "sync_status",
    "validate_settings",
    "web_app",
]


# -- lifecycle -----------------------------------------------------------------------------------


@hookspec
def pm_startup(host: Host) -> None:
    """Called once after every plugin is loaded and before the host serves requests.

    Plugins keep ``host`` to reach locations, history, their settings, data directory, clock and
    secret, and start any background work here.

    A host that serves many practices calls it once for the process, with a host that is also a
    :class:`hookspecs.host.Practices`: each practice's own services are ``host.practice(id)``, and
    a plugin opens a practice when a call for it first arrives (thousands of practices must not
    all be opened at start-up).

    :param host: the host's services (:class:`hookspecs.host.Host`), or the many practices' ones
        (:class:`hookspecs.host.Practices`).
    :return: nothing; the return value is ignored.
    """


@hookspec
def pm_shutdown() -> None:
    """Called once when the host stops, after it stops serving requests.

    Finish or release in-flight work so that nothing is lost: anything not done now must be
    picked up again after the next ``pm_startup``. The host waits for this hook to return.

    :return: nothing; the return value is ignored.
    """


# -- settings ------------------------------------------------------------------------------------


@hookspec
def validate_settings(
    plugin: str, settings: dict[str, Any], practice_id: str | None
) -> list[str] | None:
    """Called before an admin's save of a plugin's settings page is accepted.

    Every plugin sees every save: a plugin answers only when ``plugin`` is its own name.

    :param plugin: the name of the plugin whose settings are being saved (``"xero"``).
    :param settings: the settings as the admin submitted them (JSON-compatible).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: a list of error messages an admin can act on (``"account_codes.org-1.income.default:
        code '999' does not exist in Xero"``); empty or ``None`` when the settings are fine. The
        host joins the lists of all plugins and refuses the save if any message is returned.
    """


@hookspec
def on_settings_saved(plugin: str, settings: dict[str, Any], practice_id: str | None) -> None:
    """Called after the host stored a plugin's settings, or switched a plugin on.

    Also called when the admin switches a plugin back on in the host's plugin list (after the
    time it was off, during which none of its hooks were called): the plugin should catch up.

    :param plugin: the plugin whose settings changed.
    :param settings: the settings now in force.
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


# -- records -------------------------------------------------------------------------------------


@hookspec
def on_client_saved(client: Client, practice_id: str | None) -> None:
    """Called after a customer was created or changed and the change was committed.

    :param client: the customer as now stored (:class:`hookspecs.records.Client`).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec
def on_invoice_created(invoice: Invoice, practice_id: str | None) -> None:
    """Called after an invoice was created and committed.

    :param invoice: the invoice as stored (:class:`hookspecs.records.Invoice`).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec
def on_invoice_updated(invoice: Invoice, practice_id: str | None) -> None:
    """Called after an existing invoice was changed (lines, dates, customer) and committed.

    :param invoice: the invoice as now stored, whole (not a diff).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec
def on_invoice_voided(invoice: Invoice, practice_id: str | None) -> None:
    """Called after an invoice was voided; its ``status`` is ``voided``.

    :param invoice: the invoice as now stored.
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec
def on_credit_note_created(credit_note: CreditNote, practice_id: str | None) -> None:
    """Called after a credit note was issued, optionally against one invoice (``invoice_id``).

    :param credit_note: the credit note as stored (:class:`hookspecs.records.CreditNote`).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec
def on_payment_recorded(payment: Payment, practice_id: str | None) -> None:
    """Called after money was received: against invoices (``allocations``), or as an overpayment
    (the part of ``amount`` the allocations do not cover).

    :param payment: the payment as stored (:class:`hookspecs.records.Payment`).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec
def on_deposit_recorded(deposit: Deposit, practice_id: str | None) -> None:
    """Called after a deposit was taken, and again each time it changed: applied to an invoice
    (``allocations`` grew), or applied elsewhere. The whole deposit, not a diff.

    :param deposit: the deposit as now stored (:class:`hookspecs.records.Deposit`).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec
def on_refund_recorded(refund: Refund, practice_id: str | None) -> None:
    """Called after money was given back out of a credit note, an overpayment or a deposit.

    :param refund: the refund as stored (:class:`hookspecs.records.Refund`).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec
def on_payout_recorded(payout: Payout, practice_id: str | None) -> None:
    """Called after a card processor paid out: the card payments it settles, its fees, and what
    reached the bank. Called once the processor reports the payout (the host may learn of it
    days after the payments).

    :param payout: the payout as stored (:class:`hookspecs.records.Payout`).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


# -- admin actions -------------------------------------------------------------------------------


@hookspec
def start_contact_sync(location_id: str | None, practice_id: str | None) -> None:
    """Called when the admin presses "Start contact sync" on a plugin's settings page.

    :param location_id: the location tab the admin pressed it on; ``None`` for all locations.
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored. Long work runs in the background.
    """


@hookspec
def backfill(location_id: str | None, since: date | None, practice_id: str | None) -> None:
    """Called when the admin presses "Start syncing data": replay history into the sync.

    The plugin streams :meth:`hookspecs.host.Host.iter_history` itself; replaying twice must not
    send anything twice.

    :param location_id: one location, or ``None`` for all.
    :param since: the first business date to replay; ``None`` means the plugin's saved start date.
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: nothing; the return value is ignored.
    """


@hookspec(firstresult=True)
def sync_status(location_id: str | None, practice_id: str | None) -> dict[str, Any] | None:
    """Called when the host's accounting dashboard asks what to show.

    **firstresult**: the host stops at the first plugin that returns a non-``None`` result.

    :param location_id: one location's tab, or ``None`` for the whole business.
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: JSON-compatible dashboard data shaped as :data:`hookspecs.status.SyncStatusAnswer`
        (the whole picture, :class:`~hookspecs.status.SyncStatus`, or why there is none,
        :class:`~hookspecs.status.StatusUnavailable`), or ``None`` to let another plugin answer.
        The host renders it as-is.
    """


@hookspec(firstresult=True)
def admin_action(
    plugin: str, action: str, params: dict[str, Any], practice_id: str | None
) -> dict[str, Any] | None:
    """Called when an admin presses one of a plugin's buttons outside its own pages (the host's
    dashboard, a script, a support tool): the same actions the plugin's pages and CLI offer.

    **firstresult**: a plugin answers only when ``plugin`` is its own name.

    The Xero add-on's actions (``params`` in brackets; ``row_id`` is the ``row_id`` of a failure
    in :func:`sync_status`):

    * ``retry`` (``row_id``; or ``kind`` and/or ``tenant_id`` for every failure that matches,
      or ``all_failed`` for every failure)
    * ``resolve`` (``row_id``): hide a failure the admin fixed in Xero by hand
    * ``exclude`` (``row_id``): never send this record
    * ``include_parent`` (``row_id``; also spelt ``include_parent_invoice``, as a failure's
      ``actions`` in :func:`sync_status` lists it): send a payment's invoice dated before the
      start date too
    * ``link_contact`` (``row_id``, optional ``contact_id``) and ``create_distinct`` (``row_id``,
      optional ``name``): the ways out of a contact whose name Xero gives to another
    * ``refresh_accounts`` (``tenant_id``): read the organisation's chart of accounts again
    * ``disconnect`` (``location_id``): disconnect the location's organisation in Xero (when no
      other location uses it) and forget the connection; the location's records then wait for a
      connection. The settings are the host's: to unlink the location from that organisation for
      good, the host also saves its settings without it (the plugin's settings page does both)

    :param plugin: the plugin whose action it is (``"xero"``).
    :param action: the action's name, as above.
    :param params: its parameters (JSON-compatible).
    :param practice_id: the practice the call is for (``None``: the host serves one practice,
        and it is that one).
    :return: ``{"ok": bool, "message": str}`` – ``message`` in the admin's words, naming the
        record and what changed, or what is wrong (an unknown row, a move that is not allowed);
        a plugin never raises for an admin's mistake. ``None`` when ``plugin`` is not this one.
    """


@hookspec
def web_app() -> PluginApp | None:
    """Called after ``pm_startup``: the plugin's pages, for the host to mount.

    A host may ask at once or the first time a page is wanted (the reference host asks on the
    first request for the plugin's pages after it is switched on), and asks once per start.

    See :mod:`hookspecs.pages` for how the host mounts the app, tells it who is asking and for
    which practice, and what the app must check itself (admins only, CSRF, no secret in a page).

    :return: a :class:`hookspecs.pages.PluginApp`, or ``None`` for a plugin without pages.
    """
