"""The accounting dashboard and the start-date preview, drawn in a terminal with rich.

Input is the JSON-compatible data the host's own dashboard gets (``sync_status``, shape in
:mod:`pm_xero_plugin.dashboard.status`; the preview's in :mod:`pm_xero_plugin.dashboard.preview`),
so what an
operator sees in ``pm-xero status`` is what an admin sees in the host. Everything wraps to the
console's width and stays readable at 80 columns: tables have one short column per state, and
failures are blocks of wrapped text, not wide rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from pm_xero_plugin.dashboard.status import HELD_GATES
from pm_xero_plugin.invocation import program
from pm_xero_plugin.ledger.states import State

__all__ = ["print_preview", "print_rows", "print_status"]

_STATES = (
    (State.WAITING, "wait"),
    (State.READY, "ready"),
    (State.SENDING, "send"),
    (State.SYNCED, "synced"),
    (State.RETRYING, "retry"),
    (State.FAILED, "failed"),
    (State.EXCLUDED, "excl"),
    (State.REJECTED, "rej"),
)
_ROW_COLOURS: dict[str, str] = {State.SYNCED: "green", State.EXCLUDED: "yellow"}
"""A listed row's state colour (any other state is red)."""
_MESSAGE_FROM: dict[str, str] = {State.FAILED: "Xero", State.WAITING: "why", State.REJECTED: "why"}
"""Whose words a row's message is, by its state (``last message`` for the others)."""
_KIND_LABELS = {
    "contact": "contacts",
    "invoice": "invoices",
    "credit_note": "credit notes",
    "allocation": "allocations",
    "payment": "payments",
    "overpayment": "overpayments",
    "deposit": "deposits",
    "deposit_allocation": "deposit allocations",
    "credit_note_refund": "credit note refunds",
    "overpayment_refund": "overpayment refunds",
    "deposit_refund": "deposit refunds",
    "payout_fee": "payout fees",
    "payout": "payouts",
}
_SHOWN_FAILURES = 20
_ACTION_COMMANDS = {
    "retry": "{pm} retry {id}",
    "resolve": "{pm} resolve {id}",
    "exclude": "{pm} exclude {id}",
    "include_parent_invoice": "{pm} retry --include-parent {id}",
    "include_parent": "{pm} retry --include-parent {id}",
    "widen_start_date": "an earlier start date",
    "link_contact": "{pm} resolve {id} --link-contact",
    "create_distinct": "{pm} retry {id} --distinct-name",
}
"""Each action as the command that does it; ``{pm}`` is ``pm-xero`` written the way it was started
(:mod:`pm_xero_plugin.invocation`), so the command runs as printed."""
_MORE = "{pm} status --all, or filter with --state/--kind/--location/--search"


def more_options() -> str:
    """How to see the rows a listing cut off, as commands that run as printed."""
    return _MORE.format(pm=program())


def _label(kind: str, count: int = 2) -> str:
    plural = _KIND_LABELS.get(kind, kind.replace("_", " "))
    return plural[:-1] if count == 1 and plural.endswith("s") else plural


def _indented(text: str, style: str | None = None, indent: int = 2) -> Padding:
    """Wrapped text whose continuation lines keep the indent (readable at 80 columns)."""
    return Padding(Text(text, style=style or ""), (0, 0, 0, indent), expand=False)


def _organisation_lines(org: Mapping[str, Any]) -> list[Text]:
    tenant = org.get("tenant_id") or "?"
    locations = ", ".join(org.get("locations") or []) or "no location"
    lines = [Text.from_markup(f"[bold]Organisation {escape(tenant)}[/] ({escape(locations)})")]
    if org.get("connected"):
        lines.append(Text.from_markup("  connection: [green]connected[/]"))
    else:
        reason = org.get("connection_reason") or "not connected"
        lines.append(
            Text.from_markup(f"  connection: [red]reconnect needed[/] – {escape(str(reason))}")
        )
    codes = org.get("account_codes") or {}
    state = str(codes.get("state") or "unknown")
    colour = "green" if state == "ok" else "yellow" if state == "unverified" else "red"
    detail = f" – {escape(str(codes['detail']))}" if codes.get("detail") else ""
    lines.append(Text.from_markup(f"  account codes: [{colour}]{escape(state)}[/]{detail}"))
    contact_sync = str(org.get("contact_sync") or "?").replace("_", " ")
    data_sync = str(org.get("data_sync") or "?").replace("_", " ")
    lines.append(Text(f"  contact sync: {contact_sync}; data sync: {data_sync}"))
    clashes = int(org.get("contact_conflicts") or 0)
    if clashes:
        lines.append(
            Text.from_markup(
                f"  contact clashes: [yellow]{clashes} customer{'s' if clashes != 1 else ''} "
                "held[/] – Xero gives the name to a contact that is not ours (see below)"
            )
        )
    return lines


