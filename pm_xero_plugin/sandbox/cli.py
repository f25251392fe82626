"""``pm-xero sandbox``: serve the Xero sandbox on loopback (placeholder until issue 3 lands)."""

from __future__ import annotations

import click


@click.command()
@click.option("--port", type=int, default=8765, show_default=True)
def sandbox_command(port: int) -> None:
    """Serve the Xero sandbox on 127.0.0.1:PORT."""
    raise click.ClickException("the sandbox is not built yet")
