"""``pm-xero rescan``: look for host records the ledger never heard of, now (a reconciliation
with the host's records; ``reconcile`` is the host's totals beside Xero's).

The host's running add-on does this by itself at start-up and every 15 minutes (see
:mod:`pm_xero_plugin.core.reconcile`). The verb is for an operator who does not want to wait –
after restoring the host's database from a backup, say, or when the dashboard says records were
dropped: it records what the host holds and the ledger lacks or holds in an older version, and
says how many. ``--full`` reads everything the add-on covers, not only what changed since the
last pass. Nothing is sent from here: the worker sends what was recorded.
"""

from __future__ import annotations

from pathlib import Path

import click

from pm_xero_plugin.cli.ops import data_dir_option, open_data_dir

__all__ = ["rescan_command"]


@click.command("rescan")
@data_dir_option
@click.option(
    "--full", is_flag=True, help="Read everything covered, not only what changed since last time."
)
def rescan_command(data_dir: Path, full: bool) -> None:
    """Record host records the ledger lacks or holds in an older version (customers too)."""
    from pm_xero_plugin.core.reconcile import HostUnreadable

    with open_data_dir(data_dir) as opened:
        try:
            report = opened.engine.reconcile(full=full)
        except HostUnreadable as exc:
            cause = exc.__cause__ or exc
            raise click.ClickException(
                f"the host's records cannot be read: {type(cause).__name__}: {cause}"
            ) from None
    if report.skipped:
        click.echo(f"nothing read: {report.skipped}")
        return
    how = "full pass" if report.full else "changes since the last pass"
    click.echo(f"{how}: {report.read} host record(s) read, {report.written} recorded")
    if report.written_ids:
        shown = ", ".join(report.written_ids[:10])
        more = f" and {report.written - 10} more" if report.written > 10 else ""
        click.echo(f"recorded: {shown}{more} (the worker sends them)")
