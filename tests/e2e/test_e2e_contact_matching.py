"""Contact sync into an organisation that already holds customers (issue 9, item 3), end to end
on a served sandbox: a contact carrying our number is ours and is linked, never created again; a
same-name contact without our number is not adopted silently – it is held and listed with the
ways out, its documents wait behind it, and both ways out work."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.e2e_expect import check_books, check_order, expected
from support.e2e_world import START_DATE, World

from hookspecs.refhost import RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.dashboard.preview import preview

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def rebuild() -> Iterator[Callable[[World], None]]:
    """Start the host again on the same data with the add-on's ledger gone (a rebuilt ledger,
    or a second installation connected to the same organisations): settings and tokens stay."""
    started: list[RefHost] = []

    def again(world: World) -> None:
        root = world.host.root
        world.host.stop()
        for suffix in ("", "-wal", "-shm"):
            (root / "plugins" / "xero" / f"ledger.sqlite3{suffix}").unlink(missing_ok=True)
        host = RefHost(root, clock=world.clock, load_entrypoints=False)
        host.register(plugin, name="xero")
        host.start()
        started.append(host)
        world.host = host
        world.wire_runtime()

    yield again
    for host in started:
        assert host.hook_failures == [], host.hook_failures
        host.stop()


def _contact_sync(world: World) -> dict[str, Any]:
    world.connect_all()
    settings = world.make_settings(None)
    world.save_settings(settings)
    world.host.start_contact_sync(None)
    world.drain()
    return settings


def _start_data_sync(world: World, settings: dict[str, Any]) -> None:
    world.save_settings(dict(settings, start_date=START_DATE.isoformat()))
    world.host.backfill(None, None)
    world.drain()


def test_second_contact_sync_links_every_contact_already_in_xero_and_creates_none(
    large_world: World, rebuild: Callable[[World], None]
) -> None:
    world = large_world
    settings = _contact_sync(world)
    tenants = sorted(set(world.tenants.values()))
    before = {t: sorted(c["ContactID"] for c in world.book(t)["contacts"]) for t in tenants}
    assert max(len(ids) for ids in before.values()) > 100  # over a page: a look-up per batch

    rebuild(world)
    sent_from = len(world.sent)
    world.host.start_contact_sync(None)
    world.drain()

    again = world.sent[sent_from:]
    assert [s for s in again if s.path.startswith("/Contacts") and s.method != "GET"] == []
    assert {t: sorted(c["ContactID"] for c in world.book(t)["contacts"]) for t in tenants} == before
    ids = {
        (t, c["ContactNumber"]): c["ContactID"] for t in tenants for c in world.book(t)["contacts"]
    }
    rows = world.rows(kind="contact")
    assert rows
    assert {r.state for r in rows} == {"synced"}
    assert all(r.xero_id == ids[(r.tenant_id, f"C{r.number}")] for r in rows)
    for tenant in tenants:
        looked = [s for s in again if s.tenant == tenant and s.method == "GET"]
        contacts = sum(1 for r in rows if r.tenant_id == tenant)
        # one read of what Xero holds under our prefix, then one look-up per batch of 50
        assert len([s for s in looked if s.path == "/Contacts"]) <= math.ceil(contacts / 50) + 1
    assert all(world.engine.ledger.tenant(t).contact_sync == "finished" for t in tenants)

    _start_data_sync(world, settings)
    check_books(world, expected(world, START_DATE))
    check_order(world)
    assert world.rows(state="failed") == []


def _customers_with_documents(world: World, count: int) -> list[dict[str, Any]]:
    home = world.locations[0]["id"]
    invoiced = {
        i["client_id"]
        for i in world.host.iter_history("invoices", home, START_DATE)
        if i["status"] != "voided"
    }
    found = [
        dict(c)
        for c in world.host.iter_history("clients", home)
        if c["location_id"] == home and c["id"] in invoiced
    ]
    return found[:count]


def _name(client: dict[str, Any]) -> str:
    return f"{client['first_name']} {client['last_name']} (C{client['number']})"


def test_same_name_contacts_not_ours_are_held_and_listed_and_both_ways_out_work(
    world: World,
) -> None:
    world.connect_all()
    first = world.tenant_of(0)
    home = world.locations[0]["id"]
    linked, renamed = _customers_with_documents(world, 2)
    key = world.runtime.connection_for_any(first)
    typed: dict[str, str] = {}
    for client in (linked, renamed):  # typed into Xero by hand: same name, no contact number
        (made,) = world.runtime.client.send_batch(
            first, key, "PUT", "Contacts", [{"Name": _name(client)}], idempotency_key=client["id"]
        )
        assert made.ok
        typed[client["id"]] = str(made.xero_id)
    settings = world.make_settings(None)
    world.save_settings(settings)
    world.host.start_contact_sync(None)
    world.drain()

    held = {r.host_id: r for r in world.rows(state="waiting", gate="contact_name_taken")}
    assert set(held) == {linked["id"], renamed["id"]}
    assert all(r.xero_match and r.xero_match["ContactID"] == typed[h] for h, r in held.items())
    # The other customers are not held back by the two: contact sync is done, data flows.
    assert world.engine.ledger.tenant(first).contact_sync == "finished"
    _start_data_sync(world, settings)
    assert world.rows(state="failed") == []
    waiting = [r for r in world.rows(tenant_id=first) if r.dep_contact in held]
    assert waiting
    assert all(r.state == "waiting" and r.gate == "contact" for r in waiting)
    assert all("name is taken in Xero" in str(r.detail) for r in waiting)

    status = world.host.sync_status(home)
    assert status is not None
    assert status["contact_conflicts_total"] == 2
    org = next(o for o in status["organisations"] if o["tenant_id"] == first)
    assert org["contact_conflicts"] == 2
    listed = {c["host_id"]: c for c in status["contact_conflicts"]}
    assert set(listed) == set(held)
    for host_id, conflict in listed.items():
        assert conflict["xero_contact"]["ContactID"] == typed[host_id]
        assert conflict["contact_number"] == f"C{held[host_id].number}"
        assert conflict["documents_waiting"] == sum(1 for r in waiting if r.dep_contact == host_id)
        assert [w["action"] for w in conflict["ways_out"]] == [
            "link_contact",
            "create_distinct",
            "retry",
            "exclude",
        ]
    assert {f["row_id"] for f in status["failures"]} >= {r.id for r in held.values()}
    report = preview(world.engine, world.host, START_DATE)
    previewed = next(o for o in report["organisations"] if o["tenant_id"] == first)
    assert previewed["contact_conflicts"]["count"] == 2
    assert any("--link-contact" in w for w in previewed["warnings"])

    # Way out 1: it is this customer – link it; our number is written onto it.
    world.engine.link_contact(held[linked["id"]].id)
    # Way out 2: it is someone else – create ours under a distinct name.
    location = world.locations[0]["name"]
    name = world.engine.create_contact_distinct(held[renamed["id"]].id)
    assert (
        name == f"{renamed['first_name']} {renamed['last_name']} (C{renamed['number']}, {location})"
    )
    world.drain()

    contacts = {c["ContactID"]: c for c in world.book(first)["contacts"]}
    assert contacts[typed[linked["id"]]].get("ContactNumber") == f"C{linked['number']}"
    assert not contacts[typed[renamed["id"]]].get("ContactNumber")  # theirs is left alone
    (ours,) = [c for c in contacts.values() if c.get("ContactNumber") == f"C{renamed['number']}"]
    assert ours["Name"] == name
    assert ours["ContactID"] != typed[renamed["id"]]
    expect_contact = {linked["id"]: typed[linked["id"]], renamed["id"]: ours["ContactID"]}
    invoices = world.book(first)["invoices"]
    for row in waiting:
        current = world.engine.ledger.get(row.id)
        assert current.state == "synced", (current.kind, current.state, current.gate)
    numbers = {f"INV{r.number}": r.dep_contact for r in waiting if r.kind == "invoice"}
    sent = [i for i in invoices if i["InvoiceNumber"] in numbers]
    assert sent
    assert all(
        i["Contact"]["ContactID"] == expect_contact[numbers[i["InvoiceNumber"]]] for i in sent
    )
    status = world.host.sync_status(home)
    assert status is not None
    assert status["contact_conflicts"] == []
    check_books(world, expected(world, START_DATE))


def test_a_rebuilt_ledger_syncing_the_same_books_again_puts_nothing_in_xero_twice(
    world: World, rebuild: Callable[[World], None]
) -> None:
    """Documents of customers found in Xero may be there too (the same books, synced before):
    invoices are linked by number, and their payments – which have no number – are looked up
    by reference before they are created (a paid invoice would refuse them; a part payment
    would be doubled)."""
    world.set_up()
    world.drain()
    tenants = sorted(set(world.tenants.values()))

    def books() -> dict[str, dict[str, int]]:
        return {
            t: {kind: len(world.book(t)[kind]) for kind in ("contacts", "invoices", "payments")}
            | {"bank_transactions": len(world.book(t).get("bank_transactions", []))}
            for t in tenants
        }

    before = books()
    assert all(b["payments"] > 0 for b in before.values())

    rebuild(world)
    world.host.start_contact_sync(None)
    world.drain()
    world.host.backfill(None, None)
    world.drain()

    assert books() == before
    assert world.rows(state="failed") == []
    payments = world.rows(kind="payment", state="synced")
    assert payments
    assert all(r.attempts == 0 for r in payments)
    check_books(world, expected(world, START_DATE))


def test_another_document_under_our_invoice_number_is_not_linked(world: World) -> None:
    """Linked by number only when provably the same document (customer, date, total): an
    invoice someone else made under our number is reported, and its payments are not sent
    to it."""
    settings = _contact_sync(world)
    first = world.tenant_of(0)
    home = world.locations[0]["id"]
    ours = next(
        i for i in world.host.iter_history("invoices", home, START_DATE) if i["status"] != "voided"
    )
    other = next(c for c in world.book(first)["contacts"] if c.get("ContactNumber"))
    key = world.runtime.connection_for_any(first)
    (theirs,) = world.runtime.client.send_batch(
        first,
        key,
        "PUT",
        "Invoices",
        [
            {
                "Type": "ACCREC",
                "InvoiceNumber": f"INV{ours['number']}",
                "Contact": {"ContactID": other["ContactID"]},
                "Date": "2025-01-02",
                "LineItems": [{"Description": "Typed by hand", "Quantity": 1, "UnitAmount": 1}],
                "Status": "AUTHORISED",
            }
        ],
        idempotency_key="by-hand-invoice",
    )
    assert theirs.ok
    _start_data_sync(world, settings)

    row = world.engine.ledger.find("invoice", ours["id"], first)
    assert row is not None
    assert row.state == "failed"
    assert row.xero_id is None
    assert f"invoice INV{ours['number']} is already in Xero for {other['Name']}" in str(row.message)
    assert "ours is for" in str(row.message)
    in_xero = [
        i for i in world.book(first)["invoices"] if i["InvoiceNumber"] == f"INV{ours['number']}"
    ]
    assert [i["InvoiceID"] for i in in_xero] == [theirs.xero_id]
    paying = [r for r in world.rows(tenant_id=first, kind="payment") if r.dep_invoice == ours["id"]]
    assert all(r.state == "waiting" and r.gate == "invoice" for r in paying)
    others = [r for r in world.rows(tenant_id=first, kind="invoice") if r.host_id != ours["id"]]
    assert others
    assert all(r.state in ("synced", "excluded") for r in others)
