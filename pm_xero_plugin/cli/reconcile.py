"""``pm-xero reconcile``: the host's books beside Xero's, and the admin's choices for what differs.

A bookkeeper keeps working in Xero after the sync (voids, deletes, edits, allocates by hand);
this verb says where the two sides agree and lists, one line each, where they do not – with the
key an action takes (``<row id>:<difference>``), the actions that fit and what to fix where
(docs/reconciliation.md). Without action options it runs one pass
(:class:`~pm_xero_plugin.sync.books.XeroBooks`: pending webhook events, a read of Xero within its
share of the day's calls unless ``--no-read``, the comparison) and prints the report; with
``--accept/--resend/--relink KEY`` it applies those first (``Engine.books_act``), then runs the
pass, so what it prints is the state after them.

The exit status is for scripts: 0 clean (nothing open, Xero's side read completely), 1 open
differences or an incomplete read, 2 bad input (a malformed or unknown key, an action that does
not fit). Like every verb, a failure is one line (:mod:`pm_xero_plugin.cli.boundary`).

The table is :func:`report_lines` – plain text from a :class:`BooksReport`, so what a person
reads is tested without a pass; ``--json`` is the report itself (``asdict``) with each
difference's ``key`` and the report's ``clean``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from pm_xero_plugin.cli.ops import data_dir_option
from pm_xero_plugin.invocation import program

if TYPE_CHECKING:
    from pm_xero_plugin.cli.ops import Opened
    from pm_xero_plugin.core.books import BooksReport, Difference, TenantBooks
    from pm_xero_plugin.sync.runtime import AppConfig

__all__ = [
    "DECIDED_SHOWN",
    "exit_status",
    "for_location",
    "parse_key",
    "reconcile_command",
    "report_json",
    "report_lines",
]

DECIDED_SHOWN: Final = 10
"""Decided differences listed one line each (the rest are counted)."""

_KEY: Final = re.compile(r"([0-9]{1,18}):([a-z_]{1,40})")
_DIFFERENCES: Final = (
    "missing_in_xero",
    "deleted_in_xero",
    "voided_in_xero",
    "amount_changed",
    "contact_changed",
    "details_changed",
    "paid_in_xero",
    "allocated_in_xero",
)
""":data:`pm_xero_plugin.core.books.DIFFERENCE_KINDS`, literal so that ``--help`` stays fast
(a test holds them equal)."""


def parse_key(key: str) -> tuple[int, str]:
    """A difference's key as ``(row id, difference)``.

    :raises click.BadParameter: it is not ``<row id>:<difference>`` with a known difference.
    """
    found = _KEY.fullmatch(key.strip())
    if found is None:
        raise click.BadParameter(
            f"{key!r} is not a difference's key: give <row id>:<difference> as "
            f"{program()} reconcile prints it (e.g. 12:voided_in_xero)"
        )
    if found.group(2) not in _DIFFERENCES:
        raise click.BadParameter(
            f"{key!r}: {found.group(2)!r} is not a difference (one of {', '.join(_DIFFERENCES)})"
        )
    return int(found.group(1)), found.group(2)


def _keys(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        parse_key(value)
    return tuple(v.strip() for v in values)


@click.command("reconcile")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--no-read",
    is_flag=True,
    help="Do not read Xero's books: compare with the copies the add-on keeps (records a "
    "webhook said changed are still read again).",
)
@click.option(
    "--full",
    is_flag=True,
    help="read all of Xero's books, not only what changed (also finds documents Xero no "
    "longer has)",
)
@click.option("--location", "location_id", help="Only this location's organisation and records.")
@click.option(
    "--accept",
    "accept",
    multiple=True,
    callback=_keys,
    metavar="KEY",
    help="Accept Xero's version of this difference (repeatable).",
)
@click.option(
    "--resend",
    "resend",
    multiple=True,
    callback=_keys,
    metavar="KEY",
    help="Send the host's version to Xero again (repeatable).",
)
@click.option(
    "--relink",
    "relink",
    multiple=True,
    callback=_keys,
    metavar="KEY",
    help="Link the record to the Xero document that is provably the same (repeatable).",
)
def reconcile_command(
    data_dir: Path,
    as_json: bool,
    no_read: bool,
    full: bool,
    location_id: str | None,
    accept: tuple[str, ...],
    resend: tuple[str, ...],
    relink: tuple[str, ...],
) -> None:
    """The host's totals beside Xero's per organisation, location, day and kind, and every
    record that differs with its key, the actions that fit and what to fix where. --accept,
    --resend, --relink KEY apply an action first. Exit 0 clean, 1 differences open (or Xero
    not read completely), 2 bad input."""
    from pm_xero_plugin.cli.boundary import BadInput
    from pm_xero_plugin.cli.ops import _check_location, check_data_dir, open_data_dir, to_json

    if full and no_read:
        raise BadInput("--full reads Xero's books and --no-read does not: choose one")
    check_data_dir(data_dir)
    chosen = {"accept": accept, "resend": resend, "relink": relink}
    with open_data_dir(data_dir) as opened:  # not a practice's directory: said first
        config = _config(data_dir)  # before any action: a refusal then changes nothing
        _check_location(opened, location_id)
        tenant_ids = _tenants(opened, location_id)
        said = _apply(opened, chosen)
        report = _run_pass(opened, config, read=not no_read, full=full, tenant_ids=tenant_ids)
    if location_id is not None:
        report = for_location(report, location_id)
    for line in said:  # with --json on stderr: stdout stays one JSON document
        click.echo(line, err=as_json)
    if as_json:
        click.echo(to_json(report_json(report)))
    else:
        for line in report_lines(report):
            click.echo(line)
    status = exit_status(report)
    if status:
        raise SystemExit(status)


def _apply(opened: Opened, chosen: dict[str, tuple[str, ...]]) -> list[str]:
    """The admin's actions through the engine, each answered with its sentence; a refused one
    is the person's mistake (exit 2), and the ones before it stand (each is its own change)."""
    from pm_xero_plugin.cli.boundary import BadInput

    said = []
    for action, keys in chosen.items():
        for key in keys:
            try:
                said.append(opened.engine.books_act(key, action, by="cli"))
            except ValueError as exc:  # BooksActionRefused: already in the admin's words
                raise BadInput(f"--{action} {key}: {exc}") from None
    return said