def _counts_table(counts: Mapping[str, Mapping[str, int]]) -> Table | None:
    rows = [(kind, c) for kind, c in counts.items() if any(c.get(s, 0) for s, _ in _STATES)]
    if not rows:
        return None
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False)
    table.add_column("record", no_wrap=True)
    for state, short in _STATES:
        style = {State.FAILED: "red", State.REJECTED: "red", State.SYNCED: "green"}.get(state)
        table.add_column(short, justify="right", style=style, no_wrap=True)
    for kind, c in rows:
        table.add_row(_label(kind), *(str(c.get(state, 0) or "·") for state, _ in _STATES))
    return table


def _money_flow_line(flows: Mapping[str, Mapping[str, int]]) -> str | None:
    """The money flows counted as a bookkeeper counts them (``payouts: 2 synced, 1 wait``;
    a payout's fees count with it, a deposit's allocations with it), flows with rows only."""
    said = []
    for group, by_state in flows.items():
        parts = [f"{by_state[state]} {short}" for state, short in _STATES if by_state.get(state)]
        if parts:
            said.append(f"{group}: {', '.join(parts)}")
    return "money flows – " + "; ".join(said) if said else None


def _failure_lines(failure: Mapping[str, Any]) -> list[Text | Padding]:
    kind = _label(str(failure.get("kind") or "record"), 1)
    number = f" #{failure['number']}" if failure.get("number") is not None else ""
    date = f", {failure['date']}" if failure.get("date") else ""
    where = failure.get("location_id") or failure.get("tenant_id") or ""
    where_text = f" at {where}" if where else ""
    state = str(failure.get("state") or "")
    if state == State.WAITING and failure.get("gate"):
        held = failure.get("gate") in HELD_GATES
        state = f"{'held' if held else 'waiting'}: {failure['gate']}"
    row_id = failure.get("row_id")
    head = f"[bold]row {row_id}[/] {escape(kind)}{escape(number)}{escape(date)}"
    colour = _ROW_COLOURS.get(state, "red")
    lines: list[Text | Padding] = [
        Text.from_markup(f"{head}{escape(where_text)} [{colour}]{escape(state)}[/]")
    ]
    if failure.get("why"):
        lines.append(_indented(f"why: {failure['why']}"))
    if failure.get("message"):
        said = _MESSAGE_FROM.get(str(failure.get("state")), "last message")
        lines.append(_indented(f"{said}: {failure['message']}"))
    if failure.get("hint"):
        lines.append(_indented(f"fix: {failure['hint']}"))
    actions = [
        _ACTION_COMMANDS.get(a, a).format(id=row_id, pm=program())
        for a in failure.get("actions") or []
    ]
    if actions:
        lines.append(_indented("ways out: " + "; ".join(actions), "dim"))
    return lines


def _conflict_lines(conflict: Mapping[str, Any]) -> list[Text | Padding]:
    """A contact held behind ``contact_name_taken``: who, the Xero contact with the name, how
    many documents wait for it, and each way out with its command."""
    name = str(conflict.get("name") or conflict.get("host_id") or "?")
    where = conflict.get("location_id") or conflict.get("tenant_id") or ""
    waiting = int(conflict.get("documents_waiting") or 0)
    head = (
        f"[bold]row {conflict.get('row_id')}[/] contact {escape(repr(name))}"
        f"{escape(f' at {where}' if where else '')} [yellow]held[/]"
        f" – {waiting} document{'s' if waiting != 1 else ''} waiting"
    )
    lines: list[Text | Padding] = [Text.from_markup(head)]
    theirs = conflict.get("xero_contact") or {}
    if theirs:
        number = theirs.get("ContactNumber")
        lines.append(
            _indented(
                f"Xero has {theirs.get('Name')!r} (ContactID {theirs.get('ContactID')}, "
                + (f"contact number {number})" if number else "no contact number)")
            )
        )
    if conflict.get("message"):
        lines.append(_indented(f"why: {conflict['message']}"))
    for way in conflict.get("ways_out") or []:
        lines.append(_indented(f"{way.get('command')} – {way.get('says')}", "dim", 4))
    return lines


