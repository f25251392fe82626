"""``pm-xero`` starts without loading the Xero sandbox: ``--help`` and every verb but
``sandbox`` never need it, and it is the heaviest part of the package (openapi-core and all)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from click.testing import CliRunner

from pm_xero_plugin.cli.main import main

_LOADED = (
    "import json, sys\nimport pm_xero_plugin.cli.main\nprint(json.dumps(sorted(sys.modules)))\n"
)


def _modules_after_importing_the_cli() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _LOADED], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(out.stdout))


def test_importing_the_cli_loads_no_sandbox_module() -> None:
    loaded = _modules_after_importing_the_cli()
    assert [m for m in loaded if m.startswith("pm_xero_plugin.sandbox")] == []


def test_importing_the_cli_loads_no_openapi_validator() -> None:
    loaded = _modules_after_importing_the_cli()
    assert [m for m in loaded if m.split(".")[0] == "openapi_core"] == []


def test_help_still_lists_the_sandbox_verb_it_loads_on_demand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^  sandbox +Serve a local Xero stand-in", result.output, re.M)


def test_the_sandbox_verb_is_reached_by_name() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--help"])
    assert result.exit_code == 0, result.output
    assert "--state FILE" in result.output
