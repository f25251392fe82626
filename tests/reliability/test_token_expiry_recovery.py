"""An access token refused twice in a row does not stop an organisation until an admin acts.

Xero answers 401 ``TokenExpired`` for an expired access token; the refresh token is still good.
If the freshly refreshed token is refused once more (clock skew, a token expired under a request
in flight), the organisation should keep syncing on a later attempt – a later refresh works –
instead of being paused as "reconnect to Xero", which only an admin can undo.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from support.reliability_practice import frozen_clock, make_sandbox, prepare
from support.reliability_runner import running

TODAY = date(2025, 9, 15)


def test_two_token_expired_answers_in_a_row_recover_without_a_reconnect(tmp_path: Path) -> None:
    sandbox = make_sandbox(orgs=1, seed=12)
    clock = frozen_clock(TODAY)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=12,
            locations=1,
            clients=10,
            days=30,
            window_days=20,
            clock=clock,
        )
    tenant = sandbox.tenant_ids[0]
    with running(prepared, sandbox, server.url, clock) as run:
        sandbox.faults(tenant).script.extend(["token_expired", "token_expired"])  # the next send
        run.until_settled(rounds=5)  # no reconnect: nothing an admin did
        assert all(t.connected for t in run.engine.ledger.tenants())
