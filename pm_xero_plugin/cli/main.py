"""``pm-xero``: the operator's command line.

Each verb is small and hands off to the module that does the work; heavy imports happen inside
the verbs so that ``pm-xero --help`` stays fast. Every verb runs inside one error boundary
(:mod:`pm_xero_plugin.cli.boundary`): a person's mistake or an unreachable server is one line on
stderr and exit 2 or 1, Ctrl-C is exit 130 with how to resume, a traceback only with ``--debug``.
"""

from __future__ import annotations

import importlib
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import click

from pm_xero_plugin.cli.admin import exclude_command, resolve_command, retry_command
from pm_xero_plugin.cli.boundary import DEBUG_ENV, BadInput, BoundaryGroup
from pm_xero_plugin.cli.ops import (
    _date,
    _url,
    check_data_dir,
    connect_command,
    preview_command,
    status_command,
    worker_command,
)
from pm_xero_plugin.invocation import program

if TYPE_CHECKING:
    from hookspecs.refhost import RefHost
    from pm_xero_plugin.demo.run import DemoOptions, DemoResult
    from pm_xero_plugin.demo.serve import DemoWeb


class _Verbs(BoundaryGroup):
    """The verbs, with ``sandbox`` loaded only when it is asked for: it is the whole Xero server,
    and importing it for every ``pm-xero`` start is what made ``--help`` slow."""

    _LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "sandbox": ("pm_xero_plugin.sandbox.cli", "sandbox_command"),
        "rescan": ("pm_xero_plugin.cli.rescan", "rescan_command"),
        "reconcile": ("pm_xero_plugin.cli.reconcile", "reconcile_command"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every verb, the lazy ones included (``--help`` lists them all)."""
        return sorted({*super().list_commands(ctx), *self._LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The verb ``cmd_name``, importing a lazy one the first time it is needed."""
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self._LAZY:
            module, name = self._LAZY[cmd_name]
            command = getattr(importlib.import_module(module), name)
            self.add_command(command, name=cmd_name)
        return command


@click.group(cls=_Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pm-xero-plugin")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    help=f"Show the traceback of a failure (also after the verb, or {DEBUG_ENV}=1).",
)
def main() -> None:
    """Pet Manager → Xero: sync, inspect and operate the Xero add-on."""


@main.command()
@click.option(
    "--xero-url",
    callback=_url,
    help="Root of a Xero-compatible server instead of the embedded one.",
)
@click.option("--client-id", default="sandbox-client", show_default=True)
@click.option("--client-secret", default="sandbox-secret", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the practice, ledger and settings here; run again to resume.",
)
@click.option("--start-date", callback=_date, help="Sync start date (YYYY-MM-DD).")
@click.option("--today", callback=_date, help="The host clock's date (YYYY-MM-DD).")
@click.option(
    "--size", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Makes the practice (customers, bookings, payments) and the sandbox's ids; the same "
    "seed gives the same practice.",
)
@click.option(
    "--live-rounds",
    type=click.IntRange(min=0),
    help="Rounds of new records made after the back-sync, each timed until it reaches Xero "
    "(default by --size: 4, 6, 8; 0 skips).",
)
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Xero's OpenAPI (xero_accounting.yaml) the embedded sandbox checks every body against "
    "(default: $XERO_OPENAPI_SPEC, else ../shared/xero-openapi/).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout.")
