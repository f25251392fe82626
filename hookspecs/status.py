"""The shape of the dashboard data a sync plugin returns from :func:`hookspecs.spec.sync_status`.

A plugin that sends the practice's records to an accounting system answers ``sync_status``
with one JSON-compatible mapping shaped as :data:`SyncStatusAnswer`: either the whole picture
(:class:`SyncStatus`) or, when it cannot give it (not started, its store cannot be opened), a
:class:`StatusUnavailable` saying why. A host can render either without knowing the plugin:
every message in it is already in the admin's words, every row has the id the plugin's
:func:`hookspecs.spec.admin_action` takes (``row_id``), and every way out names its action.

Words used below
    *organisation*: one account (a "tenant") in the accounting system; a practice's locations
    send to one organisation each, or share one. *kind*: what a row is (a contact, an invoice, a
    credit note, a credit-note allocation, a payment, an overpayment, a deposit, a deposit's
    allocation to an invoice, a refund of a credit note, of an overpayment or of a deposit, a
    card payout, a payout's processing fees). *money flow*: the kinds of one flow of money
    counted together (``payouts``: payouts and their fees; ``deposits``: deposits and their
    allocations; ``refunds``: the three kinds of refund). *state*: where a row is on
    its way (``waiting``, ``ready``, ``sending``, ``synced``, ``retrying``, ``failed``,
    ``excluded``, ``rejected``). *gate*: why a waiting row waits (its reason is given beside it).
    *reconciliation*: the host's books put beside the accounting system's after the sync (a
    bookkeeper keeps working there), with every record that differs (:class:`BooksStatus`).

Keys are present as the classes say: a class's own keys always, the keys of its ``…Extras``
base (``total=False``) only when they apply. Values that may be absent in the data are
``None``, never missing. Dates are ISO ``YYYY-MM-DD``, moments ISO 8601 with an offset.
"""

from typing import Any, Literal, TypedDict

__all__ = [
    "AccountCodesState",
    "BooksDayTotal",
    "BooksDifference",
    "BooksOrganisation",
    "BooksStatus",
    "ContactConflict",
    "Failure",
    "HealthCondition",
    "OrganisationStatus",
    "PluginError",
    "RecordsWaiting",
    "SectionStatus",
    "StatusUnavailable",
    "SyncStatus",
    "SyncStatusAnswer",
    "WaitingGroup",
    "WayOut",
]


class AccountCodesState(TypedDict):
    """Whether an organisation's account codes, as mapped in the settings, fit its chart."""

    state: Literal["ok", "missing", "unverified", "invalid"]
    """``missing``: none mapped; ``unverified``: the chart was never read (not connected);
    ``invalid``: some code is not in the chart (``detail`` says which); ``ok``."""
    detail: str | None


class OrganisationStatus(TypedDict):
    """One organisation: its connection, its codes, and how far its syncs are."""

    tenant_id: str
    locations: list[str]
    """The location ids that send to it."""
    connected: bool
    connection_reason: str | None
    """Why it is not connected, and what to do (``None`` when connected)."""
    account_codes: AccountCodesState
    contact_sync: Literal["not_started", "running", "up_to_date"]
    contact_conflicts: int
    """How many of its contacts are held for an admin (see :class:`ContactConflict`)."""
    data_sync: Literal["not_started", "waiting_for_date", "running", "up_to_date"]
    """``waiting_for_date``: the start date is still ahead in a location's time zone."""


class WaitingGroup(TypedDict):
    """Rows of one kind waiting at one gate, counted, with the gate's reason."""

    kind: str
    gate: str | None
    count: int
    reason: str


class SectionStatus(TypedDict):
    """One location in one organisation: counts by kind and state, and what waits why."""

    location_id: str | None
    location_name: str | None
    tenant_id: str | None
    """``None``: the location is not linked to an organisation yet."""
    counts: dict[str, dict[str, int]]
    """kind -> state -> how many rows (every kind and state present, zeros included)."""
    money_flows: dict[str, dict[str, int]]
    """``payouts`` / ``deposits`` / ``refunds`` -> state -> how many rows of the flow's kinds
    (the sums of their ``counts``; every flow and state present, zeros included). Shown beside
    the documents, the way a bookkeeper counts them; do not add them to ``counts`` (they are
    the same rows)."""
    waiting: list[WaitingGroup]


