"""``python -m pm_xero_plugin.sandbox``: same as ``pm-xero sandbox``."""

from pm_xero_plugin.sandbox.cli import sandbox_command

if __name__ == "__main__":
    sandbox_command(prog_name="python -m pm_xero_plugin.sandbox")