def print_status(
    status: Mapping[str, Any],
    *,
    console: Console | None = None,
    max_failures: int | None = None,
) -> None:
    """Draw ``sync_status`` data: organisations, per-location counts, waits and failures
    (at most ``max_failures`` of them one by one; default a screenful)."""
    shown = _SHOWN_FAILURES if max_failures is None else max_failures
    out = console or Console()
    _print_health(out, status.get("health") or [])
    _print_heading(out, status)
    for section in status.get("sections") or []:
        _print_section(out, section)
    conflicts = list(status.get("contact_conflicts") or [])
    _print_failures(out, status, {c.get("row_id") for c in conflicts}, shown)
    if conflicts:
        _print_conflicts(out, conflicts, int(status.get("contact_conflicts_total") or 0))
    if "books" in status:
        _print_books(out, status.get("books"))
    for error in status.get("plugin_errors") or []:
        out.print(
            _indented(
                f"add-on error in {error.get('hook')} at {error.get('at')}: {error.get('error')}",
                "red",
                0,
            )
        )


def _print_health(out: Console, conditions: Sequence[Mapping[str, Any]]) -> None:
    """First, what stops the add-on itself (a full disk, tokens it cannot read…), each in words
    with what to do – the counts below cannot say it – or that nothing does."""
    if not conditions:
        out.print(Text.from_markup("[bold]Health:[/] [green]nothing stops the add-on[/]"))
        return
    errors = sum(1 for c in conditions if c.get("severity", "error") == "error")
    warnings = len(conditions) - errors
    said = [
        f"{n} {what}{'s' if n != 1 else ''}"
        for n, what in ((errors, "problem"), (warnings, "warning"))
        if n
    ]
    out.print(Text.from_markup(f"[bold]Health:[/] {escape(' and '.join(said))}"))
    for condition in conditions:
        colour = "red" if condition.get("severity", "error") == "error" else "yellow"
        seen = int(condition.get("count") or 1)
        since = condition.get("since")
        when = f"since {since}" if since else ""
        if seen > 1:
            when = f"{when}, seen {seen} times" if when else f"seen {seen} times"
        out.print(_indented(f"✗ {condition.get('message') or condition.get('condition')}", colour))
        if condition.get("action"):
            out.print(_indented(f"what to do: {condition['action']}", None, 4))
        if when:
            out.print(_indented(when, "dim", 4))


def _print_heading(out: Console, status: Mapping[str, Any]) -> None:
    """Whether the sync is on, its start date, and one block per organisation."""
    enabled = "[green]on[/]" if status.get("enabled") else "[red]off[/]"
    start = status.get("start_date")
    if start:
        locked = " (locked: it may only move earlier)" if status.get("start_date_locked") else ""
        start_text = f"start date {start}{locked}"
    else:
        start_text = "no start date chosen yet"
    out.print(Text.from_markup(f"[bold]Xero sync[/] {enabled} – {escape(start_text)}"))
    organisations = status.get("organisations") or []
    if not organisations:
        out.print("No location is linked to a Xero organisation yet.")
    for org in organisations:
        out.print()
        for line in _organisation_lines(org):
            out.print(line)


