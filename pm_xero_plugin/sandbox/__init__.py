"""A local, stateful, Xero-compatible server for tests, CI, the demo and host developers.

Nothing in tests, CI or the demo's default may call the real Xero; this stands in for it closely
enough that passing against it means something: Xero's identity flow, Accounting API shapes,
rules and messages, rate limits on an injectable clock, and replayable fault injection.

    sandbox = Sandbox(spec_path="../shared/xero-openapi/xero_accounting.yaml")
    client = httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox")
    with sandbox.serve(port=0) as server: ...   # or: pm-xero sandbox --port 8765

    Sandbox(state_path="sandbox.json")   # resumes orgs, books, connections and tokens; saved
                                         # atomically after every write (pm-xero sandbox --state)

The names below are loaded when first used: ``pm-xero --help`` and a state-file claim
(:mod:`.state_claim`) import this package without paying for the whole server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import API_ROOT, Sandbox
    from .clock import SandboxClock
    from .faults import OUTCOMES, Faults
    from .limits import Limits
    from .orgs import REGIONS, Org
    from .server import RunningServer, SandboxTransport
    from .validation import find_spec
    from .web import SandboxHang

# Each public name and the module that defines it.
_HOME = {
    "API_ROOT": "app",
    "Sandbox": "app",
    "SandboxClock": "clock",
    "OUTCOMES": "faults",
    "Faults": "faults",
    "Limits": "limits",
    "REGIONS": "orgs",
    "Org": "orgs",
    "RunningServer": "server",
    "SandboxTransport": "server",
    "find_spec": "validation",
    "SandboxHang": "web",
}

__all__ = [
    "API_ROOT",
    "OUTCOMES",
    "REGIONS",
    "Faults",
    "Limits",
    "Org",
    "RunningServer",
    "Sandbox",
    "SandboxClock",
    "SandboxHang",
    "SandboxTransport",
    "find_spec",
]


def __getattr__(name: str) -> Any:
    """Load a public name's module the first time the name is asked for."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value