class Failure(TypedDict):
    """A row an admin must look at: failed, rejected, or held until someone decides."""

    row_id: int
    """What :func:`hookspecs.spec.admin_action` takes as ``row_id``."""
    kind: str
    host_id: str
    """The host's id of the record (a payment's row adds ``:<invoice id>``)."""
    number: int | None
    """The host's number of the record."""
    date: str | None
    location_id: str | None
    tenant_id: str | None
    state: str
    gate: str | None
    message: str | None
    """The accounting system's own message (else the gate's reason)."""
    field: str | None
    """The field the message is about, when the accounting system names one."""
    hint: str | None
    """What to do about it, in the admin's words."""
    attempts: int
    updated_at: str | None
    actions: list[str]
    """The ways out: admin actions as :func:`hookspecs.spec.admin_action` names them
    (``retry``, ``resolve``, ``exclude``, ``include_parent_invoice``, ``include_parent`` – the
    credit a refund or allocation draws on is dated before the start date: send it too –,
    ``link_contact``, ``create_distinct``), or ``widen_start_date`` – no action, but the
    plugin's start date setting moved earlier."""


class _WayOutKeys(TypedDict):
    action: str
    """The admin action that takes this way (``link_contact``, ``create_distinct``, ``retry``,
    ``exclude``)."""
    command: str
    """The same from a terminal (the plugin's own command line)."""
    says: str
    """What choosing it means, in the admin's words."""


class WayOut(_WayOutKeys, total=False):
    """One way out of a contact conflict."""

    contact_id: str | None
    """``link_contact``: the accounting system's contact to link to."""
    name: str | None
    """``create_distinct``: the name proposed for ours."""


class ContactConflict(TypedDict):
    """A customer held because the accounting system gives its name to a contact that is not
    provably ours: linked or renamed only by an admin."""

    row_id: int
    host_id: str
    number: int | None
    contact_number: str | None
    """Our contact number in the accounting system (``None`` while it cannot be told)."""
    name: str | None
    location_id: str | None
    tenant_id: str | None
    xero_contact: dict[str, Any] | None
    """The accounting system's contact that has the name, in that system's own field names
    (``None`` when it could not be found)."""
    message: str | None
    documents_waiting: int
    ways_out: list[WayOut]


class HealthCondition(TypedDict):
    """What stops the plugin (or should be known), in words, with what to do."""

    condition: str
    """A stable name, for code and tests (``ledger_unwritable``, ``tokens:<organisation>`` …)."""
    severity: Literal["error", "warning"]
    message: str
    action: str
    since: str
    count: int


class PluginError(TypedDict):
    """An exception a hook caught rather than raise into the host (newest last)."""

    hook: str
    error: str
    at: str


class RecordsWaiting(TypedDict):
    """Records the plugin kept because its store could not take them yet."""

    waiting: int
    only_in_memory: int
    only_in_the_spool: int
    spool: str | None
    dropped_unreconciled: int


class BooksDifference(TypedDict):
    """One record whose two sides differ (the accounting system's against the host's), with
    the admin actions that fit (:func:`hookspecs.spec.admin_action` takes its ``key``)."""

    key: str
    """What names it for an action: ``<row id>:<difference>``."""
    row_id: int
    kind: str
    """The record's kind (``invoice``, ``payment`` …)."""
    location_id: str | None
    day: str | None
    label: str
    """The record as the admin knows it (``INV-12 Ann Lee``)."""
    difference: str
    """What differs: ``missing_in_xero``, ``deleted_in_xero``, ``voided_in_xero``,
    ``amount_changed``, ``contact_changed``, ``details_changed``, ``paid_in_xero``,
    ``allocated_in_xero``."""
    host: str
    """The host's side in words (``total 120.00``)."""
    xero: str
    """The accounting system's side in words (``VOIDED``, ``email ann@new.example``)."""
    actions: list[str]
    """The plugin's actions that fit, best first, as :func:`hookspecs.spec.admin_action` names
    them (``books_resend``, ``books_relink``, ``books_accept``, param ``key``); may be empty
    when only ``fix`` helps."""
    fix: str
    """What to fix where, in the admin's words."""


