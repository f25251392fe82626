"""The README's architecture diagram is the import-linter contract, drawn.

A diagram that drifts from the code misleads the next engineer more than no diagram. So the
boxes (their order and which stand side by side) are read from the README and compared with the
layers contract in pyproject.toml that ``lint-imports`` enforces in CI, and every box must be a
real package or module.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOX = re.compile(r"^((?:[a-z_]+(?:/|\.py))(?: ┊ [a-z_]+(?:/|\.py))*)\s")


def _diagram() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Architecture\n", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


def _readme_layers() -> list[list[str]]:
    layers = []
    for line in _diagram():
        if line.startswith(("sandbox/", "hookspecs/")):
            break
        match = BOX.match(line)
        if match:
            names = [box.removesuffix("/").removesuffix(".py") for box in match[1].split(" ┊ ")]
            layers.append([f"pm_xero_plugin.{name}" for name in names])
    return layers


def _contract_layers() -> list[list[str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["name"] == "The add-on's layers"]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def test_the_diagram_draws_the_layers_the_linter_holds() -> None:
    assert _readme_layers() == _contract_layers()


def test_every_box_is_a_real_package_or_module() -> None:
    for layer in _readme_layers():
        for name in layer:
            assert importlib.util.find_spec(name) is not None, name


def test_the_host_contract_line_is_the_linter_order() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["name"].startswith("The host's contract: ")]
    order = [
        " | ".join(part.strip().removeprefix("hookspecs.") for part in layer.split("|"))
        for layer in contract["layers"]
    ]
    assert "                      " + " → ".join(order) in _diagram()
