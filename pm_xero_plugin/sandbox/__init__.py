"""A local, stateful, Xero-compatible server for tests, CI, the demo and host developers.

Nothing in tests, CI or the demo's default may call the real Xero; this stands in for it closely
enough that passing against it means something: Xero's identity flow, Accounting API shapes,
rules and messages, rate limits on an injectable clock, and replayable fault injection.

    sandbox = Sandbox(spec_path="../shared/xero-openapi/xero_accounting.yaml")
    client = httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox")
    with sandbox.serve(port=0) as server: ...   # or: pm-xero sandbox --port 8765

    Sandbox(state_path="sandbox.json")   # resumes orgs, books, connections and tokens; saved
                                         # atomically after every write (pm-xero sandbox --state)
"""

from __future__ import annotations

from .app import API_ROOT, Sandbox
from .clock import SandboxClock
from .faults import OUTCOMES, Faults
from .limits import Limits
from .orgs import REGIONS, Org
from .server import RunningServer, SandboxTransport
from .validation import find_spec
from .web import SandboxHang

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
