"""core.handoff on its own: the spool file's durability rules, the order records are written in,
and what happens at the limits (memory full, a record that keeps failing for another reason)."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.ledger_helpers import Practice

from pm_xero_plugin.core import handoff
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.core.handoff import DROPPED, RECONCILE_META, HandOff, Spool
from pm_xero_plugin.core.health import LEDGER_WRITE, Health
from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.ledger.interface import LedgerBusy


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "FIRST_DELAY", 0.02)
    monkeypatch.setattr(handoff, "MAX_DELAY", 0.05)


class Recorder:
    """Replays that note what they were given, failing with ``fault`` while it is set."""

    def __init__(self) -> None:
        self.written: list[Any] = []
        self.fault: BaseException | None = None
        self.errors: list[str] = []
        self.lost: list[int] = []

    def replay(self, engine: Engine, record: Any) -> None:
        if self.fault is not None:
            raise self.fault
        self.written.append(record)

    def action(self, record: Any) -> Callable[[Engine], None]:
        return lambda engine: self.replay(engine, record)

    def handoff(self, health: Health, **kw: Any) -> HandOff:
        return HandOff(
            health,
            replay={"on_thing": self.replay},
            on_error=lambda hook, exc: self.errors.append(f"{hook}: {exc}"),
            on_lost=self.lost.append,
            **kw,
        )


def _give(kept: HandOff, recorder: Recorder, record: Any) -> None:
    kept.hand_off("on_thing", recorder.action(record), record=record, spoolable=True)


# -- the spool file ------------------------------------------------------------------------------


def test_a_torn_last_line_is_skipped_and_what_the_ledger_has_is_not_replayed(
    tmp_path: Path,
) -> None:
    path = tmp_path / handoff.SPOOL_NAME
    lines = [
        {"seq": 1, "hook": "on_thing", "record": {"id": "a"}},
        {"seq": 2, "hook": "on_thing", "record": {"id": "b"}},
        {"done": 1},
        {"seq": 3, "hook": "on_thing", "record": {"id": "c"}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"seq": 4, "ho')

    stored, lost, top = Spool(tmp_path).load()

    assert [(seq, record["id"]) for seq, _, record in stored] == [(2, "b"), (3, "c")]
    assert (lost, top) == (0, 3)


def test_an_append_the_disk_refuses_leaves_no_torn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    assert spool.append([{"seq": 1, "hook": "on_thing", "record": {"id": "a"}}])
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    assert not spool.append([{"seq": 2, "hook": "on_thing", "record": {"id": "b" * 100}}])
    monkeypatch.setattr(os, "write", real_write)
    assert spool.append([{"seq": 3, "hook": "on_thing", "record": {"id": "c"}}])

    stored, _, _ = Spool(tmp_path).load()
    assert [record["id"] for _, _, record in stored] == ["a", "c"]
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
    spool.close()


# -- order and limits ----------------------------------------------------------------------------


def test_a_record_arriving_behind_a_kept_one_waits_its_turn(
    practice: Practice, tmp_path: Path
) -> None:
    recorder = Recorder()
    kept = recorder.handoff(Health())
    kept.open_spool(tmp_path)
    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    try:
        recorder.fault = sqlite3.OperationalError("database is locked")
        _give(kept, recorder, "v1")
        recorder.fault = None
        _give(kept, recorder, "v2")  # the ledger would take it now: it still goes second
        assert recorder.written == []

        assert kept.wait(timeout=10)
        assert recorder.written == ["v1", "v2"]
    finally:
        kept.detach()
        kept.close_spool()


def test_past_the_limit_records_wait_in_the_spool_only_and_are_written_in_order(
    practice: Practice, tmp_path: Path
) -> None:
    recorder = Recorder()
    kept = recorder.handoff(Health(), limit=2)
    kept.open_spool(tmp_path)
    for n in range(1, 6):  # no engine yet: all kept
        _give(kept, recorder, n)
    assert kept.status()["waiting"] == 5
    assert kept.status()["only_in_the_spool"] == 3
    kept.close_spool()
    kept.open_spool(tmp_path)  # read back (two in memory, three in the spool only)
    assert kept.status()["only_in_the_spool"] == 3

    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    try:
        _give(kept, recorder, 6)  # behind the five: not written before them
        assert kept.wait(timeout=10)
    finally:
        kept.detach()
        kept.close_spool()
    assert recorder.written == [1, 2, 3, 4, 5, 6]
    assert recorder.lost == []


def test_past_the_limit_with_no_spool_the_oldest_is_dropped_and_a_reconciliation_is_asked(
    practice: Practice, tmp_path: Path
) -> None:
    (tmp_path / handoff.SPOOL_NAME).mkdir()  # the spool cannot be written (a full disk)
    recorder = Recorder()
    health = Health()
    kept = recorder.handoff(health, limit=3)
    kept.open_spool(tmp_path)
    for n in range(1, 6):  # no engine yet: all kept
        _give(kept, recorder, n)

    assert kept.status()["waiting"] == 3
    assert recorder.lost == [1, 1]
    condition = health.get(DROPPED)
    assert condition is not None
    assert condition.severity == "warning"
    assert condition.message.startswith("2 records from Pet Manager were dropped")

    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    try:
        assert kept.wait(timeout=10)
    finally:
        kept.detach()
        kept.close_spool()
    assert recorder.written == [3, 4, 5], "the newest kept, in order"
    meta = practice.engine.ledger.meta(RECONCILE_META)
    assert meta is not None
    assert json.loads(meta)["records"] == 2


def test_records_the_spool_cannot_take_stay_in_memory_and_health_says_a_restart_loses_them(
    practice: Practice, tmp_path: Path
) -> None:
    (tmp_path / handoff.SPOOL_NAME).mkdir()  # the spool cannot be written
    recorder = Recorder()
    health = Health()
    kept = recorder.handoff(health)
    kept.open_spool(tmp_path)
    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    try:
        recorder.fault = sqlite3.OperationalError("database or disk is full")
        _give(kept, recorder, "a")

        assert kept.status()["only_in_memory"] == 1
        condition = health.get(LEDGER_WRITE)
        assert condition is not None
        assert "1 record from Pet Manager waiting to be written (1 only in memory" in (
            condition.message
        )
        assert "lost if the host stops before that" in condition.action

        recorder.fault = None
        assert kept.wait(timeout=10)
        assert recorder.written == ["a"]
        assert health.get(LEDGER_WRITE) is None
    finally:
        kept.detach()
        kept.close_spool()


def test_a_record_failing_for_a_reason_not_the_ledgers_is_tried_a_few_times_then_flagged(
    practice: Practice, tmp_path: Path
) -> None:
    recorder = Recorder()
    health = Health()
    kept = recorder.handoff(health)
    kept.open_spool(tmp_path)
    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    try:
        recorder.fault = KeyError("a bug")
        _give(kept, recorder, "bad")
        assert kept.wait(timeout=10)
    finally:
        kept.detach()
        kept.close_spool()

    assert recorder.written == []
    assert len(recorder.errors) == handoff.OTHER_TRIES
    assert recorder.lost == [1]
    assert health.get(DROPPED) is not None
    assert practice.engine.ledger.meta(RECONCILE_META) is not None


def test_a_kept_record_outlives_any_number_of_tries_while_the_ledger_is_full(
    practice: Practice, tmp_path: Path
) -> None:
    recorder = Recorder()
    kept = recorder.handoff(Health())
    kept.open_spool(tmp_path)
    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    try:
        recorder.fault = sqlite3.OperationalError("database or disk is full")
        _give(kept, recorder, "a")
        time.sleep(0.6)  # a dozen tries or more at this backoff
        assert kept.waiting() == 1
        assert recorder.lost == []
        recorder.fault = None
        assert kept.wait(timeout=10)
        assert recorder.written == ["a"]
    finally:
        kept.detach()
        kept.close_spool()


def test_a_busy_ledger_is_looked_at_again_soon_however_long_it_was_busy(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff, "FIRST_DELAY", 0.05)
    monkeypatch.setattr(handoff, "MAX_DELAY", 30.0)
    monkeypatch.setattr(handoff, "BUSY_MAX_DELAY", 0.1)
    recorder = Recorder()
    kept = recorder.handoff(Health())
    kept.open_spool(tmp_path)
    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    try:
        recorder.fault = LedgerBusy("database is locked: a back-sync batch")
        _give(kept, recorder, "a")
        time.sleep(2.0)  # doubling from 0.05 s, the next try would be 1.6 s away
        recorder.fault = None
        cleared = time.perf_counter()
        assert kept.wait(timeout=10)
        assert time.perf_counter() - cleared < 0.6
    finally:
        kept.detach()
        kept.close_spool()


def test_a_hook_waiting_for_this_processs_own_write_is_shown_as_a_warning_not_another_process(
    practice: Practice, tmp_path: Path
) -> None:
    """A back-sync batch on another thread holds the ledger past the hook's wait: the record is
    kept, and the dashboard says the add-on is busy writing – not 'locked by another process …
    stop the other process', which would send the admin hunting for a process that is not
    there."""
    recorder = Recorder()
    health = Health()
    kept = recorder.handoff(health)
    kept.open_spool(tmp_path)
    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    holding, release = threading.Event(), threading.Event()

    def back_sync_batch() -> None:
        with practice.engine.ledger.transaction():
            holding.set()
            release.wait(10)

    batch = threading.Thread(target=back_sync_batch)
    batch.start()
    try:
        assert holding.wait(10)
        _give(kept, recorder, "a")
        assert recorder.written == []
        condition = health.get(LEDGER_WRITE)
        assert condition is not None
        assert condition.severity == "warning"
        assert condition.message.startswith("the add-on is busy writing its ledger")
        assert "records wait a moment and are written in order" in condition.action
        assert "another process" not in condition.message + condition.action
        release.set()
        assert kept.wait(timeout=10)
        assert recorder.written == ["a"]
        assert health.get(LEDGER_WRITE) is None
    finally:
        release.set()
        batch.join(10)
        kept.detach()
        kept.close_spool()


def test_records_dropped_are_remembered_through_a_restart_and_counted_once(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger_full = {"on": True}
    real_set_meta = SqliteLedger.set_meta

    def set_meta(self: SqliteLedger, key: str, value: str | None) -> None:
        if ledger_full["on"]:
            raise sqlite3.OperationalError("database or disk is full")
        real_set_meta(self, key, value)

    monkeypatch.setattr(SqliteLedger, "set_meta", set_meta)  # the ledger cannot be told yet
    recorder = Recorder()
    kept = recorder.handoff(Health())
    kept.open_spool(tmp_path)
    recorder.fault = KeyError("a bug")  # each dropped after OTHER_TRIES tries
    for n in (1, 2):
        _give(kept, recorder, n)
    kept.attach(practice.engine, tmp_path / "ledger.sqlite3")
    deadline = time.monotonic() + 10
    while kept.status()["waiting"] and time.monotonic() < deadline:
        time.sleep(0.01)
    kept.detach()
    recorder.fault = None
    _give(kept, recorder, 3)
    assert kept.status()["dropped_unreconciled"] == 2
    kept.close_spool()
    kept.open_spool(tmp_path)  # a second start-up in the same process
    assert kept.status()["dropped_unreconciled"] == 2
    kept.close_spool()

    after_restart = recorder.handoff(Health())  # a new process reads the spool
    after_restart.open_spool(tmp_path)
    assert after_restart.status()["dropped_unreconciled"] == 2
    ledger_full["on"] = False
    after_restart.attach(practice.engine, tmp_path / "ledger.sqlite3")
    try:
        assert after_restart.drain()
    finally:
        after_restart.detach()
        after_restart.close_spool()
    assert recorder.written == [3]
    meta = practice.engine.ledger.meta(RECONCILE_META)
    assert meta is not None
    assert json.loads(meta)["records"] == 2
