"""``python -m pm_xero_plugin``: the same command line as ``pm-xero``."""

from pm_xero_plugin.cli.main import main

main(prog_name="pm-xero")