def _print_section(out: Console, section: Mapping[str, Any]) -> None:
    """One location in its organisation: the counts table, then why rows are excluded and
    what waits for what."""
    out.print()
    name = section.get("location_name") or section.get("location_id") or "no location"
    tenant = section.get("tenant_id") or "no organisation"
    out.print(Text.from_markup(f"[bold]{escape(str(name))}[/] → {escape(str(tenant))}"))
    table = _counts_table(section.get("counts") or {})
    if table is None:
        out.print("  nothing recorded yet")
    else:
        out.print(table)
    flows = _money_flow_line(section.get("money_flows") or {})
    if flows:
        out.print(_indented(flows))
    for excluded in section.get("excluded") or []:
        count = int(excluded.get("count") or 0)
        reasons = "; ".join(
            f"{r.get('reason')} ({r.get('count')})" for r in excluded.get("reasons") or []
        )
        out.print(
            _indented(f"{count} {_label(str(excluded.get('kind')), count)} excluded: {reasons}")
        )
    for wait in section.get("waiting") or []:
        count = int(wait.get("count") or 0)
        out.print(
            _indented(
                f"{count} {_label(str(wait.get('kind')), count)} waiting: "
                f"{wait.get('reason')} [{wait.get('gate')}]"
            )
        )


def _print_failures(
    out: Console, status: Mapping[str, Any], held_contacts: set[Any], shown: int
) -> None:
    """The rows needing attention, ``shown`` of them one by one, then how to see the rest.
    Held contacts are not repeated here: :func:`_print_conflicts` draws them with the contact
    Xero has and every way out."""
    failures = list(status.get("failures") or [])
    total = int(status.get("failures_total") or len(failures))
    out.print()
    if not failures:
        out.print(Text.from_markup("[green]No failures.[/]"))
        return
    out.print(Text.from_markup(f"[bold red]{total} need attention[/]"))
    listed = [f for f in failures if f.get("row_id") not in held_contacts]
    for failure in listed[:shown]:
        for part in _failure_lines(failure):
            out.print(part)
    shown = min(shown, len(listed)) + len(failures) - len(listed)
    if total > shown:
        out.print(_indented(f"… and {total - shown} more: {more_options()}", None, 0))


def _print_conflicts(out: Console, conflicts: list[Mapping[str, Any]], total: int) -> None:
    """The customers held on a name Xero gives to another contact, each with its ways out."""
    held_total = total or len(conflicts)
    out.print()
    out.print(
        Text.from_markup(
            f"[bold yellow]{held_total} customer{'s' if held_total != 1 else ''} held[/]: "
            "Xero gives the name to a contact without our contact number (not adopted "
            "silently); each way out:"
        )
    )
    for conflict in conflicts[:_SHOWN_FAILURES]:
        for part in _conflict_lines(conflict):
            out.print(part)
    if held_total > min(len(conflicts), _SHOWN_FAILURES):
        more = held_total - min(len(conflicts), _SHOWN_FAILURES)
        out.print(_indented(f"… and {more} more: {program()} status --json", None, 0))


_SHOWN_DIFFERENCES = 5
"""Open differences a terminal's Books block lists per organisation (``pm-xero reconcile``
lists them all)."""


def _print_books(out: Console, books: Mapping[str, Any] | None) -> None:
    """The last reconciliation with Xero, short: per organisation what was checked and read,
    how many differences are open (the first few, each with its key and what to fix), and the
    command that lists and acts on them."""
    from pm_xero_plugin.dashboard.books import NEVER_RECONCILED

    out.print()
    if not books:
        out.print(Text.from_markup(f"[bold]Books:[/] {escape(NEVER_RECONCILED)}"))
        return
    clean = "[green]clean[/]" if books.get("clean") else "[yellow]not clean[/]"
    out.print(
        Text.from_markup(
            f"[bold]Books[/] (reconciled {escape(str(books.get('generated_at')))}): {clean}"
        )
    )
    for org in books.get("organisations") or []:
        name = org.get("name") or org.get("tenant_id")
        read = f"Xero read {org['read_at']}" if org.get("read_at") else "Xero never read"
        open_n = int(org.get("differences_total") or 0)
        days = int(org.get("day_totals_total") or 0)
        out.print(
            _indented(
                f"{name}: {org.get('checked')} checked, {read}, "
                f"{org.get('calls_today')}/{org.get('call_budget')} calls today, "
                f"{org.get('events_pending')} events pending; {open_n} open difference"
                f"{'s' if open_n != 1 else ''}, {days} day{' differs' if days == 1 else 's differ'}"
            )
        )
        if org.get("incomplete"):
            out.print(_indented(f"incomplete: {org['incomplete']}", "yellow", 4))
        for d in (org.get("differences") or [])[:_SHOWN_DIFFERENCES]:
            out.print(
                _indented(
                    f"{d.get('key')} {d.get('label')}: "
                    f"{str(d.get('difference')).replace('_', ' ').replace('xero', 'Xero')} – "
                    f"{d.get('fix')}",
                    None,
                    4,
                )
            )
    if not books.get("clean"):
        out.print(_indented(f"list and act: {program()} reconcile", "dim", 2))


