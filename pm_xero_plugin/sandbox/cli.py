"""``pm-xero sandbox``: serve the Xero sandbox on loopback for the demo and manual testing."""

from __future__ import annotations

import errno
import shlex
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

__all__ = ["sandbox_command"]


class _BadState(click.BadParameter):
    """A ``--state`` file that is not a sandbox state file: one line, exit 2."""


def _sandbox_from_state(state: str | None, **options: Any) -> Any:
    """The sandbox, resumed from ``state`` when that file exists; a file that is not a sandbox
    state (garbage, another program's JSON, a newer format) is refused with one line instead
    of a traceback, and left untouched."""
    from . import Sandbox

    if state is None or not Path(state).exists():
        return Sandbox(state_path=state, **options)
    try:
        return Sandbox(state_path=state, **options)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = str(exc).split(": ", 1)[-1]
        if not isinstance(exc, ValueError):
            reason = f"unexpected content: {type(exc).__name__} {reason}"
        raise _BadState(
            f"{state} is not a sandbox state file ({reason}); it was left as it is: pass "
            "another --state file, or move this one away to start fresh",
            param_hint="--state",
        ) from None


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="0 picks a free port.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--orgs", "orgs", type=int, default=2, show_default=True, help="Organisations to seed."
)
@click.option(
    "--client-id", default="sandbox-client", show_default=True, help="The app it accepts."
)
@click.option("--client-secret", default="sandbox-secret", show_default=True)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    help="A redirect URI registered with the app (exact match; repeat for several). "
    "Default: http://127.0.0.1:8766/callback and the test suites' own.",
)
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
    "--call-seconds",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="How long each Accounting call stays in progress (Xero takes a few hundred ms), so "
    "parallel calls overlap and a 6th in flight meets 429 concurrent as on Xero; 0: at once.",
)
@click.option(
    "--state",
    "state",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON state file: resumed if it exists (then --orgs is ignored), saved after every write.",
)
@click.option(
    "--webhook-url",
    default=None,
    help="Subscribe this URL to Xero's webhooks at start (as the developer portal does): the "
    "intent-to-receive check runs, then events are sent while it passes.",
)
@click.option(
    "--webhook-key",
    default=None,
    help="The webhook key to sign with (default: the kept subscription's, else a new random one; "
    "printed as PM_XERO_WEBHOOK_KEY).",
)
def sandbox_command(
    port: int,
    host: str,
    orgs: int,
    client_id: str,
    client_secret: str,
    redirect_uris: tuple[str, ...],
    spec: str | None,
    time_scale: float,
    seed: int,
    region: str,
    no_limits: bool,
    day_limit: int,
    call_seconds: float,
    state: str | None,
    webhook_url: str | None,
    webhook_key: str | None,
) -> None:
    """Serve a local Xero stand-in (identity + Accounting API) until Ctrl-C or SIGTERM."""
    from . import Limits, SandboxClock
    from .state_claim import StateClaimed, claim_for_server
    from .validation import find_spec

    spec_path = find_spec(spec)
    if spec_path is not None and not spec_path.is_file():
        raise click.BadParameter(f"spec not found: {spec_path}", param_hint="--spec")
    if time_scale < 0:
        raise click.BadParameter("must be >= 0", param_hint="--time-scale")
    if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--webhook-url")
    if webhook_key is not None and webhook_url is None:
        raise click.BadParameter("needs --webhook-url", param_hint="--webhook-key")
    if webhook_key == "":
        raise click.BadParameter("must not be empty", param_hint="--webhook-key")
    limits = Limits(per_day=day_limit, enabled=not no_limits, call_seconds=call_seconds)
    try:  # one server per state file: a second one would overwrite the first one's books
        claim = claim_for_server(state)
    except StateClaimed as claimed:
        raise click.ClickException(f"{claimed}: use that server, or stop it first") from None
    sandbox = _writable_sandbox(
        state,
        client_id=client_id,
        client_secret=client_secret,
        orgs=orgs,
        clock=SandboxClock(time_scale=time_scale),
        spec_path=spec_path,
        limits=limits,
        seed=seed,
        region=region,
        **({"redirect_uris": list(redirect_uris)} if redirect_uris else {}),
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server = _listen(sandbox, host, port)
    _announce(
        server.url,
        sandbox,
        client_id=client_id,
        client_secret=client_secret,
        spec_path=spec_path,
        state=state,
        time_scale=time_scale,
        no_limits=no_limits,
    )
    if claim is not None:
        claim.publish(server.url)  # verbs on a demo's data dir whose books these are use it
    if webhook_url is not None:
        _subscribe(sandbox, webhook_url, webhook_key)
    _print_host_settings(server.url, client_id, client_secret, sandbox.webhooks.subscription)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        sandbox.save()
        click.echo("sandbox stopped")


def _writable_sandbox(state: str | None, **options: Any) -> Any:
    """The sandbox from :func:`_sandbox_from_state`; a state file that cannot be written
    there (a read-only or odd path) is one line naming ``--state``."""
    try:
        return _sandbox_from_state(state, **options)
    except OSError as exc:
        raise _BadState(
            f"{state} cannot be written ({exc.strerror or exc}): pass a --state file in a "
            "directory you can write to",
            param_hint="--state",
        ) from None


def _listen(sandbox: Any, host: str, port: int) -> Any:
    """Serve ``sandbox`` on ``host``:``port``; an address that is not one, not this machine's
    or already in use is one line saying which option to change."""
    try:
        return sandbox.serve(host, port)
    except socket.gaierror as exc:  # a --host that is not an address or a known name
        raise click.BadParameter(
            f"{host!r} cannot be listened on ({exc.strerror or exc})", param_hint="--host"
        ) from None
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise click.BadParameter(
                f"{host!r} is not an address of this machine", param_hint="--host"
            ) from None
        if exc.errno != errno.EADDRINUSE:
            raise
        raise click.ClickException(
            f"port {port} on {host} is already in use (another sandbox?): stop it, or pass "
            "--port 0 for a free port"
        ) from None


def _announce(
    url: str,
    sandbox: Any,
    *,
    client_id: str,
    client_secret: str,
    spec_path: Path | None,
    state: str | None,
    time_scale: float,
    no_limits: bool,
) -> None:
    """Print where the sandbox listens, the app it accepts, its organisations and how it
    differs from Xero (no spec check, a time scale, no limits)."""
    echo = click.echo
    echo(f"Xero sandbox listening on {url}")
    echo(f"  client id:     {client_id}")
    echo(f"  client secret: {client_secret}")
    echo(f"  redirect URIs: {', '.join(sandbox.identity.redirect_uris)}")
    echo(f"  authorize:     {url}/identity/connect/authorize")
    echo(f"  token:         {url}/connect/token")
    echo(f"  accounting:    {url}/api.xro/2.0")
    echo(f"  inspect:       {url}/sandbox/state  {url}/sandbox/requests")
    echo(f"  limits' peaks: {url}/sandbox/limits/peaks")
    echo(f"  balances:      {url}/sandbox/balances/<tenant id>")
    echo(f"  webhooks:      {url}/sandbox/webhooks (PUT {{url, key}} subscribes)")
    echo(f"  bookkeeper:    {url}/sandbox/xero/<tenant id>/<Accounting path>")
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


def _subscribe(sandbox: Any, url: str, key: str | None) -> None:
    """Subscribe `url` at start, keeping the kept subscription's key for the same URL (so a
    host's ``PM_XERO_WEBHOOK_KEY`` stays right across restarts), and say how the check went."""
    kept = sandbox.webhooks.subscription
    if key is None and kept is not None and kept.url == url:
        key = kept.key
    sub = sandbox.webhooks.subscribe(url, key)
    click.echo(f"  webhooks:      {url} – {sub.status}")
    if not sub.ok:
        click.echo(
            "                 (checked again every 5 s until it passes; PUT /sandbox/webhooks "
            "checks now)"
        )


def _print_host_settings(url: str, client_id: str, client_secret: str, webhook: Any = None) -> None:
    """The ``export`` lines a host (or ``pm-xero worker``) needs to reach this sandbox (and, with
    a webhook subscription, to check its deliveries' signatures)."""
    from .host_settings import environment

    echo = click.echo
    echo("A host (or pm-xero worker/preview/connect) reaches it with these settings:")
    settings = environment(url, client_id, client_secret)
    if webhook is not None:
        settings["PM_XERO_WEBHOOK_KEY"] = webhook.key
    for name, value in settings.items():
        echo(f"  export {name}={shlex.quote(value)}")
    echo("Ctrl-C to stop.", nl=True)
