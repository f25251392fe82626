"""Child process for the kill test: a sandbox with a state file, writing contacts until killed.

Run as ``python sandbox_state_child.py STATE_PATH``; prints ``ready`` once the first write is
saved, then keeps writing one contact per request.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
from support.sandbox_helpers import Api, connect

from pm_xero_plugin.sandbox import Limits, Sandbox, SandboxClock


def main(state_path: str) -> None:
    sandbox = Sandbox(
        clock=SandboxClock(datetime(2024, 3, 1, 9, 0, tzinfo=UTC)),
        limits=Limits(enabled=False),
        state_path=state_path,
    )
    with httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox") as client:
        api = Api(client, connect(client))
        n = 0
        while True:
            n += 1
            # a few padding fields so each save takes a moment, widening the window for the kill
            contact = {"Name": f"Owner {n}", "ContactNumber": f"C{n}", "EmailAddress": "x" * 200}
            assert api.put("/Contacts", {"Contacts": [contact]}).status_code == 200
            if n == 1:
                print("ready", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
