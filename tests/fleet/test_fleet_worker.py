"""One fleet worker serves every practice of a many-practice host's root: each practice's records
reach its own organisations, routed by practice and organisation through the ordinary worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_roots import FleetRoot, make_fleet

from pm_xero_plugin.fleet.keys import fleet_key, fleet_row_id, local_row_id, split_key
from pm_xero_plugin.fleet.practices import Practices, is_fleet_root
from pm_xero_plugin.fleet.worker import FleetWorker
from pm_xero_plugin.xero.kinds import SEND_ORDER

pytestmark = pytest.mark.timeout(120)

EXPECTED = {
    "syd": {"C1", "C2", "INV2", "INV3", "CN1", "PAY2"},
    "lon": {"C3"},
}
"""What the small practice puts in Xero (its invoice #4 in London is refused: an AUD
organisation takes no GBP invoice; #1 and payments #1, #3 are before the start date)."""


def books(fleet: FleetRoot, practice_id: str) -> dict[str, set[str]]:
    """location -> the practice's own numbers in its organisation, the tag taken off; any
    number of another practice is kept whole (it would fail the comparison)."""
    tag = fleet.tag(practice_id)
    found = {}
    for location, tenant in fleet.tenants[practice_id].items():
        numbers = fleet.numbers_in(tenant)
        found[location] = {n.removeprefix(tag) if n.startswith(tag) else n for n in numbers}
    return found


def test_one_worker_sends_every_practice_into_its_own_organisations_only(
    fleet: FleetRoot,
) -> None:
    practices = Practices(fleet.root, fleet.options())
    worker = FleetWorker(practices)
    try:
        stats = worker.run(until_idle=True, max_seconds=60)
    finally:
        practices.close()

    for practice_id in fleet.practice_ids:
        assert books(fleet, practice_id) == EXPECTED, practice_id
        assert fleet.open_rows(practice_id) == 0
    assert stats.synced == 9 * len(fleet.practice_ids)
    # counted per practice and organisation, under the worker's keys
    assert {split_key(k)[0] for k in stats.by_tenant} == set(fleet.practice_ids)


def test_only_the_practices_asked_for_are_served(fleet: FleetRoot) -> None:
    practices = Practices(fleet.root, fleet.options(), only=("practice-2",))
    try:
        FleetWorker(practices).run(until_idle=True, max_seconds=60)
        assert [p.practice_id for p in practices.opened()] == ["practice-2"]
    finally:
        practices.close()

    assert books(fleet, "practice-2") == EXPECTED
    assert fleet.open_rows("practice-1") == 3  # its contacts still wait for a worker
    assert fleet.numbers_in(fleet.tenants["practice-1"]["syd"]) == []


def test_rows_of_two_practices_with_the_same_ids_go_back_to_their_own_ledgers(
    fleet: FleetRoot,
) -> None:
    practices = Practices(fleet.root, fleet.options(), only=("practice-1", "practice-2"))
    worker = FleetWorker(practices)
    led = worker.ledger
    try:
        now = worker.now()
        keys = led.tenants_with_ready_work(now)
        one = fleet_key("practice-1", fleet.tenants["practice-1"]["syd"])
        two = fleet_key("practice-2", fleet.tenants["practice-2"]["syd"])
        assert {one, two} <= set(keys)
        claims = {}
        for key in (one, two):
            _kind, rows = led.claim_next(
                key, SEND_ORDER, limit_for=lambda _k: 50, worker_id="w-test", now=now
            )
            claims[key] = rows
        local_one = {local_row_id(r.id)[1] for r in claims[one]}
        local_two = {local_row_id(r.id)[1] for r in claims[two]}
        assert local_one == local_two  # each SQLite ledger counts its rows from 1 ...
        assert not {r.id for r in claims[one]} & {r.id for r in claims[two]}  # ... told apart
        assert led.in_flight == len(claims[one]) + len(claims[two])

        with led.fenced({r.id: r.claim_token for r in claims[one] if r.claim_token}):
            led.release([r.id for r in claims[one]])

        first = practices.get("practice-1").engine.ledger
        second = practices.get("practice-2").engine.ledger
        assert {first.get(i).state for i in local_one} == {"ready"}  # type: ignore[union-attr]
        assert {second.get(i).state for i in local_two} == {"sending"}  # type: ignore[union-attr]
    finally:
        practices.close()


def test_a_stopping_fleet_worker_gives_back_batches_it_has_not_begun(fleet: FleetRoot) -> None:
    practices = Practices(fleet.root, fleet.options(), only=("practice-1",))
    worker = FleetWorker(practices)
    try:
        now = worker.now()
        key = fleet_key("practice-1", fleet.tenants["practice-1"]["syd"])
        assert key in worker.ledger.tenants_with_ready_work(now)
        kind, rows = worker.ledger.claim_next(
            key, SEND_ORDER, limit_for=lambda _k: 50, worker_id=worker.worker_id, now=now
        )
        assert kind == "contact"
        assert rows

        worker.sender.stopping.set()  # what stop() does first
        outcome = worker.sender.send(key, kind, rows)

        assert outcome.released == len(rows)
        assert outcome.api_calls == 0
        assert worker.ledger.in_flight == 0
        ledger = practices.get("practice-1").engine.ledger
        assert {ledger.get(local_row_id(r.id)[1]).state for r in rows} == {"ready"}  # type: ignore[union-attr]
    finally:
        practices.close()
    assert fleet.numbers_in(fleet.tenants["practice-1"]["syd"]) == []


def test_stopping_gives_back_at_once_the_batches_queued_behind_a_stuck_one(
    fleet: FleetRoot,
) -> None:
    practices = Practices(fleet.root, fleet.options(), only=("practice-1", "practice-2"))
    worker = FleetWorker(practices)
    try:
        now = worker.now()
        batches = []
        for key in worker.ledger.tenants_with_ready_work(now):
            batches.append(
                (
                    key,
                    *worker.ledger.claim_next(
                        key,
                        SEND_ORDER,
                        limit_for=lambda _k: 50,
                        worker_id=worker.worker_id,
                        now=now,
                    ),
                )
            )
        assert len(batches) == 4  # two organisations of two practices, none begun

        worker.stop(timeout=0)  # the sending threads have not picked any up (all stuck)

        for practice_id in ("practice-1", "practice-2"):
            ledger = practices.get(practice_id).engine.ledger
            states = {c["state"] for c in ledger.counts() if c["kind"] == "contact"}
            assert states == {"ready"}, practice_id
        key, kind, rows = batches[0]
        late = worker.sender.send(key, kind, rows)  # a thread gets to it after all
        assert (late.released, late.api_calls) == (len(rows), 0)
        assert worker.ledger.in_flight == sum(len(b[2]) for b in batches[1:])
    finally:
        practices.close()
    assert fleet.numbers_in(fleet.tenants["practice-1"]["syd"]) == []


def test_a_practice_that_cannot_be_opened_does_not_stop_the_others(fleet: FleetRoot) -> None:
    broken = fleet.folder("practice-2") / "plugins" / "xero" / "ledger.sqlite3"
    for extra in ("-wal", "-shm"):
        Path(f"{broken}{extra}").unlink(missing_ok=True)
    broken.write_bytes(b"this is not a ledger" * 100)
    practices = Practices(fleet.root, fleet.options())
    try:
        FleetWorker(practices).run(until_idle=True, max_seconds=60)
        unavailable = practices.unavailable()
    finally:
        practices.close()

    assert list(unavailable) == ["practice-2"]
    assert "practice-2 cannot be opened" in unavailable["practice-2"]
    assert books(fleet, "practice-1") == EXPECTED
    assert books(fleet, "practice-3") == EXPECTED


def test_a_fleet_root_is_told_from_one_practices_data_directory(fleet: FleetRoot) -> None:
    assert is_fleet_root(fleet.root)
    assert not is_fleet_root(fleet.folder("practice-1"))


def test_worker_row_ids_carry_the_practice_and_the_ledgers_id() -> None:
    assert local_row_id(fleet_row_id(3, 41)) == (3, 41)
    assert fleet_row_id(0, 41) != fleet_row_id(1, 41)
    with pytest.raises(ValueError, match="48 bits"):
        fleet_row_id(1, 1 << 48)
    with pytest.raises(ValueError, match="not a fleet key"):
        split_key("tenant-without-practice")


def test_practices_added_while_running_are_found(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path / "fleet", 1)
    practices = Practices(fleet.root, fleet.options())
    try:
        assert practices.ids() == ["practice-1"]
        from fleet_roots import add_practice

        orgs = [fleet.sandbox.add_org(), fleet.sandbox.add_org()]
        add_practice(fleet, "practice-9", {"syd": orgs[0], "lon": orgs[1]})
        assert practices.ids() == ["practice-1", "practice-9"]
        FleetWorker(practices).run(until_idle=True, max_seconds=60)
    finally:
        practices.close()
    assert books(fleet, "practice-9") == EXPECTED


def test_rows_a_killed_worker_held_are_taken_over_by_the_fleet_worker(fleet: FleetRoot) -> None:
    import subprocess
    import sys

    from support.ledger_helpers import START

    from pm_xero_plugin.sync.leases import this_host

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead_pid = child.pid  # the killed worker's process: gone (and reaped)
    practices = Practices(fleet.root, fleet.options(), only=("practice-1",))
    try:
        ledger = practices.get("practice-1").engine.ledger
        ledger.beat("w-killed", hostname=this_host(), pid=dead_pid, lease_until=START)
        tenant = fleet.tenants["practice-1"]["syd"]
        held = ledger.claim(tenant, "contact", worker_id="w-killed", now=START)
        assert len(held) == 2
        FleetWorker(practices).run(until_idle=True, max_seconds=60)
    finally:
        practices.close()
    assert books(fleet, "practice-1") == EXPECTED


def test_a_practice_id_from_the_shared_ledger_never_names_a_folder_outside_the_root(
    fleet: FleetRoot,
) -> None:
    practices = Practices(fleet.root, fleet.options())
    assert practices.serves("practice-1")
    assert not practices.serves("../fleet/practices/practice-1")
    assert not practices.serves("practice-404")
    assert not Practices(fleet.root, fleet.options(), only=("practice-2",)).serves("practice-1")


class _Listed:
    """A source naming every organisation of the fleet as ready (as the shared ledger would),
    in practice order, without opening anything itself."""

    def __init__(self, fleet: FleetRoot) -> None:
        self.pairs = [(p, t) for p in fleet.practice_ids for t in fleet.tenants[p].values()]

    def ready(self, now: object, take_from: object) -> list[tuple[str, str]]:
        return list(self.pairs)

    def claim_owners(self) -> list[object]:
        return []

    def queue_depth(self) -> dict[str, int]:
        return {}


def test_a_loop_sends_for_the_practices_open_while_it_opens_the_others(
    fleet: FleetRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_xero_plugin.fleet import worker as fleet_worker

    monkeypatch.setattr(fleet_worker, "OPENED_PER_LOOP", 1)
    practices = Practices(fleet.root, fleet.options())
    worker = FleetWorker(practices, source=_Listed(fleet))  # type: ignore[arg-type]
    try:
        now = worker.now()
        first = worker.ledger.tenants_with_ready_work(now)
        assert {split_key(k)[0] for k in first} == {"practice-1"}  # both its organisations
        assert len(first) == 2
        second = worker.ledger.tenants_with_ready_work(now)
        assert {split_key(k)[0] for k in second} == {"practice-1", "practice-2"}
        assert [p.practice_id for p in practices.opened()] == ["practice-1", "practice-2"]
    finally:
        practices.close()