def _in_xero(synced: int, found: Any) -> str:
    """The preview's "in Xero" cell: what the add-on already synced *is* in Xero, plus what the
    look-up found there by number; ``+?`` when no look-up was made (more may be there)."""
    if found is None:
        return f"{synced}+?" if synced else "?"
    return str(synced + int(found))


def print_rows(
    rows: Sequence[Mapping[str, Any]],
    total: int,
    described: str,
    *,
    shown: int | None = None,
    console: Console | None = None,
) -> None:
    """Draw a filtered row list (``pm-xero status --state/--kind/--search``): each row with
    its state, reason and ways out, then how many more match and how to see them."""
    out = console or Console()
    if not total:
        out.print(f"No rows {described}.")
        return
    out.print(Text.from_markup(f"[bold]{total} row{'s' if total != 1 else ''}[/] {described}"))
    limit = len(rows) if shown is None else min(shown, len(rows))
    for row in rows[:limit]:
        for part in _failure_lines(row):
            out.print(part)
    if total > limit:
        out.print(_indented(f"… and {total - limit} more: {more_options()}", None, 0))


def print_preview(report: Mapping[str, Any], *, console: Console | None = None) -> None:
    """Draw a start-date preview (:func:`pm_xero_plugin.dashboard.preview.preview`)."""
    out = console or Console()
    out.print(
        Text.from_markup(
            f"[bold]Preview[/]: what start date {escape(str(report.get('start_date')))} "
            "would send to Xero"
        )
    )
    if report.get("lookup_note"):
        out.print(_indented(str(report["lookup_note"]), "yellow", 0))
    out.print(
        _indented(
            "synced: sent by this add-on; in Xero: those plus what Xero already has by number "
            "(linked, not created again)",
            "dim",
            0,
        )
    )
    for org in report.get("organisations") or []:
        out.print()
        tenant = org.get("tenant_id") or "no organisation"
        locations = ", ".join(org.get("locations") or [])
        currencies = "/".join(org.get("currencies") or [])
        out.print(
            Text.from_markup(
                f"[bold]{escape(str(tenant))}[/] ({escape(locations)}) {escape(currencies)}"
            )
        )
        table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False)
        for column, justify in (
            ("record", "left"),
            ("count", "right"),
            ("total", "right"),
            ("dates", "left"),
            ("synced", "right"),
            ("in Xero", "right"),
        ):
            table.add_column(column, justify=justify, no_wrap=column != "dates")  # type: ignore[arg-type]
        for kind, numbers in (org.get("kinds") or {}).items():
            if not numbers.get("count"):
                continue
            first, last = numbers.get("first_date"), numbers.get("last_date")
            dates = f"{first}..{last}" if first and last and first != last else first or ""
            synced = int(numbers.get("already_synced") or 0)
            table.add_row(
                _label(kind),
                str(numbers.get("count")),
                str(numbers.get("total") or ""),
                dates,
                str(synced),
                _in_xero(synced, numbers.get("already_in_xero")),
            )
        if table.row_count:
            out.print(table)
        else:
            out.print("  nothing to send")
        flows = [
            f"{flow} {numbers.get('count')} ({numbers.get('total')})"
            for flow, numbers in (org.get("money_flows") or {}).items()
            if numbers.get("count")
        ]
        if flows:
            out.print(_indented("money flows: " + ", ".join(flows)))
        for held in org.get("held") or []:
            count = int(held.get("count") or 0)
            out.print(
                _indented(
                    f"held: {count} {_label(str(held.get('kind')), count)} "
                    f"({held.get('total')}) – {held.get('reason')}",
                    "yellow",
                )
            )
        for warning in org.get("warnings") or []:
            out.print(_indented(f"warning: {warning}", "bold yellow"))
        records = list((org.get("contact_conflicts") or {}).get("records") or [])
        for conflict in records[:_SHOWN_FAILURES]:
            for part in _conflict_lines(conflict):
                out.print(Padding(part, (0, 0, 0, 2)))
