"""What an admin decides about a row: retry, resolve, exclude, and the ways out of a held one.

Every action goes through the rules again (a retried row waits where its gates say) and is
logged on the row. A payment held because its invoice is dated before the start date can have
that invoice sent after all (:meth:`Admin.include_parent_invoice`); a contact whose name Xero
already gives to another contact is either linked to it (:meth:`Admin.link_contact`) or created
under a distinct name (:meth:`Admin.create_contact_distinct`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pm_xero_plugin.core import rules
from pm_xero_plugin.core.context import EngineContext
from pm_xero_plugin.core.gates import finish_contact_sync_if_done
from pm_xero_plugin.core.intake import Intake
from pm_xero_plugin.core.items import document_item
from pm_xero_plugin.core.regate import PAGE
from pm_xero_plugin.ledger import Facts, Row
from pm_xero_plugin.ledger.states import EXTERNAL_GATES, State

__all__ = ["MAX_CONTACT_NAME", "Admin", "row_label"]

MAX_CONTACT_NAME = 255
"""Xero's limit on a contact's name."""

_RETRYABLE = (State.FAILED, State.EXCLUDED, State.RETRYING, State.WAITING)


def row_label(row: Row) -> str:
    """How an admin action names its record, in the CLI and on the pages alike:
    ``row 7 (invoice #7 in T1)``."""
    number = f" #{row.number}" if row.number is not None else ""
    where = f" in {row.tenant_id}" if row.tenant_id else ""
    return f"row {row.id} ({row.kind}{number}{where})"


class Admin:
    """An admin's actions on ledger rows (the CLI's and the dashboard's verbs)."""

    def __init__(self, ctx: EngineContext, intake: Intake) -> None:
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.intake = intake

    def retry(
        self, row_id: int | None = None, kind: str | None = None, tenant_id: str | None = None
    ) -> int:
        """Send again: one row, or every failed (or held by Xero, e.g. lock date) row of a kind
        and/or organisation. Rows go through the rules again. Returns how many moved."""
        if row_id is not None:
            one = self.ledger.get(row_id)
            found = [one] if one is not None and one.state in _RETRYABLE else []
            found = [
                r for r in found if kind in (None, r.kind) and tenant_id in (None, r.tenant_id)
            ]
            return self._send_again(found)
        moved = 0
        after = 0
        while True:
            with self.ledger.transaction():  # read and write together: see Regater.regate
                page = self.ledger.retryable(
                    EXTERNAL_GATES, kind=kind, tenant_id=tenant_id, after_id=after, limit=PAGE
                )
                if not page:
                    return moved
                after = page[-1].id
                moved += self._send_again(page)

    def _send_again(self, page: Sequence[Row | Facts]) -> int:
        """Put rows through the rules again (an admin's retry); returns how many moved."""
        with self.ledger.transaction():
            rule_ctx = self.ctx.rule_context(self.ctx.batch_dep(page))
            for f in page:
                gate = rules.gates_for(f, rule_ctx)
                if gate is None:
                    self.ctx.make_ready([f.id], message=None)
                else:
                    self.ledger.transition(
                        f.id, State.WAITING, gate=gate.name, detail=gate.detail, message=None
                    )
                self.ledger.add_log(f.id, "retry", "admin retry")
        return len(page)

    def resolve(self, row_id: int) -> None:
        """Hide a failure that was fixed by hand in Xero (counted as synced; its dependants go)
        or a rejected record that was dealt with in the host (excluded)."""
        row = self.ctx.row(row_id)
        if row.state == State.REJECTED:
            self.ledger.transition(row_id, State.EXCLUDED, detail="resolved by an admin")
            return
        self.ledger.mark_synced(row_id, row.xero_id, {"resolved_by_admin": True})
        self.ledger.add_log(row_id, "resolved", "fixed by hand in Xero (admin)")

    def exclude(self, row_id: int) -> None:
        """Never send this record."""
        row = self.ctx.row(row_id)
        with self.ledger.transaction():
            self.ledger.transition(row_id, State.EXCLUDED, detail="excluded by an admin")
            self.ledger.add_log(row_id, "excluded", "excluded by an admin")
        if row.kind == "contact":
            finish_contact_sync_if_done(self.ledger, row.tenant_id, self.ctx.doorbell)
        if row.kind in _PAYOUT_PARTS:
            self.ledger.reopen_gate("payments", row.tenant_id)  # its payout says so now

    def include_parent_invoice(self, row_id: int) -> None:
        """Send the invoice a payment (or credit-note allocation) pays, although it is dated
        before the start date: the second way out of ``invoice_before_start``. For a row that
        draws on a credit dated before the start date (``credit_before_start``: a deposit's
        allocation or refund, an overpayment's refund), that credit is sent; for a payout,
        its payments (and their invoices) dated before it."""
        row = self.ctx.row(row_id)
        if row.kind in ("payout", "payout_fee"):
            self._include_payout_payments(row)
            return
        source = rules.SOURCE_KIND.get(row.kind)
        if source and row.dep_credit_note and row.gate == "credit_before_start":
            self._include_source(row, source, row.dep_credit_note)
            return
        if row.dep_invoice is None:
            raise ValueError(f"row {row_id} ({row.kind}) has no parent invoice")
        invoice = self.ledger.find("invoice", row.dep_invoice, row.tenant_id)
        if invoice is not None:
            self.ledger.set_fields(invoice.id, include_before_start=1)
        else:
            record = self.ctx.host.get_record("invoices", row.dep_invoice)
            if record is None:
                raise ValueError(f"invoice {row.dep_invoice} is unknown to the host")
            payload, errors = self.intake.validate("invoice", record)
            if payload is None:
                self.intake.reject("invoice", record, errors)
                return
            self.intake.ensure_contact(payload["client_id"], row.tenant_id, payload["location_id"])
            item = document_item("invoice", payload, row.tenant_id)
            item.include_before_start = True
            self.intake.write([item], event="created")
        self.ledger.add_log(row_id, "include_parent_invoice", f"invoice {row.dep_invoice}")
        invoice_id = row.dep_invoice
        ledger = self.ledger
        self.intake.regate(
            lambda after: ledger.invoice_with_dependants(
                invoice_id, row.tenant_id, after_id=after, limit=PAGE
            )
        )

    def _include_source(self, row: Row, kind: str, host_id: str) -> None:
        """Send the credit ``row`` draws on although it is dated before the start date (the
        intake wrote its row when the dependant arrived: :meth:`Intake.ensure_source`)."""
        source = self.ledger.find(kind, host_id, row.tenant_id)
        if source is None:
            raise ValueError(f"the {kind.replace('_', ' ')} {host_id} is not known to the add-on")
        self.ledger.set_fields(source.id, include_before_start=1)
        self.ledger.add_log(row.id, "include_parent", f"{kind.replace('_', ' ')} {host_id}")
        self._regate_keys([(source.kind, source.host_id, row.tenant_id), _key(row)])

    def _include_payout_payments(self, row: Row) -> None:
        """A payout's payments dated before the start date are sent too (and, for a payment
        of an invoice dated before it, that invoice): then the payout can go."""
        included = 0
        for payment_id in row.payload.get("payment_ids") or ():
            for part in self.ledger.payment_parts(str(payment_id)):
                if part.tenant_id != row.tenant_id or part.xero_id is not None:
                    continue
                if part.gate == "invoice_before_start":
                    self.include_parent_invoice(part.id)
                elif part.gate == "before_start_date":
                    self.ledger.set_fields(part.id, include_before_start=1)
                    self._regate_keys([_key(part)])
                else:
                    continue
                included += 1
        self.ledger.add_log(row.id, "include_parent", f"{included} of its payments")
        self.ledger.reopen_gate("payments", row.tenant_id)

    def _regate_keys(self, keys: list[tuple[str, str, str]]) -> None:
        """Recompute the gates of these rows now (one page)."""
        facts = sorted(self.ledger.facts(keys).values(), key=lambda f: f.id)
        self.intake.regate(lambda after: [f for f in facts if f.id > after][:PAGE])

    def link_contact(self, row_id: int, contact_id: str | None = None) -> None:
        """The first way out for a contact whose name Xero already gives to a contact without
        our number: the admin says that contact *is* this customer. The row is linked to it
        (``contact_id``, by default the one Xero has under the name) and its documents go.

        A contact is adopted from Xero only when provably ours; here the admin is the proof.
        When the linked contact has no contact number, ours is written onto it (an update), so
        the next match – a rebuilt ledger, a second connection – is provable without asking.
        """
        row = self.ctx.row(row_id)
        if row.kind != "contact":
            raise ValueError(f"only a contact can be linked to a Xero contact, not a {row.kind}")
        match = row.xero_match or {}
        target = (contact_id or str(match.get("ContactID") or "")).strip()
        if not target:
            raise ValueError("no Xero contact to link to: give the ContactID of the one in Xero")
        try:
            target = str(uuid.UUID(target))
        except ValueError:
            raise ValueError(f"{target!r} is not a Xero ContactID (a GUID)") from None
        same = target == str(match.get("ContactID") or "").lower()
        with self.ledger.transaction():
            self.ledger.mark_synced(
                row_id, target, {"linked_by_admin": True, "contact": match if same else None}
            )
            stamp = same and not match.get("ContactNumber")
            if stamp:
                self.ctx.make_ready([row_id], operation="update")
            self.ledger.add_log(
                row_id,
                "linked",
                f"linked by an admin to Xero contact {target}"
                + ("; our contact number is written onto it" if stamp else ""),
            )

    def create_contact_distinct(self, row_id: int, name: str | None = None) -> str:
        """The second way out: create ours in Xero under a distinct name (by default the
        location added to the number: ``Oliver King (C13, Sydney)``; later updates keep it).
        Returns the name it will be created under."""
        row = self.ctx.row(row_id)
        if row.kind != "contact":
            raise ValueError(f"only a contact has a name in Xero, not a {row.kind}")
        if row.state not in (State.WAITING, State.FAILED) or row.xero_id:
            raise ValueError(f"the contact is {row.state}: only a held or failed one is renamed")
        chosen = " ".join((name or "").split()) or self.distinct_name(row)
        if len(chosen) > MAX_CONTACT_NAME:
            raise ValueError(f"a Xero contact name has at most {MAX_CONTACT_NAME} characters")
        taken = str((row.xero_match or {}).get("Name") or "")
        if taken and chosen.casefold() == taken.casefold():
            raise ValueError(f"{chosen!r} is the name Xero already gives to another contact")
        with self.ledger.transaction():
            self.ledger.set_fields(row_id, xero_name=chosen, xero_match=None)
            self.ledger.add_log(row_id, "distinct_name", f"to be created as {chosen!r}")
            self.retry(row_id=row_id)
            self.ledger.describe_contact_wait(row.host_id, row.tenant_id, None)
        return chosen

    def our_contact(self, row: Row) -> tuple[str | None, str | None]:
        """The contact number and name a contact row goes to Xero with (``None`` where the
        settings do not say yet)."""
        from pm_xero_plugin.mapping.config import OrgMapping
        from pm_xero_plugin.mapping.contacts import contact_name
        from pm_xero_plugin.mapping.values import xero_number

        try:
            m = OrgMapping.from_settings(
                dict(self.ctx.host.settings("xero") or {}), row.tenant_id, row.location_id
            )
            return (
                xero_number(m.prefixes.client, row.payload.get("number")),
                row.xero_name or contact_name(row.payload, m),
            )
        except Exception:  # no codes mapped yet, a number the mapper refuses: nothing to say
            return None, row.xero_name

    def distinct_name(self, row: Row) -> str:
        """``Jane Smith (C42)`` -> ``Jane Smith (C42, Sydney)``: the number stays, with the
        location added (the prefix rules' own way of keeping names unique); the name is cut.

        :class:`ValueError` while the contact number is not known (no codes mapped yet)."""
        number, _ = self.our_contact(row)
        if number is None:
            raise ValueError("the contact number is not known yet: map the account codes first")
        where = str(self.ctx.locations.get(row.location_id, {}).get("name") or row.location_id)
        parts = [str(row.payload.get(k) or "").strip() for k in ("first_name", "last_name")]
        core = " ".join(part for part in parts if part) or "Customer"
        suffix = f" ({number}, {where})"
        return core[: MAX_CONTACT_NAME - len(suffix)].rstrip() + suffix


def _key(row: Row) -> tuple[str, str, str]:
    """A row's key in the ledger."""
    return (row.kind, row.host_id, row.tenant_id)


_PAYOUT_PARTS = frozenset(
    {"payment", "overpayment", "credit_note_refund", "overpayment_refund", "deposit_refund"}
)
"""Kinds a payout may be waiting for: one excluded, the payout looks again and says so."""
