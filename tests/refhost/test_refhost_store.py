"""The reference host keeps its practice: records round-trip, defaults are the host's, files live
where the contract says."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from hookspecs.host import Host
from hookspecs.refhost import ManualClock, RefHost, SystemClock, document_total

SYDNEY = {
    "id": "bondi",
    "name": "Bondi Beach Pet Resort",
    "timezone": "Australia/Sydney",
    "currency": "AUD",
    "country": "AU",
}
PERTH = {**SYDNEY, "id": "perth", "name": "Fremantle Pet Hotel", "timezone": "Australia/Perth"}

LINES = [
    {
        "description": "Boarding – Deluxe kennel",
        "category": "boarding",
        "quantity": "3",
        "unit_price": "68.00",
        "tax_rate": "10",
        "discount_rate": "10",
    },
    {
        "description": "Rescue donation",
        "category": "extras",
        "quantity": "1",
        "unit_price": "5.00",
        "tax_rate": "0",
    },
]


@pytest.fixture
def host(refhost: RefHost) -> RefHost:
    refhost.add_location(SYDNEY)
    refhost.add_location(PERTH)
    return refhost


def test_refhost_satisfies_the_published_host_protocol(host: RefHost) -> None:
    assert isinstance(host, Host)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "Bondi Beach"}, "id must be"),
        ({"id": ""}, "id must be"),
        ({"timezone": "Australia/Atlantis"}, "not an IANA zone"),
        ({"currency": "aud"}, "currency"),
        ({"country": "AUS"}, "country"),
        ({"name": "  "}, "name"),
    ],
)
def test_add_location_refuses_ids_and_codes_the_host_could_not_use(
    refhost: RefHost, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        refhost.add_location({**SYDNEY, **change})
    assert refhost.locations() == []


def test_add_location_refuses_a_taken_id_and_keeps_insertion_order(host: RefHost) -> None:
    with pytest.raises(ValueError, match="already exists"):
        host.add_location(SYDNEY)
    assert [loc["id"] for loc in host.locations()] == ["bondi", "perth"]


def test_today_is_the_locations_business_date_not_utcs(
    host: RefHost, refhost_clock: ManualClock
) -> None:
    refhost_clock.set(datetime(2025, 3, 1, 14, 0, tzinfo=UTC))  # 01:00 Sunday in Sydney
    assert host.today("bondi") == date(2025, 3, 2)
    assert host.today("perth") == date(2025, 3, 1)  # 22:00 Saturday in Perth


def test_client_round_trips_and_numbers_continue_one_business_sequence(host: RefHost) -> None:
    first = host.save_client({"location_id": "bondi", "first_name": "Ava", "last_name": "Lee"})
    second = host.save_client({"location_id": "perth", "first_name": "Kai", "last_name": "Tran"})
    assert (first["number"], second["number"]) == (1, 2)
    assert host.get_record("clients", first["id"]) == first
    assert first["updated_at"] == host.now().isoformat()


def test_saving_a_client_again_merges_the_change_and_restamps_it(
    host: RefHost, refhost_clock: ManualClock
) -> None:
    client = host.save_client({"location_id": "bondi", "first_name": "Ava", "last_name": "Lee"})
    refhost_clock.advance(timedelta(hours=2))
    changed = host.save_client({"id": client["id"], "phone": "0412 345 678"})
    assert changed == {**client, "phone": "0412 345 678", "updated_at": host.now().isoformat()}
    assert host.get_record("clients", client["id"]) == changed


def test_create_invoice_fills_what_the_host_fills_and_computes_the_total(
    host: RefHost, refhost_clock: ManualClock
) -> None:
    refhost_clock.set(datetime(2025, 3, 1, 14, 0, tzinfo=UTC))
    invoice = host.create_invoice({"location_id": "bondi", "client_id": "c1", "lines": LINES})
    assert invoice["date"] == "2025-03-02" == invoice["due_date"]
    assert invoice["currency"] == "AUD"
    assert invoice["status"] == "open"
    assert invoice["line_amount_types"] == "inclusive"
    # 3 × 68.00 less 10 % = 183.60, plus the 5.00 donation; inclusive: no tax added on top.
    assert invoice["total"] == "188.60"
    assert invoice["updated_at"] == "2025-03-01T14:00:00+00:00"
    assert host.get_record("invoices", invoice["id"]) == invoice


def test_exclusive_totals_add_tax_rounded_per_line() -> None:
    lines = [
        {"description": "a", "category": "retail", "quantity": "1", "unit_price": "0.05",
         "tax_rate": "10"},
        {"description": "b", "category": "retail", "quantity": "1", "unit_price": "0.05",
         "tax_rate": "10"},
    ]  # fmt: skip
    # Each line's 0.005 tax rounds up to 0.01: per-line rounding gives 0.12, not 0.11.
    assert document_total(lines, "exclusive") == "0.12"
    assert document_total(lines, "inclusive") == "0.10"
    assert document_total(lines, "no_tax") == "0.10"


def test_the_host_stores_what_its_caller_gives_even_when_odd(host: RefHost) -> None:
    odd = {"id": "inv-odd", "location_id": "bondi", "client_id": "c1", "lines": "not a list",
           "total": "abc", "number": "seven", "updated_at": "yesterday"}  # fmt: skip
    stored = host.create_invoice(odd)
    assert host.get_record("invoices", "inv-odd") == stored
    assert stored["lines"] == "not a list"
    assert stored["total"] == "abc"


def test_creating_an_invoice_with_a_taken_id_is_refused(host: RefHost) -> None:
    host.create_invoice({"id": "i1", "location_id": "bondi", "client_id": "c1"})
    with pytest.raises(ValueError, match="already exists"):
        host.create_invoice({"id": "i1", "location_id": "bondi", "client_id": "c1"})


def test_update_invoice_replaces_lines_recomputes_total_and_restamps(
    host: RefHost, refhost_clock: ManualClock
) -> None:
    invoice = host.create_invoice({"location_id": "bondi", "client_id": "c1", "lines": LINES})
    refhost_clock.advance(timedelta(minutes=5))
    updated = host.update_invoice({"id": invoice["id"], "lines": LINES[:1]})
    assert updated["total"] == "183.60"
    assert updated["number"] == invoice["number"]
    assert updated["updated_at"] == host.now().isoformat() != invoice["updated_at"]
    with pytest.raises(KeyError):
        host.update_invoice({"id": "missing", "lines": []})


def test_void_invoice_sets_voided_once(host: RefHost, refhost_clock: ManualClock) -> None:
    invoice = host.create_invoice({"location_id": "bondi", "client_id": "c1", "lines": LINES})
    refhost_clock.advance(timedelta(days=1))
    voided = host.void_invoice(invoice["id"])
    assert voided["status"] == "voided"
    assert voided["updated_at"] == host.now().isoformat()
    assert host.void_invoice(invoice["id"]) == voided
    with pytest.raises(KeyError):
        host.void_invoice("missing")


def test_credit_note_and_payment_round_trip_with_their_own_sequences(host: RefHost) -> None:
    invoice = host.create_invoice({"location_id": "bondi", "client_id": "c1", "lines": LINES})
    credit = host.create_credit_note(
        {"location_id": "bondi", "client_id": "c1", "invoice_id": invoice["id"],
         "lines": [{**LINES[0], "quantity": "1"}]}
    )  # fmt: skip
    payment = host.record_payment(
        {"location_id": "bondi", "client_id": "c1", "method": "eftpos",
         "allocations": [{"invoice_id": invoice["id"], "amount": "127.40"}]}
    )  # fmt: skip
    assert (credit["number"], payment["number"]) == (1, 1)
    assert credit["total"] == "61.20"
    assert payment["amount"] == "127.40"  # defaults to what the allocations cover
    assert host.get_record("credit_notes", credit["id"]) == credit
    assert host.get_record("payments", payment["id"]) == payment
    assert host.get_record("payments", "nope") is None


def test_the_practice_survives_a_host_restart(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2025, 3, 1, tzinfo=UTC))
    with RefHost(tmp_path, clock=clock, load_entrypoints=False) as first:
        first.add_location(SYDNEY)
        client = first.save_client({"location_id": "bondi", "first_name": "A", "last_name": "B"})
    assert (tmp_path / "host" / "practice.db").is_file()
    with RefHost(tmp_path, clock=clock, load_entrypoints=False) as second:
        assert second.locations() == [SYDNEY]
        assert second.get_record("clients", client["id"]) == client


def test_data_dir_is_per_plugin_created_and_refuses_paths(host: RefHost) -> None:
    path = host.data_dir("xero")
    assert path == host.root / "plugins" / "xero"
    assert path.is_dir()
    for bad in ("../escape", "a/b", "", ".."):
        with pytest.raises(ValueError, match=r"not a plugin name"):
            host.data_dir(bad)


def test_secret_is_stable_per_plugin_and_the_key_file_is_private(tmp_path: Path) -> None:
    with RefHost(tmp_path, load_entrypoints=False) as host:
        xero, other = host.secret("xero"), host.secret("other")
    key = tmp_path / "host" / "secret.key"
    assert len(xero) == 32
    assert xero != other
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    with RefHost(tmp_path, load_entrypoints=False) as again:
        assert again.secret("xero") == xero
    assert not any(p.name == "secret.key" for p in (tmp_path / "plugins").rglob("*"))


def test_manual_clock_moves_only_when_told_and_refuses_naive_times() -> None:
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2025, 1, 1, tzinfo=UTC)
    assert clock.advance(timedelta(days=1)) == datetime(2025, 1, 2, tzinfo=UTC)
    clock.set(datetime(2024, 12, 31, 13, 30, tzinfo=UTC))
    assert clock.today("Australia/Sydney") == date(2025, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2025, 1, 1))
    assert SystemClock().now().tzinfo is not None


def test_a_host_without_a_clock_uses_the_real_time(tmp_path: Path) -> None:
    host = RefHost(tmp_path, load_entrypoints=False)
    try:
        assert abs(host.now() - datetime.now(UTC)) < timedelta(seconds=5)
    finally:
        host.close()
