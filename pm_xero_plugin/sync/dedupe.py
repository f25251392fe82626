"""Exactly once in Xero: look before sending, and link instead of duplicating.

- Rows whose previous attempt went out with an unknown outcome (a timeout, a crash after the
  request left) are first **looked up in Xero by their number or reference** and adopted if
  Xero has them (:mod:`pm_xero_plugin.xero.finders`). Idempotency keys live only six minutes;
  the look-up holds for ever.
- A contact is **matched before it is created**: a Xero contact carrying our contact number is
  ours.
- A row in doubt may have been **edited since** (the host replaced its payload before the
  retry): Xero's copy under our number, for our contact, is then our older version – adopted,
  saying what decided and what differs, and the current version follows as an update (or, for
  a payment Xero cannot edit, fails by :func:`~pm_xero_plugin.xero.kinds.edit_refusal`).
- A create refused because the number exists is **linked** to the existing document when it is
  provably the same one, never duplicated; a contact whose name Xero gives another is **held**
  for an admin.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pm_xero_plugin.ledger import Ledger
from pm_xero_plugin.mapping.config import MappingError
from pm_xero_plugin.mapping.refunds import refund_source
from pm_xero_plugin.mapping.values import xero_number
from pm_xero_plugin.sync.prepare import Prepared
from pm_xero_plugin.sync.settle import BatchOutcome, Settler, StopBatch
from pm_xero_plugin.xero.client import XeroClient
from pm_xero_plugin.xero.errors import XeroError
from pm_xero_plugin.xero.finders import (
    CLASH_HINT,
    Clash,
    Found,
    Match,
    Wanted,
    describe_clash,
    look_up,
)
from pm_xero_plugin.xero.kinds import REFUND_KINDS, edit_refusal

__all__ = ["Deduper"]

log = logging.getLogger("pm_xero_plugin.sync.sender")

_CONTACTS_PAGE = 100
"""Contacts per page of ``GET /Contacts`` (Xero's page size)."""

_NAMES_PER_LOOKUP = 20
"""``Name==`` alternatives per look-up (keeps the URL short, like the client's number look-ups)."""

_OURS_FOR = timedelta(minutes=5)
"""How long one read of an organisation's contacts under our prefix is matched against: a
contact someone adds meanwhile is still caught, by Xero's refusal of its number or name."""

_DOCUMENTS = frozenset({"invoice", "credit_note"})
"""Kinds whose host total Xero's document must equal to be ours."""

_PARENT_KIND = {
    "payment": "invoice",
    "overpayment": "contact",
    "allocation": "credit_note",
    "deposit": "contact",
    "deposit_allocation": "deposit",
    "credit_note_refund": "credit_note",
    "overpayment_refund": "overpayment",
    "deposit_refund": "deposit",
}
"""The parent whose being found in Xero (rather than created by us) puts a create in doubt."""


_VOIDED = ("VOIDED", "DELETED")
"""An invoice's statuses in Xero that a void of ours has reached."""


class Deduper:
    """The look-ups that keep each record once in Xero (see the module docstring).

    :param ledger: where adopted and linked rows are settled.
    :param client: the Xero client that looks records up.
    :param settler: settles a batch whose look-up failed.
    :param client_prefix: the contact-number prefix in force for a row (``C``).
    :param now: the host clock (how long a read of our contacts is trusted).
    """

    def __init__(
        self,
        ledger: Ledger,
        client: XeroClient,
        settler: Settler,
        *,
        client_prefix: Callable[[str, Prepared], str],
        now: Callable[[], datetime],
    ) -> None:
        self.ledger = ledger
        self.client = client
        self._settler = settler
        self._client_prefix = client_prefix
        self._now = now
        self._ours: dict[
            str, tuple[datetime, tuple[str, ...], dict[str, dict[str, Any]] | None]
        ] = {}
        """Per organisation: until when, for which prefixes, its contacts under our prefix."""
        self._ours_locks: dict[str, threading.Lock] = {}
        """Per organisation: two batches in flight read it once (the second waits for it)."""
        self._locks_guard = threading.Lock()

    # -- before sending --------------------------------------------------------------------------

    def look_before_sending(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        prepared: list[Prepared],
        outcome: BatchOutcome,
    ) -> list[Prepared]:
        """The rows still to send: the others were found in Xero and settled as synced.

        :raises StopBatch: the look-up failed, and every row has been settled.
        """
        if kind == "contact":
            return self._match_contacts(tenant_id, connection, prepared, outcome)
        return self._adopt_uncertain(tenant_id, connection, kind, prepared, outcome)

    def lookup(
        self, tenant_id: str, connection: str, kind: str, items: Sequence[Prepared]
    ) -> Found:
        """What Xero already has under these rows' keys, by row id: the documents provably
        ours (:func:`~pm_xero_plugin.xero.finders.judge`) and the foreign ones in the way."""
        wanted = [self._wanted(tenant_id, p) for p in items]
        return look_up(self.client, tenant_id, connection, kind, wanted)

    def _wanted(self, tenant_id: str, p: Prepared) -> Wanted:
        total = p.row.payload.get("total") if p.row.kind in _DOCUMENTS else None
        return Wanted(
            p.row.id,
            p.dedupe_key,
            p.element,
            p.method == "PUT",
            total=None if total is None else str(total),
            contact_number=self._contact_number(tenant_id, p),
            # the ledger's doubt: a request went out and its outcome was never learned, so
            # Xero may hold this row's version from before an edit the host made since
            in_doubt=p.row.uncertain and p.method == "PUT",
        )

    def _customer(self, tenant_id: str, p: Prepared) -> Mapping[str, Any] | None:
        """The host customer of a document row, as the ledger holds it."""
        client_id = p.row.payload.get("client_id")
        if p.row.kind == "contact" or not client_id:
            return None
        row = self.ledger.find("contact", str(client_id), tenant_id)
        return row.payload if row is not None else None

    def _contact_number(self, tenant_id: str, p: Prepared) -> str | None:
        customer = self._customer(tenant_id, p)
        if customer is None:
            return None
        try:
            return xero_number(self._client_prefix(tenant_id, p), customer.get("number"))
        except MappingError:
            return None

    def _adopt(self, p: Prepared, match: Match, how: str, outcome: BatchOutcome) -> None:
        """Settle a row as the document Xero already has, saying which fields proved it ours
        (on the row's reply and in its history). Xero's copy of a row in doubt may be our
        version from before an edit (:attr:`Match.differs`): it is adopted the same way, and
        the current version then goes out as an update – as intake queues the edit of a row
        Xero has."""
        fields = ", ".join(match.decided_by)
        said = f"{p.dedupe_key} found in Xero as {match.xero_id}: ours by {fields}"
        reply: dict[str, Any] = {
            how: True,
            "key": p.dedupe_key,
            "decided_by": list(match.decided_by),
        }
        if not match.differs:
            self.ledger.add_log(p.row.id, how, said)
            self.ledger.mark_synced(p.row.id, match.xero_id, reply)
            outcome.synced += 1
            return
        differs = ", ".join(match.differs)
        reply["differs"] = list(match.differs)
        refusal = edit_refusal(p.row.kind)
        with self.ledger.transaction():
            self.ledger.add_log(
                p.row.id,
                how,
                f"{said}; differs in {differs} (an earlier version of ours: "
                + ("Xero cannot edit it)" if refusal else "the current one follows as an update)"),
            )
            current = self.ledger.get(p.row.id)
            if refusal is None and (current is None or not current.pending_op):
                self.ledger.set_fields(p.row.id, pending_op="update")
            self.ledger.mark_synced(p.row.id, match.xero_id, reply)
            if refusal is not None:
                self.ledger.mark_failed(p.row.id, f"{refusal[0]} ({said})", hint=refusal[1])
        if refusal is None:
            outcome.released += 1  # back to ready, as an update
        else:
            outcome.failed += 1

    def _fail_clash(
        self,
        tenant_id: str,
        kind: str,
        p: Prepared,
        clash: Clash,
        outcome: BatchOutcome,
        said: str | None = None,
    ) -> None:
        """Another document holds our number in Xero: the row fails with both sides shown and
        the ways out, never linked to it (its payment would land on another customer)."""
        customer = self._customer(tenant_id, p) or {}
        name = " ".join(
            str(customer.get(k) or "").strip() for k in ("first_name", "last_name")
        ).strip()
        both = describe_clash(
            kind,
            p.dedupe_key,
            clash.theirs,
            our_customer=name or None,
            our_total=p.row.payload.get("total"),
            our_date=p.element.get("Date"),
        )
        differs = ", ".join(clash.differs)
        message = f"{both} (differs in {differs}; not linked)"
        self.ledger.mark_failed(
            p.row.id, f"{message}. Xero said: {said}" if said else message, hint=CLASH_HINT
        )
        outcome.failed += 1

    def _match_contacts(
        self,
        tenant_id: str,
        connection: str,
        prepared: list[Prepared],
        outcome: BatchOutcome,
    ) -> list[Prepared]:
        """Match before create: a Xero contact carrying our contact number is ours, and is
        linked instead of created (Xero would refuse a second one: numbers are unique).

        An organisation that already holds our customers (an earlier connection, a rebuilt
        ledger) is thus linked contact by contact, at one look-up per batch of 50. What Xero
        holds under our prefix is read first, once per organisation every few minutes: when
        that one read shows all of it (fewer than a page), batches match against it without
        a call of their own – a fresh organisation costs one call, not one per batch. Rows
        whose earlier create is in doubt are always looked up.
        """
        creates = [p for p in prepared if p.method == "PUT"]
        if not creates:
            return prepared
        in_doubt = {p.row.id for p in creates if p.row.uncertain}
        try:
            found = (
                None if in_doubt else self._ours_in_xero(tenant_id, connection, creates, outcome)
            )
            if found is None:
                outcome.api_calls += 1
                found = self.client.find_contacts_by_number(
                    tenant_id, connection, [p.dedupe_key for p in creates]
                )
        except XeroError as exc:
            self._settler.request_error(
                tenant_id, [p.row for p in prepared], exc, outcome, in_doubt=in_doubt
            )
            raise StopBatch from exc
        linked: set[int] = set()
        for p in creates:
            hit = found.get(p.dedupe_key)
            if hit and hit.get("ContactID"):
                log.info("linked contact %s already in Xero (tenant %s)", p.dedupe_key, tenant_id)
                self._link_contact(p, hit, outcome)
                linked.add(p.row.id)
        return [p for p in prepared if p.row.id not in linked]

    def _link_contact(self, p: Prepared, contact: Mapping[str, Any], outcome: BatchOutcome) -> None:
        """A Xero contact carrying our contact number is ours: link it, saying so."""
        self.ledger.add_log(
            p.row.id,
            "matched",
            f"{p.dedupe_key} found in Xero as {contact['ContactID']}: ours by ContactNumber",
        )
        self.ledger.mark_synced(
            p.row.id,
            str(contact["ContactID"]),
            {
                "matched": "ContactNumber",
                "key": p.dedupe_key,
                "decided_by": ["ContactNumber"],
                "contact": _contact_facts(contact),
            },
        )
        outcome.synced += 1

    def _ours_in_xero(
        self, tenant_id: str, connection: str, creates: list[Prepared], outcome: BatchOutcome
    ) -> dict[str, dict[str, Any]] | None:
        """The organisation's contacts under our contact-number prefix, by number, when one
        read (a page) holds them all; ``None`` when there are more (look each batch up)."""
        prefixes = tuple(sorted({self._client_prefix(tenant_id, p) for p in creates}))
        with self._locks_guard:
            lock = self._ours_locks.setdefault(tenant_id, threading.Lock())
        with lock:
            return self._read_ours(tenant_id, connection, prefixes, outcome)

    def _read_ours(
        self, tenant_id: str, connection: str, prefixes: tuple[str, ...], outcome: BatchOutcome
    ) -> dict[str, dict[str, Any]] | None:
        now = self._now()
        cached = self._ours.get(tenant_id)
        if cached is not None and cached[0] > now and cached[1] == prefixes:
            return cached[2]
        held: dict[str, dict[str, Any]] | None = {}
        for prefix in prefixes:
            page = self._contacts_under(tenant_id, connection, prefix, outcome)
            if page is None:
                held = None  # more than one read shows: each batch is looked up instead
                break
            for contact in page:
                if contact.get("ContactNumber") and held is not None:
                    held.setdefault(str(contact["ContactNumber"]), contact)
        self._ours[tenant_id] = (now + _OURS_FOR, prefixes, held)
        return held

    def _contacts_under(
        self, tenant_id: str, connection: str, prefix: str, outcome: BatchOutcome
    ) -> list[dict[str, Any]] | None:
        """The contacts numbered under ``prefix`` when one page holds them all, else ``None``
        (also for a prefix that cannot be asked for)."""
        if '"' in prefix or "\\" in prefix:
            return None
        outcome.api_calls += 1
        page = self.client.get(
            tenant_id,
            connection,
            "Contacts",
            {
                "where": f'ContactNumber!=null AND ContactNumber.StartsWith("{prefix}")',
                "includeArchived": "true",
                "page": "1",
            },
        )
        return None if len(page) >= _CONTACTS_PAGE else page

    def _found_parents(self, tenant_id: str, kind: str, prepared: list[Prepared]) -> set[int]:
        """Rows whose parent was found in Xero rather than created by us (an invoice linked
        by its number, a contact matched by its number): their own create may be in Xero too
        (the same books synced before, by an earlier connection or ledger), so they are looked
        up first – a payment of an already-paid invoice would otherwise be refused, or a part
        payment doubled."""
        parent_kind = _PARENT_KIND.get(kind)
        if parent_kind is None:
            return set()
        parents = {
            p.row.id: _parent_host_id(kind, p)
            for p in prepared
            if p.method == "PUT" and not p.row.uncertain
        }
        if not parents:
            return set()
        found = set(self.ledger.found_in_xero(parent_kind, set(parents.values()), tenant_id))
        return {row_id for row_id, host_id in parents.items() if host_id in found}

    def _adopt_uncertain(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        prepared: list[Prepared],
        outcome: BatchOutcome,
    ) -> list[Prepared]:
        prepared = self._settle_voids_in_doubt(tenant_id, connection, kind, prepared, outcome)
        look = self._found_parents(tenant_id, kind, prepared)
        uncertain = [
            p for p in prepared if (p.row.uncertain or p.row.id in look) and p.method == "PUT"
        ]
        if not uncertain:
            return prepared
        try:
            found = self.lookup(tenant_id, connection, kind, uncertain)
        except XeroError as exc:
            # The look-up failed, so nothing is known yet about the rows in doubt: they must
            # stay in doubt (a 429 on the look-up says nothing about the earlier create).
            self._settler.request_error(
                tenant_id,
                [p.row for p in prepared],
                exc,
                outcome,
                in_doubt={p.row.id for p in uncertain if p.row.uncertain},
            )
            raise StopBatch from exc
        finally:
            outcome.api_calls += 1
        for p in uncertain:
            match = found.ours.get(p.row.id)
            clash = found.clashes.get(p.row.id)
            if match is not None:
                log.info("adopted %s %s already in Xero (tenant %s)", kind, p.dedupe_key, tenant_id)
                self._adopt(p, match, "adopted" if p.row.uncertain else "linked_existing", outcome)
            elif clash is not None:
                # Xero holds this number once, and not for us: an earlier create of ours was
                # refused, and a new one would be too.
                self._fail_clash(tenant_id, kind, p, clash, outcome)
        settled = found.ours.keys() | found.clashes.keys()
        return [p for p in prepared if p.row.id not in settled]

    def _settle_voids_in_doubt(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        prepared: list[Prepared],
        outcome: BatchOutcome,
    ) -> list[Prepared]:
        """A void whose answer was lost (the host or worker killed mid-call) may have voided the
        invoice already: Xero then refuses a second one (``not of valid status for
        modification``) and the row would fail though the books are right. So the invoice is
        read first; already VOIDED (or DELETED) under the id we hold, the void is done."""
        voids = [
            p
            for p in prepared
            if kind == "invoice"
            and p.row.uncertain
            and p.row.operation == "void"
            and p.method == "POST"
            and p.row.xero_id
        ]
        if not voids:
            return prepared
        try:
            found = self.client.find_invoices_by_number(
                tenant_id, connection, [p.dedupe_key for p in voids]
            )
        except XeroError as exc:
            self._settler.request_error(
                tenant_id,
                [p.row for p in prepared],
                exc,
                outcome,
                in_doubt={p.row.id for p in voids},
            )
            raise StopBatch from exc
        finally:
            outcome.api_calls += 1
        done: set[int] = set()
        for p in voids:
            hit = found.get(p.dedupe_key) or {}
            if hit.get("InvoiceID") == p.row.xero_id and hit.get("Status") in _VOIDED:
                self.ledger.add_log(
                    p.row.id, "adopted", f"{p.dedupe_key} is already {hit['Status']} in Xero"
                )
                self.ledger.mark_synced(p.row.id, str(p.row.xero_id), {"adopted": True})
                outcome.synced += 1
                done.add(p.row.id)
        return [p for p in prepared if p.row.id not in done]

    # -- after Xero refused a create ------------------------------------------------------------

    def link_duplicates(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        duplicates: list[tuple[Prepared, str]],
        outcome: BatchOutcome,
    ) -> None:
        """Xero said the number exists: link the row to that document instead of failing it –
        only when it is provably ours (:func:`~pm_xero_plugin.xero.finders.judge`: customer,
        total, date), never by number alone: another customer's invoice under our number is
        not ours, and fails the row with both sides shown."""
        items = [p for p, _ in duplicates]
        try:
            outcome.api_calls += 1
            found = self.lookup(tenant_id, connection, kind, items)
        except XeroError as exc:
            self._settler.request_error(tenant_id, [p.row for p in items], exc, outcome)
            return
        for p, said in duplicates:
            match = found.ours.get(p.row.id)
            clash = found.clashes.get(p.row.id)
            if match is not None:
                self._adopt(p, match, "linked_existing", outcome)
            elif clash is not None:
                self._fail_clash(tenant_id, kind, p, clash, outcome, said)
            else:
                # Keep Xero's own words: they are what the admin (and Xero support) need.
                self.ledger.mark_failed(
                    p.row.id,
                    f"{said} ({p.dedupe_key} could not be found in Xero to link to it)",
                    hint="Xero says this number is taken, but no document of this kind has it "
                    "(it may be deleted, archived or of another type). Renumber or remove the "
                    "one in Xero, then retry.",
                )
                outcome.failed += 1

    def hold_name_taken(
        self,
        tenant_id: str,
        connection: str,
        taken: list[tuple[Prepared, str]],
        outcome: BatchOutcome,
    ) -> None:
        """Xero gives these contacts' names to other contacts. A contact carrying our number is
        ours (linked) – looked up by number first, then by name: a fresh ledger over an
        organisation that already holds our customers meets its own contacts here. Any other
        is *not* adopted: the row is held for an admin with the contact Xero has (link it, or
        create ours under a distinct name), and the documents waiting for it say so instead of
        failing one by one."""
        try:
            outcome.api_calls += 1
            by_number = self.client.find_contacts_by_number(
                tenant_id, connection, [p.dedupe_key for p, _ in taken]
            )
            left = [(p, said) for p, said in taken if not _ours(by_number.get(p.dedupe_key))]
            by_name = self._contacts_by_name(
                tenant_id, connection, [p.element["Name"] for p, _ in left], outcome
            )
        except XeroError as exc:
            # Xero refused each create, so nothing is in doubt: they come back after a pause.
            self._settler.request_error(tenant_id, [p.row for p, _ in taken], exc, outcome)
            return
        for p, said in taken:
            mine = by_number.get(p.dedupe_key)
            match = by_name.get(p.element["Name"].casefold())
            if mine is not None and _ours(mine):
                self._link_contact(p, mine, outcome)
            elif match and match.get("ContactNumber") == p.dedupe_key and match.get("ContactID"):
                self._link_contact(p, match, outcome)
            else:
                self.ledger.hold_contact(p.row.id, said, _contact_facts(match) if match else None)
                outcome.waiting += 1

    def _contacts_by_name(
        self, tenant_id: str, connection: str, names: list[str], outcome: BatchOutcome
    ) -> dict[str, dict[str, Any]]:
        """Active contacts by name (case-folded), 20 names per ``where`` call; a name with a
        quote cannot be asked for and is left unmatched (it is still held, without a match)."""
        wanted = [n for n in dict.fromkeys(names) if '"' not in n and "\\" not in n]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _NAMES_PER_LOOKUP):
            chunk = wanted[start : start + _NAMES_PER_LOOKUP]
            where = " OR ".join(f'Name=="{name}"' for name in chunk)
            outcome.api_calls += 1
            for contact in self.client.get_all(tenant_id, connection, "Contacts", {"where": where}):
                name = str(contact.get("Name") or "").casefold()
                if contact.get("ContactStatus", "ACTIVE") == "ACTIVE":
                    found.setdefault(name, contact)
        return found


def _parent_host_id(kind: str, p: Prepared) -> str:
    if kind == "payment":
        return p.row.host_id.split(":", 1)[1]
    if kind in ("overpayment", "deposit"):
        return str(p.row.payload.get("client_id"))
    if kind == "deposit_allocation":
        return p.row.host_id.split(":", 1)[0]
    if kind in REFUND_KINDS:
        return refund_source(p.row.payload)[1]
    return p.row.host_id  # an allocation's row is keyed by its credit note


def _ours(contact: Mapping[str, Any] | None) -> bool:
    """A contact found by our number (it carries it) that can be linked to."""
    return bool(contact and contact.get("ContactID"))


def _contact_facts(contact: Mapping[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of a Xero contact it matched: enough for an admin to recognise it."""
    keys = ("ContactID", "Name", "ContactNumber", "ContactStatus", "EmailAddress")
    return {key: contact.get(key) for key in keys if contact.get(key) is not None}
