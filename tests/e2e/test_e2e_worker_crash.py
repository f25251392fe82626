"""A bug in sending one batch (an exception the sender did not foresee) must neither kill the
worker, nor lose the rows, nor spin: the rows back off like a transient error, everything else
keeps flowing, and once the cause is gone they are sent exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from support.e2e_expect import check_books, expected
from support.e2e_world import START_DATE, World

pytestmark = pytest.mark.timeout(60)


def test_a_crashing_batch_backs_off_instead_of_spinning(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.set_up()
    preparer = world.runtime.sender.preparer
    real = preparer.prepare_one
    calls = {"n": 0}
    broken = {"on": True}

    def flaky(tenant_id: str, kind: str, row: Any) -> Any:
        if broken["on"] and kind == "credit_note":
            calls["n"] += 1
            raise RuntimeError("a bug in the mapping")
        return real(tenant_id, kind, row)

    monkeypatch.setattr(preparer, "prepare_one", flaky)
    world.run_worker(max_seconds=1.0)

    assert 1 <= calls["n"] <= 4, f"the crashing batch was retried {calls['n']} times at once"
    notes = world.rows(kind="credit_note")
    in_window = [r for r in notes if r.state != "waiting"]
    assert in_window
    assert all(r.state == "retrying" for r in in_window)
    assert all("a bug in the mapping" in str(r.message) for r in in_window)
    assert world.rows(kind="invoice", state="synced")  # the rest kept flowing

    broken["on"] = False
    world.drain()
    check_books(world, expected(world, START_DATE))