def _config(data_dir: Path) -> AppConfig:
    """The Xero app (the environment's, else a demo's recorded in ``data_dir``): a pass needs
    its client, as ``pm-xero worker`` does, even without a read (webhook events are handled)."""
    from pm_xero_plugin.cli.boundary import BadInput
    from pm_xero_plugin.cli.ops import _ENV_HELP, _check_config
    from pm_xero_plugin.demo.state import app_config

    config = app_config(data_dir)
    if config is None:
        raise BadInput(_ENV_HELP)
    _check_config(config)
    return config


def _tenants(opened: Opened, location_id: str | None) -> list[str] | None:
    """The organisations a pass covers: ``--location``'s (``None``: every one mapped).

    :raises BadInput: no location is linked to an organisation, or not this one."""
    from pm_xero_plugin.cli.boundary import BadInput

    settings = opened.engine.settings
    if settings is None or not settings.tenants(list(opened.engine.locations())):
        raise BadInput("no location is linked to a Xero organisation yet: nothing to reconcile")
    if location_id is None:
        return None
    tenant = settings.tenant_for(location_id)
    if tenant is None:
        raise BadInput(f"location {location_id!r} is not linked to a Xero organisation")
    return [tenant]


def _run_pass(
    opened: Opened,
    config: AppConfig,
    *,
    read: bool,
    full: bool = False,
    tenant_ids: list[str] | None,
) -> BooksReport:
    """One reconciliation pass (Xero read within its budget when ``read``, in full with
    ``full``: the documents of ours it does not return are looked up by id; the webhook events
    kept are handled either way). The pass never raises: an organisation it could not read is
    ``incomplete``, with why."""
    from pm_xero_plugin.cli.ops import _runtime
    from pm_xero_plugin.sync.books import XeroBooks

    runtime = _runtime(opened, config)
    try:
        books = XeroBooks(opened.engine, runtime.client, runtime.connection_for)
        return books.run_pass(read=read, full=full, tenant_ids=tenant_ids)
    finally:
        runtime.stop()


# -- what it prints -----------------------------------------------------------------------------


def exit_status(report: BooksReport) -> int:
    """0 clean, 1 differences open or Xero's side not read completely."""
    return 0 if report.clean else 1


def for_location(report: BooksReport, location_id: str) -> BooksReport:
    """The report narrowed to one location: its organisation's header, its day totals and its
    differences (``differences_total`` then counts the open ones listed: the kept report caps
    its list, so a narrowed total is at most what the organisation's list holds)."""
    tenants = []
    for t in report.tenants:
        differences = [d for d in t.differences if d.location_id == location_id]
        totals = [d for d in t.totals if d.location_id == location_id]
        if not differences and not totals:
            continue
        tenants.append(
            replace(
                t,
                totals=totals,
                differences=differences,
                differences_total=sum(1 for d in differences if d.decided is None),
            )
        )
    return replace(report, tenants=tenants)


def report_json(report: BooksReport) -> dict[str, Any]:
    """``--json``: the report as kept (``asdict``), each difference with its ``key``, and
    ``clean``."""
    data = asdict(report)
    for tenant, kept in zip(data["tenants"], report.tenants, strict=True):
        for entry, difference in zip(tenant["differences"], kept.differences, strict=True):
            entry["key"] = difference.key
    data["clean"] = report.clean
    return data


