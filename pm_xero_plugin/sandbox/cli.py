"""``pm-xero sandbox``: serve the Xero sandbox on loopback for the demo and manual testing."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

__all__ = ["sandbox_command"]


@click.command()
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--orgs", "orgs", type=int, default=2, show_default=True, help="Organisations to seed."
)
@click.option(
    "--client-id", default="sandbox-client", show_default=True, help="The app it accepts."
)
@click.option("--client-secret", default="sandbox-secret", show_default=True)
@click.option(
    "--spec",
    "spec",
    type=click.Path(dir_okay=False),
    default=None,
    help="xero_accounting.yaml (default: $XERO_OPENAPI_SPEC or ../shared/xero-openapi/).",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Sandbox seconds per real second (60: a token's 30 minutes pass in 30 s).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Tenant ids and random faults."
)
@click.option("--region", type=click.Choice(["AU", "NZ", "UK"]), default="AU", show_default=True)
@click.option("--no-limits", is_flag=True, help="Never answer 429 (headers still sent).")
@click.option("--day-limit", type=int, default=5000, show_default=True)
@click.option(
    "--state",
    "state",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON state file: resumed if it exists (then --orgs is ignored), saved after every write.",
)
def sandbox_command(
    port: int,
    host: str,
    orgs: int,
    client_id: str,
    client_secret: str,
    spec: str | None,
    time_scale: float,
    seed: int,
    region: str,
    no_limits: bool,
    day_limit: int,
    state: str | None,
) -> None:
    """Serve a local Xero stand-in (identity + Accounting API) until Ctrl-C or SIGTERM."""
    from . import Limits, Sandbox, SandboxClock
    from .validation import find_spec

    spec_path = find_spec(spec)
    if spec_path is not None and not spec_path.is_file():
        raise click.ClickException(f"spec not found: {spec_path}")
    if time_scale < 0:
        raise click.BadParameter("must be >= 0", param_hint="--time-scale")
    limits = Limits(per_day=day_limit, enabled=not no_limits)
    sandbox = Sandbox(
        client_id=client_id,
        client_secret=client_secret,
        orgs=orgs,
        clock=SandboxClock(time_scale=time_scale),
        spec_path=spec_path,
        limits=limits,
        seed=seed,
        region=region,
        state_path=state,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server = sandbox.serve(host, port)
    echo = click.echo
    echo(f"Xero sandbox listening on {server.url}")
    echo(f"  client id:     {client_id}")
    echo(f"  client secret: {client_secret}")
    echo(f"  authorize:     {server.url}/identity/connect/authorize")
    echo(f"  token:         {server.url}/connect/token")
    echo(f"  accounting:    {server.url}/api.xro/2.0")
    echo(f"  inspect:       {server.url}/sandbox/state  {server.url}/sandbox/requests")
    for tenant_id in sandbox.tenant_ids:
        echo(f"  tenant:        {tenant_id}  {sandbox.org(tenant_id).name}")
    if spec_path is None:
        echo("  spec:          not found – request bodies are NOT checked against Xero's schema")
    else:
        echo(f"  spec:          {spec_path}")
    if state is not None:
        echo(f"  state:         {state} (saved after every write)")
    if time_scale != 1:
        echo(f"  time scale:    {time_scale:g} sandbox seconds per real second")
    if no_limits:
        echo("  limits:        off (no 429s)")
    echo("Ctrl-C to stop.", nl=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        sandbox.save()
        echo("sandbox stopped")
