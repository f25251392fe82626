"""A periodic read that the day's budget stopped goes on the next day from the last
``UpdatedDateUTC`` it read (``If-Modified-Since``, page 1, Xero's pages oldest change first),
not from a page number: a document that moves or leaves the list in between cannot make one
slide past the page boundary unread. And every FULL_READ_DAYS a read is in full, so a document
Xero no longer has is found again (incremental reads never return it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from books_world import World, synced

from pm_xero_plugin.sync.books import XeroBooks
from pm_xero_plugin.sync.books_read import FULL_READ_DAYS, BooksReader
from pm_xero_plugin.xero.client import READ_ORDER, format_if_modified_since
from pm_xero_plugin.xero.dates import parse_xero_datetime

DAY = 24 * 3600


@contextmanager
def one_call_a_day(w: World) -> Iterator[BooksReader]:
    """A reader of the same ledger allowed one call a day (0.2 of 5), two contacts a page; the
    reads are in its own budget's day counts (they share the ledger's)."""
    runtime = w.p.xero.runtime
    slow = XeroBooks(w.p.engine, runtime.client, runtime.connection_for, day_limit=5).reader
    slow.page_size = 2
    yield slow


def _emails_changed(w: World) -> list[str]:
    """Every contact of ours edited in Xero, a second apart (C1 oldest); their Xero ids."""
    ids = []
    for n, row in enumerate(sorted(w.rows("contact"), key=lambda r: r.id), start=1):
        w.later(1)
        w.bookkeeper("POST", f"Contacts/{row.xero_id}", {"EmailAddress": f"new{n}@example.com"})
        ids.append(str(row.xero_id).lower())
    return ids


def _read_until_done(w: World, reader: BooksReader) -> None:
    for _ in range(20):
        w.later(DAY)
        if reader.read(w.tenant).incomplete is None:
            return
    raise AssertionError("the read never finished")


def _watch(w: World) -> list[httpx.Request]:
    sent: list[httpx.Request] = []
    w.p.xero.runtime.client.request_hook = sent.append
    return sent


def test_a_stopped_read_goes_on_from_its_last_update_not_its_page(tmp_path: Path) -> None:
    with synced(tmp_path) as w:
        w.later(3600)
        w.books.reader.read(w.tenant)  # in full, at the full budget
        w.later(3600)
        c1, c2, c3 = _emails_changed(w)
        with one_call_a_day(w) as slow:
            w.later(DAY)
            first = slow.read(w.tenant)  # Contacts page 1: C1, C2; then the budget is spent
            assert first.incomplete is not None
            assert first.elements == 2
            org = w.sandbox._orgs[w.tenant]  # C1 leaves the list: C3 is now on page 1
            org.contacts.pop(next(k for k in org.contacts if k.lower() == c1))
            sent = _watch(w)

            w.later(DAY)
            second = slow.read(w.tenant)

        copies = w.ledger.xero_copies(w.tenant, "contact")
        assert copies[c3].summary["email"] == "new3@example.com"  # not skipped
        contacts = [r for r in sent if r.url.path.endswith("/Contacts")]
        resumed = contacts[-1]  # (a day later the token is refreshed first: its 401 repeated)
        assert len({str(r.url) for r in contacts}) == 1, "one call, the budget's"
        assert resumed.url.params["page"] == "1"
        assert resumed.url.params["order"] == READ_ORDER
        c2_at = parse_xero_datetime(str(copies[c2].updated_utc))
        assert resumed.headers["If-Modified-Since"] == format_if_modified_since(c2_at)
        assert second.elements == 2  # C2 again (harmless), and C3


def test_a_document_changed_on_a_page_already_read_moves_to_the_end_and_skips_none(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.later(3600)
        w.books.reader.read(w.tenant)
        w.later(3600)
        c1, _c2, c3 = _emails_changed(w)
        with one_call_a_day(w) as slow:
            w.later(DAY)
            slow.read(w.tenant)  # C1, C2
            w.later(1)  # C1 changed again: it is now the newest, after C3
            w.bookkeeper("POST", f"Contacts/{c1}", {"EmailAddress": "again1@example.com"})
            _read_until_done(w, slow)

        copies = w.ledger.xero_copies(w.tenant, "contact")
        assert copies[c3].summary["email"] == "new3@example.com"
        assert copies[c1].summary["email"] == "again1@example.com"


def test_every_few_days_a_read_is_in_full_and_finds_a_document_xero_no_longer_has(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.books.reader.read(w.tenant)  # the first read: in full
        [invoice, *_] = w.rows("invoice")
        org = w.sandbox._orgs[w.tenant]  # gone from Xero's books entirely
        org.invoices.pop(next(k for k in org.invoices if k.lower() == invoice.xero_id.lower()))

        w.later((FULL_READ_DAYS - 1) * DAY)
        soon = w.books.reader.read(w.tenant)
        w.later(DAY)
        due = w.books.reader.read(w.tenant)
        w.later(DAY)
        after = w.books.reader.read(w.tenant)

        assert (soon.full, soon.gone) == (False, 0)  # an incremental read never sees it
        assert (due.full, due.gone) == (True, 1)
        assert w.ledger.xero_copies(w.tenant, "invoice")[invoice.xero_id.lower()].gone
        assert not after.full  # the next full one is FULL_READ_DAYS on
        assert w.books.reader.state(w.tenant)[1] == due.read_at