class BooksDayTotal(TypedDict):
    """One location's, day's and kind's totals on both sides, where they differ."""

    location_id: str
    day: str
    kind: str
    host_count: int
    host_total: str
    """A decimal string, 2 places."""
    xero_count: int
    xero_total: str
    """What the accounting system holds for the same records (voided or deleted count 0)."""
    pending: int
    """The host's records of the day still on their way (not a difference)."""
    not_read: int
    """The host's records of the day whose version in the accounting system is not read yet
    (not compared, not a difference)."""


class BooksOrganisation(TypedDict):
    """One organisation's last reconciliation."""

    tenant_id: str
    name: str | None
    checked: int
    """The host's records compared."""
    not_read: int
    """The host's records in the accounting system whose version there is not read yet."""
    read_at: str | None
    """When the accounting system's side was last read (``None``: never)."""
    calls_today: int
    """Calls the reconciliation made to it today."""
    call_budget: int
    """Its share of the organisation's day limit."""
    events_pending: int
    """Change notifications (webhook events) received and not yet handled."""
    incomplete: str | None
    """Why its side is not all read (the budget spent, unreachable …), or ``None``."""
    kinds_not_checked: list[str]
    """Kinds present whose side in the accounting system is not read back (host totals only)."""
    differences_total: int
    """Open differences in all (``differences`` lists the first of them)."""
    decided_total: int
    """Differences an admin (or the plugin's setting) already decided, still standing."""
    differences: list[BooksDifference]
    """The first open differences (at most 20)."""
    day_totals: list[BooksDayTotal]
    """The day totals that differ (capped; ``day_totals_total`` counts them all)."""
    day_totals_total: int


class BooksStatus(TypedDict):
    """The last reconciliation with the accounting system's books, as kept (no call is made
    to show it)."""

    generated_at: str
    """When the pass ran."""
    clean: bool
    """Nothing open and every organisation read completely."""
    organisations: list[BooksOrganisation]


class _SyncStatusKeys(TypedDict):
    plugin: str
    generated_at: str
    enabled: bool
    """Whether records flow (switched on in the host and in its settings)."""
    start_date: str | None
    start_date_locked: bool
    """Data has synced: the start date may only move earlier."""
    organisations: list[OrganisationStatus]
    sections: list[SectionStatus]
    failures: list[Failure]
    """Capped (newest first); ``failures_total`` counts them all."""
    failures_total: int
    contact_conflicts: list[ContactConflict]
    contact_conflicts_total: int
    health: list[HealthCondition]
    plugin_errors: list[PluginError]


class SyncStatus(_SyncStatusKeys, total=False):
    """The whole picture (the answer of a running plugin)."""

    background_jobs: list[str]
    """Long jobs (back-sync, contact sync, reconciliation …): the running one first."""
    books: BooksStatus | None
    """The last reconciliation with the accounting system (a plugin that reconciles always
    gives the key): ``None`` when it never ran – the host says so in a sentence."""


class _StatusUnavailableKeys(TypedDict):
    plugin: str
    error: str
    """Why there is no picture, in the admin's words."""


class StatusUnavailable(_StatusUnavailableKeys, total=False):
    """The answer of a plugin that cannot give the picture now."""

    health: list[HealthCondition]
    records_waiting: RecordsWaiting


SyncStatusAnswer = SyncStatus | StatusUnavailable
"""What ``sync_status`` returns: :class:`StatusUnavailable` when it has ``error``."""