def _header(t: TenantBooks) -> list[str]:
    name = f"{t.name} ({t.tenant_id})" if t.name else t.tenant_id
    read = f"Xero read {_when(t.read_at)}" if t.read_at else "Xero never read"
    lines = [
        f"Organisation {name}: {t.checked} record{'s' if t.checked != 1 else ''} checked; "
        f"{read}; {t.calls_today}/{t.call_budget} calls today; "
        f"{t.events_pending} event{'s' if t.events_pending != 1 else ''} pending"
    ]
    if t.not_read:
        lines.append(f"  not read from Xero yet (not compared): {t.not_read}")
    if t.incomplete:
        lines.append(f"  incomplete: {t.incomplete}")
    if t.kinds_not_checked:
        lines.append(
            f"  not checked against Xero yet (host totals only): {', '.join(t.kinds_not_checked)}"
        )
    return lines


def _columns(rows: Sequence[Sequence[str]], right: frozenset[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "    "
        + "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def _days(t: TenantBooks) -> list[str]:
    """The day totals that differ as a table; the ``pending`` and ``not read`` columns only when
    a day has records on their way or not read from Xero yet."""
    from pm_xero_plugin.dashboard.books import differing_days

    days = differing_days(t.totals)
    if not days:
        return ["  day totals: the same on both sides" if t.totals else "  day totals: none"]
    head = ["location", "day", "kind", "host", "total", "xero", "total"]
    extra = [
        (name, attr)
        for name, attr in (("pending", "pending"), ("not read", "not_read"))
        if any(getattr(d, attr) for d in days)
    ]
    rows = [head + [name for name, _ in extra]]
    for d in days:
        cells = [d.location_id, d.day, d.kind, str(d.host_count), d.host_total]
        cells += [str(d.xero_count), d.xero_total]
        cells += [str(getattr(d, attr) or "") for _, attr in extra]
        rows.append(cells)
    said = f"  {len(days)} day{' differs' if len(days) == 1 else 's differ'} (host against Xero):"
    return [said, *_columns(rows, frozenset(range(3, len(head) + len(extra))))]


def _words(difference: str) -> str:
    return difference.replace("_", " ").replace("xero", "Xero")


def _open_lines(d: Difference) -> list[str]:
    actions = ", ".join(d.actions) if d.actions else "none (fix it by hand)"
    return [
        f"    {d.key}  {d.label}: {_words(d.difference)} – host {d.host}; Xero {d.xero}; "
        f"actions: {actions}",
        f"      fix: {d.fix}",
    ]


def _decided_line(d: Difference) -> str:
    by = f" by {d.decided_by}" if d.decided_by else ""
    at = f" at {d.decided_at}" if d.decided_at else ""
    return f"    {d.key}  {d.label}: {_words(d.difference)} – {d.decided}{by}{at}"


def _differences(t: TenantBooks) -> list[str]:
    opened = [d for d in t.differences if d.decided is None]
    decided = [d for d in t.differences if d.decided is not None]
    total = max(t.differences_total, len(opened))
    lines = (
        [f"  {total} open difference{'s' if total != 1 else ''}:"]
        if total
        else ["  no open difference"]
    )
    for d in opened:
        lines += _open_lines(d)
    if total > len(opened):
        lines.append(f"  … and {total - len(opened)} more ({program()} reconcile --json)")
    if decided:
        lines.append(f"  {len(decided)} decided (listed until either side changes):")
        lines += [_decided_line(d) for d in decided[:DECIDED_SHOWN]]
        if len(decided) > DECIDED_SHOWN:
            lines.append(f"  … and {len(decided) - DECIDED_SHOWN} more decided")
    return lines


def report_lines(report: BooksReport) -> list[str]:
    """The report as a person reads it: per organisation its header, the day totals that
    differ, each open difference (key, record, what differs, both sides, actions, fix), the
    decided ones briefly; last, whether it is clean and how to act."""
    lines = [f"Reconciliation with Xero at {report.generated_at}"]
    if not report.tenants:
        lines.append("No organisation to reconcile.")
    for t in report.tenants:
        lines.append("")
        lines += _header(t)
        lines += _days(t)
        lines += _differences(t)
    lines.append("")
    if report.clean:
        lines.append("Clean: the host's books and Xero's agree.")
    elif report.open:
        pm = program()
        lines.append(
            f"{len(report.open)} open: act with {pm} reconcile --accept KEY, --resend KEY or "
            "--relink KEY (the actions each lists), or fix it where its line says."
        )
    else:
        lines.append("Not clean: Xero's side was not read completely (see incomplete above).")
    return lines


def _when(iso: str) -> str:
    """A kept moment as a person reads it (``2026-12-02 04:20 UTC``); as kept if unreadable."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")