@click.option(
    "--serve",
    is_flag=True,
    help="Afterwards serve the practice's web pages on 127.0.0.1 (sign in as alex or sam, "
    "password 'password') until Ctrl-C.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The port --serve uses (0: a free one).",
)
@click.option(
    "--practices",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Serve this many practices from one host process (the reference host's "
    "many-practice mode), each a small business with its own Xero organisations; the data "
    "dir is then a many-practice root for pm-xero status and pm-xero worker.",
)
def demo(
    xero_url: str | None,
    client_id: str,
    client_secret: str,
    data_dir: Path | None,
    start_date: date | None,
    today: date | None,
    size: str,
    seed: int,
    live_rounds: int | None,
    spec: Path | None,
    as_json: bool,
    serve: bool,
    port: int,
    practices: int,
) -> None:
    """A multi-site practice synced end to end into the (embedded) Xero sandbox (with
    --practices N: N practices served by one host process)."""
    from pm_xero_plugin.demo.run import DemoError, DemoOptions, print_result, run_demo

    if port and not serve:
        raise BadInput("--port is the port of --serve: add --serve, or leave --port out")
    if practices > 1 and serve:
        raise BadInput("--serve shows one practice's pages: leave out --serve or --practices")
    if data_dir is not None:
        data_dir = check_data_dir(data_dir, create=True)
        if practices == 1:
            _check_not_fleet(data_dir)
    if xero_url is not None:
        _check_reachable(xero_url)
    options = DemoOptions(
        data_dir=data_dir,
        xero_url=xero_url,
        client_id=client_id,
        client_secret=client_secret,
        start_date=start_date,
        today=today,
        size=size,
        seed=seed,
        spec=spec,
        live_rounds=live_rounds,
        quiet=as_json,
    )
    if practices > 1:
        _demo_fleet(options, practices, as_json)
        return
    printed: list[int] = []
    web = _reserve_web(port) if serve else None
    if web is not None:
        options.redirect_uri = web.redirect_uri
        options.webhook_url = web.webhook_url

        def then(host: RefHost, result: DemoResult) -> None:
            from pm_xero_plugin.demo.run import subscribe_webhooks

            printed.append(print_result(result, as_json))
            web.serve_until_stopped(
                host,
                lambda line: click.echo(line, err=as_json),
                serving=lambda: subscribe_webhooks(result, web.webhook_url),
            )

        options.afterwards = then
    try:
        result = run_demo(options)
    except DemoError as exc:
        raise BadInput(str(exc)) from None
    finally:
        if web is not None:
            web.close()
    status = printed[0] if printed else print_result(result, as_json)
    if status:
        raise SystemExit(status)


def _check_not_fleet(data_dir: Path) -> None:
    """A many-practice demo's root is resumed with its --practices, not as one practice."""
    from pm_xero_plugin.fleet.practices import is_fleet_root, practice_ids

    if is_fleet_root(data_dir):
        count = len(practice_ids(data_dir))
        raise BadInput(
            f"{data_dir} is a many-practice root ({count} practices): run the demo on it with "
            f"--practices {count}, or choose another --data-dir"
        )


def _demo_fleet(options: DemoOptions, practices: int, as_json: bool) -> None:
    """``demo --practices N``: the many-practice run, ending with the operator's list of its
    practices as ``pm-xero status`` gives it on the root."""
    from pm_xero_plugin.demo.fleet import print_fleet_result, run_fleet_demo
    from pm_xero_plugin.demo.run import DemoError

    try:
        result = run_fleet_demo(options, practices)
    except DemoError as exc:
        raise BadInput(str(exc)) from None

    def overview() -> None:
        from datetime import UTC, datetime

        from pm_xero_plugin.cli.fleet_status import fleet_lines, print_fleet
        from pm_xero_plugin.cli.ops import checked_ledger_url

        root = Path(result.run.data_dir)
        ids = [shape.practice_id for shape in result.shapes]
        print_fleet(fleet_lines(root, checked_ledger_url(), ids, datetime.now(UTC)), root)

    status = print_fleet_result(result, as_json, overview)
    if status:
        raise SystemExit(status)


def _reserve_web(port: int) -> DemoWeb:
    """The port for ``demo --serve``, bound before the demo starts (a busy one: exit 1)."""
    from hookspecs.refhost.web import PortBusy
    from pm_xero_plugin.cli.boundary import RunFailure
    from pm_xero_plugin.demo.serve import reserve

    try:
        return reserve(port)
    except PortBusy:
        raise RunFailure(
            f"--port {port}: that port on 127.0.0.1 is already in use: stop what uses it, or "
            "give another --port (0 picks a free one)"
        ) from None


def _check_reachable(url: str) -> None:
    """Fail before announcing anything when nothing answers at ``url`` (any HTTP answer will
    do: the demo finds out soon enough whether it is a Xero-compatible server)."""
    import httpx

    from pm_xero_plugin.cli.boundary import RunFailure

    try:
        httpx.get(url, timeout=httpx.Timeout(5.0))
    except httpx.TransportError as exc:
        raise RunFailure(
            f"nothing answers at {url} ({type(exc).__name__}: {exc}): "
            f"start it ({program()} sandbox) or check --xero-url"
        ) from None


def _register() -> None:
    for command in (
        worker_command,
        preview_command,
        status_command,
        connect_command,
        retry_command,
        resolve_command,
        exclude_command,
    ):
        main.add_command(command)


_register()


if __name__ == "__main__":
    main()
