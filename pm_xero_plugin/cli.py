"""``pm-xero``: the operator's command line.

Each verb lives beside the code it drives; this module only wires them into one click group, and
imports each lazily so that ``pm-xero --help`` stays fast.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pm-xero-plugin")
def main() -> None:
    """Pet Manager → Xero: sync, inspect and operate the Xero add-on."""


def _register() -> None:
    from pm_xero_plugin.sandbox.cli import sandbox_command

    main.add_command(sandbox_command, name="sandbox")


_register()
