"""The dashboard's admin actions from a terminal: ``retry``, ``resolve`` and ``exclude``.

The same three ways out the accounting dashboard offers on a failure (see
:mod:`pm_xero_plugin.dashboard.status`, ``actions``), plus "send the parent invoice too" for a
payment held
because its invoice is dated before the start date (``retry --include-parent ROW_ID``). Each
verb says what changed; an unknown row or organisation is the person's mistake (exit 2, naming
it), a move the ledger's state machine refuses (a synced record cannot be excluded, …) exits 1
with a plain message, so scripts can tell.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pm_xero_plugin.cli.boundary import BadInput
from pm_xero_plugin.cli.ops import RECORD_KINDS, data_dir_option, open_data_dir
from pm_xero_plugin.core.admin import row_label
from pm_xero_plugin.invocation import pm_xero

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine

__all__ = ["RECORD_KINDS", "exclude_command", "resolve_command", "retry_command"]

_PAST = {
    "retry": "retried",
    "resolve": "resolved",
    "exclude": "excluded",
    "include_parent": "given its parent invoice",
    "link_contact": "linked to a Xero contact",
    "distinct_name": "given a distinct name",
}


def _describe(engine: Engine, row_id: int) -> str:
    row = engine.ledger.get(row_id)
    if row is None:
        raise BadInput(f"no ledger row {row_id} (see `{pm_xero('status', '--all')}` for row ids)")
    return row_label(row)


def _check_tenant(engine: Engine, tenant_id: str | None) -> None:
    """``--tenant`` must name an organisation the add-on knows (mapped, or in the ledger)."""
    if tenant_id is None:
        return
    known = set(engine.settings.tenant_ids()) if engine.settings is not None else set()
    known.update(t.tenant_id for t in engine.ledger.tenants())
    if tenant_id not in known:
        names = ", ".join(sorted(known)) or "none yet"
        raise BadInput(f"unknown organisation {tenant_id!r} (known: {names})")


def _state(engine: Engine, row_id: int) -> str:
    from pm_xero_plugin.ledger.states import State

    row = engine.ledger.get(row_id)
    if row is None:
        return "gone"
    return f"{row.state} ({row.gate})" if row.state == State.WAITING and row.gate else row.state


def _act(engine: Engine, row_id: int, verb: str, value: str | None = None) -> None:
    """Run one admin action on one row and print the move; exit 1 if the ledger refuses.
    ``value``: the Xero ContactID to link to, or the distinct name (empty: the default)."""
    from pm_xero_plugin.ledger import IllegalTransition

    label = _describe(engine, row_id)
    before = _state(engine, row_id)
    try:
        if verb == "resolve":
            engine.resolve(row_id)
        elif verb == "exclude":
            engine.exclude(row_id)
        elif verb == "include_parent":
            engine.include_parent_invoice(row_id)
        elif verb == "link_contact":
            engine.link_contact(row_id, value or None)
        elif verb == "distinct_name":
            name = engine.create_contact_distinct(row_id, value)
            click.echo(f"{label}: to be created as {name!r}")
        else:
            if engine.retry(row_id=row_id) == 0:
                raise click.ClickException(
                    f"{label} is {before}: only failed, excluded, retrying or waiting rows can "
                    "be retried"
                )
    except IllegalTransition:
        done = _PAST.get(verb, verb)
        raise click.ClickException(f"{label} is {before}: it cannot be {done}") from None
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise click.ClickException(f"{label}: {message}") from None
    click.echo(f"{label}: {before} -> {_state(engine, row_id)}")


@click.command("retry")
@data_dir_option
@click.argument("row_id", type=int, required=False)
@click.option("--kind", type=click.Choice(RECORD_KINDS), help="Every failed row of this kind.")
@click.option("--tenant", "tenant_id", help="Every failed row of this organisation.")
@click.option("--all-failed", is_flag=True, help="Every failed row (and rows held by Xero).")
@click.option(
    "--include-parent",
    is_flag=True,
    help="Send ROW_ID's invoice too although it is dated before the start date.",
)
@click.option(
    "--distinct-name",
    "distinct_name",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[NAME]",
    help="Create contact ROW_ID under a distinct name (default: its location added), when Xero "
    "gives its name to a contact that is not ours.",
)
def retry_command(
    data_dir: Path,
    row_id: int | None,
    kind: str | None,
    tenant_id: str | None,
    all_failed: bool,
    include_parent: bool,
    distinct_name: str | None,
) -> None:
    """Send again after fixing the cause: one row (ROW_ID), or every failed row of a kind or
    organisation (--kind/--tenant/--all-failed). Rows go through the sync rules again."""
    if row_id is None and not (kind or tenant_id or all_failed):
        raise click.UsageError("give a ROW_ID, or --all-failed, --kind or --tenant")
    if row_id is not None and (kind or tenant_id or all_failed):
        raise click.UsageError(
            "ROW_ID retries one row: do not combine it with --kind, --tenant or --all-failed"
        )
    if include_parent and row_id is None:
        raise click.UsageError("--include-parent needs the ROW_ID of the held payment")
    if distinct_name is not None and (row_id is None or include_parent):
        raise click.UsageError("--distinct-name needs the ROW_ID of one held contact")
    with open_data_dir(data_dir) as opened:
        engine = opened.engine
        if distinct_name is not None and row_id is not None:
            _act(engine, row_id, "distinct_name", distinct_name)
            return
        if row_id is not None:
            _act(engine, row_id, "include_parent" if include_parent else "retry")
            return
        _check_tenant(engine, tenant_id)
        moved = engine.retry(kind=kind, tenant_id=tenant_id)
    scope = " ".join(part for part in (kind and f"{kind}", tenant_id and f"in {tenant_id}") if part)
    click.echo(
        f"retried {moved} row{'s' if moved != 1 else ''}{' (' + scope + ')' if scope else ''}"
    )


@click.command("resolve")
@data_dir_option
@click.argument("row_id", type=int)
@click.option(
    "--link-contact",
    "link_contact",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[CONTACT_ID]",
    help="Contact ROW_ID is the Xero contact that has its name (or CONTACT_ID): link them.",
)
def resolve_command(data_dir: Path, row_id: int, link_contact: str | None) -> None:
    """Mark a failure as fixed by hand in Xero (it counts as synced; what waited for it goes),
    or a rejected record as dealt with in Pet Manager; --link-contact links a held contact to
    the one Xero already has."""
    with open_data_dir(data_dir) as opened:
        if link_contact is not None:
            _act(opened.engine, row_id, "link_contact", link_contact)
        else:
            _act(opened.engine, row_id, "resolve")


@click.command("exclude")
@data_dir_option
@click.argument("row_id", type=int)
def exclude_command(data_dir: Path, row_id: int) -> None:
    """Never send this record to Xero (retry brings it back)."""
    with open_data_dir(data_dir) as opened:
        _act(opened.engine, row_id, "exclude")
