"""The Accounting API (``/api.xro/2.0``) of one organisation: routing, batches, reads.

Batches follow Xero: elements are handled one by one and are not atomic; with
``summarizeErrors=false`` every element comes back with ``StatusAttributeString`` and its
``ValidationErrors``; otherwise one bad element turns the answer into a 400 ValidationException
*after* the good ones were created.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from . import bank, refunds
from .dates import render
from .documents import Books, ElementError
from .locks import LockDates
from .orgs import Org
from .persistence import ids_in
from .query import PAGE_SIZE, QueryError, matches, order_items, parse_order, parse_where
from .web import ApiError, Request, Response, json_response, problem

__all__ = ["PROVIDER", "handle"]

PROVIDER = "pm-xero sandbox"

# lower-case path segment -> (envelope key, id field, number field, Org attribute)
_RESOURCES: dict[str, tuple[str, str | None, str | None, str]] = {
    "contacts": ("Contacts", "ContactID", "ContactNumber", "contacts"),
    "invoices": ("Invoices", "InvoiceID", "InvoiceNumber", "invoices"),
    "creditnotes": ("CreditNotes", "CreditNoteID", "CreditNoteNumber", "credit_notes"),
    "payments": ("Payments", "PaymentID", None, "payments"),
    "banktransactions": ("BankTransactions", "BankTransactionID", None, "bank_transactions"),
    "overpayments": ("Overpayments", "OverpaymentID", None, "overpayments"),
    "prepayments": ("Prepayments", "PrepaymentID", None, "prepayments"),
    "banktransfers": ("BankTransfers", "BankTransferID", None, "bank_transfers"),
    "accounts": ("Accounts", "AccountID", "Code", "accounts"),
    "taxrates": ("TaxRates", "TaxType", None, "tax_rates"),
    "trackingcategories": ("TrackingCategories", "TrackingCategoryID", None, "tracking_categories"),
}

#: resource -> the kind of credit its ``/{id}/Allocations`` applies to an invoice
_CREDITS = {
    "creditnotes": "credit_note",
    "overpayments": "overpayment",
    "prepayments": "prepayment",
}

_FILTERS = {  # query parameter -> field it filters on (comma-separated values)
    "ids": None,  # the resource's id field
    "invoicenumbers": "InvoiceNumber",
    "contactids": "Contact.ContactID",
    "statuses": "Status",
    "contactnumber": "ContactNumber",
    "references": "Reference",  # GET /Overpayments?References=PAY1,PAY2
}


def _envelope(
    key: str, items: Any, now: datetime, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": PROVIDER,
        "DateTimeUTC": render(now),
        **(extra or {}),
        key: render(items),
    }


def _not_found() -> ApiError:
    return ApiError(problem(404, "The resource you're looking for cannot be found"))


def _bad_request(number: int, typ: str, message: str) -> ApiError:
    return ApiError(json_response(400, {"ErrorNumber": number, "Type": typ, "Message": message}))


#: The flag each element's schema declares for "this element failed validation" (the spec gives
#: Invoice and CreditNote ``HasErrors``, Contact and Payment ``HasValidationErrors``, whose own
#: error examples carry ``HasValidationErrors: true``); elements whose schema declares neither
#: (BankTransaction, Allocation …) carry only ``StatusAttributeString`` and ``ValidationErrors``.
_ERROR_FLAG = {
    "Invoices": "HasErrors",
    "CreditNotes": "HasErrors",
    "Contacts": "HasValidationErrors",
    "Payments": "HasValidationErrors",
}


def _unit_dp(req: Request) -> int:
    """4 when the request asks ``unitdp=4`` (Xero then keeps and shows 4-decimal unit
    amounts), else Xero's 2."""
    return 4 if req.query.get("unitdp", "").strip() == "4" else 2


def _unit_amounts_to_2dp(items: list[dict[str, Any]]) -> None:
    """Round the rendered ``UnitAmount`` of every line to 2 places, as Xero shows them to a
    request without ``unitdp=4`` (a document stored with 4 keeps them)."""
    for item in items:
        for line in item.get("LineItems") or ():
            if isinstance(line, dict) and isinstance(line.get("UnitAmount"), float):
                line["UnitAmount"] = float(
                    Decimal(repr(line["UnitAmount"])).quantize(Decimal("0.01"), ROUND_HALF_UP)
                )


def _get_path(item: Any, path: str) -> Any:
    for key in path.split("."):
        item = item.get(key) if isinstance(item, dict) else None
    return item


def _ordered(items: list[dict[str, Any]], order: str, id_field: str | None) -> list[dict[str, Any]]:
    """``order=`` as Xero takes it (ties by id); one it cannot parse is its 400."""
    try:
        keys = parse_order(order)
    except QueryError as exc:
        raise _bad_request(16, "QueryParseException", str(exc)) from None
    return order_items(items, keys, id_field)


def _paged(
    items: list[dict[str, Any]], q: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``page=``/``pageSize=``: the page's items and Xero's ``pagination`` (none unpaged)."""
    if "page" not in q:
        return items, None
    try:
        page = max(1, int(q["page"]))
        size = min(1000, max(1, int(q.get("pagesize", PAGE_SIZE))))
    except ValueError:
        raise _bad_request(16, "QueryParseException", "page must be a number") from None
    count = len(items)
    pagination = {
        "page": page,
        "pageSize": size,
        "pageCount": -(-count // size),
        "itemCount": count,
    }
    return items[(page - 1) * size : page * size], {"pagination": pagination}


class _Api:
    def __init__(
        self, org: Org, books: Books, req: Request, now: datetime, touched: set[str] | None
    ) -> None:
        self.org, self.books, self.req, self.now = org, books, req, now
        self.touched = touched

    def _envelope(
        self, key: str, items: list[dict[str, Any]], extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        out = _envelope(key, items, self.now, extra)
        if self.books.unit_dp != 4:
            _unit_amounts_to_2dp(out[key])
        return out

    def _items(self, attr: str) -> list[dict[str, Any]]:
        store = getattr(self.org, attr)
        return list(store.values()) if isinstance(store, dict) else list(store)

    def _one(self, resource: str, ident: str) -> dict[str, Any]:
        _key, id_field, num_field, attr = _RESOURCES[resource]
        for item in self._items(attr):
            if (id_field and str(item.get(id_field, "")).lower() == ident.lower()) or (
                num_field and item.get(num_field) == ident
            ):
                return item
        raise _not_found()

    # -- reads ----------------------------------------------------------------------------------

    def read(self, resource: str, ident: str | None) -> Response:
        key, id_field, _num, attr = _RESOURCES[resource]
        if ident is not None:
            return json_response(200, self._envelope(key, [self._one(resource, ident)]))
        q = self.req.query
        items = self._items(attr)
        if (
            resource == "contacts"
            and q.get("includearchived", "false").lower() != "true"
            and "ids" not in q
        ):
            items = [c for c in items if c["ContactStatus"] != "ARCHIVED"]
        for param, path in _FILTERS.items():
            if q.get(param):
                wanted = {v.strip().lower() for v in q[param].split(",") if v.strip()}
                field = path or id_field or ""
                items = [i for i in items if str(_get_path(i, field) or "").lower() in wanted]
        if q.get("where"):
            try:
                where = parse_where(q["where"])
            except QueryError as exc:
                raise _bad_request(16, "QueryParseException", str(exc)) from None
            items = [i for i in items if matches(i, where)]
        since = self.req.headers.get("if-modified-since")
        if since:
            try:
                cutoff = (
                    parsedate_to_datetime(since) if "," in since else datetime.fromisoformat(since)
                )
            except (TypeError, ValueError):
                raise _bad_request(16, "QueryParseException", "Invalid If-Modified-Since") from None
            if cutoff.tzinfo is None:
                cutoff = cutoff.replace(tzinfo=self.now.tzinfo)
            items = [i for i in items if "UpdatedDateUTC" not in i or i["UpdatedDateUTC"] >= cutoff]
        if q.get("order"):
            items = _ordered(items, q["order"], id_field)
        items, extra = _paged(items, q)
        return json_response(200, self._envelope(key, items, extra))

    # -- writes ---------------------------------------------------------------------------------

    def _elements(self, key: str) -> list[dict[str, Any]]:
        try:
            body = self.req.json()
        except ValueError:
            raise _bad_request(
                14, "PostDataInvalidException", "The request body is not valid JSON"
            ) from None
        elements: list[dict[str, Any]]
        if isinstance(body, dict) and isinstance(body.get(key), list):
            elements = body[key]
        elif isinstance(body, dict):
            elements = [body]
        else:
            raise _bad_request(14, "PostDataInvalidException", f"Expected an object with {key}")
        if not all(isinstance(e, dict) for e in elements):
            raise _bad_request(14, "PostDataInvalidException", f"Each of {key} must be an object")
        return elements

    def batch(self, key: str, op: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
        """Run `op` on every element; report per element or summarised, as Xero does."""
        results, failed = [], []
        for element in self._elements(key):
            try:
                record = op(copy.deepcopy(element))
                results.append({**record, "StatusAttributeString": "OK"})
                if self.touched is not None:
                    ids_in(record, self.touched)
            except ElementError as exc:
                flag = _ERROR_FLAG.get(key)
                bad = {
                    **element,
                    **({flag: True} if flag else {}),
                    "StatusAttributeString": "ERROR",
                    "ValidationErrors": [{"Message": m} for m in exc.messages],
                }
                results.append(bad)
                failed.append(bad)
        if failed and self.req.query.get("summarizeerrors", "true").lower() != "false":
            return json_response(
                400,
                {
                    "ErrorNumber": 10,
                    "Type": "ValidationException",
                    "Message": "A validation exception occurred",
                    "Elements": render(failed),
                },
            )
        return json_response(200, self._envelope(key, results))

    def write(self, resource: str, ident: str | None, sub: str | None) -> Response:
        m, b = self.req.method, self.books
        post = m == "POST"
        if resource == "contacts" and sub is None:
            if ident:
                cid = self._one(resource, ident)["ContactID"]
                return self.batch(
                    "Contacts", lambda e: b.save_contact(e, update=True, contact_id=cid)
                )
            return self.batch("Contacts", lambda e: b.save_contact(e, update=post))
        if resource in ("invoices", "creditnotes") and sub is None:
            kind = "invoice" if resource == "invoices" else "credit_note"
            key = _RESOURCES[resource][0]
            if ident:
                doc_id = self._one(resource, ident)[_RESOURCES[resource][1] or ""]
                return self.batch(
                    key, lambda e: b.save_document(kind, e, update=True, doc_id=doc_id)
                )
            return self.batch(key, lambda e: b.save_document(kind, e, update=post))
        if resource in _CREDITS and ident and sub == "allocations" and m == "PUT":
            kind = _CREDITS[resource]
            source_id = self._one(resource, ident)[_RESOURCES[resource][1] or ""]
            return self.batch("Allocations", lambda e: b.allocate(kind, source_id, e))
        if resource == "payments" and sub is None:
            if ident:
                pid = self._one(resource, ident)["PaymentID"]
                return self.batch("Payments", lambda e: refunds.delete_payment(b, pid, e))
            return self.batch("Payments", lambda e: refunds.create_payment(b, e))
        if resource == "banktransactions" and not ident and sub is None:
            return self.batch("BankTransactions", lambda e: bank.create_bank_transaction(b, e))
        if resource == "banktransfers" and not ident and sub is None and m == "PUT":
            return self.batch("BankTransfers", lambda e: bank.create_bank_transfer(b, e))
        if resource == "trackingcategories" and m == "PUT":
            return self._tracking(ident, sub)
        raise ApiError(problem(405, "The sandbox does not support this operation"))

    def _tracking(self, ident: str | None, sub: str | None) -> Response:
        cats = self.org.tracking_categories
        if ident is None:

            def create(e: dict[str, Any]) -> dict[str, Any]:
                name = str(e.get("Name") or "").strip()
                if not name:
                    raise ElementError("Name is required")
                if any(c["Name"].lower() == name.lower() for c in cats):
                    raise ElementError(f"The tracking category name {name} is already in use.")
                if sum(c["Status"] == "ACTIVE" for c in cats) >= 2:
                    raise ElementError("You can only have 2 active tracking categories.")
                cat = {
                    "TrackingCategoryID": str(uuid.uuid4()),
                    "Name": name,
                    "Status": "ACTIVE",
                    "Options": [],
                }
                cats.append(cat)
                return cat

            return self.batch("TrackingCategories", create)
        if sub != "options":
            raise ApiError(problem(405, "The sandbox does not support this operation"))
        cat = self._one("trackingcategories", ident)

        def add(e: dict[str, Any]) -> dict[str, Any]:
            name = str(e.get("Name") or "").strip()
            if not name:
                raise ElementError("Name is required")
            if any(o["Name"].lower() == name.lower() for o in cat["Options"]):
                raise ElementError(f"The tracking option name {name} is already in use.")
            opt = {"TrackingOptionID": str(uuid.uuid4()), "Name": name, "Status": "ACTIVE"}
            cat["Options"].append(opt)
            return opt

        return self.batch("Options", add)


def handle(
    org: Org,
    req: Request,
    api_path: str,
    now: datetime,
    locks: LockDates | None = None,
    touched: set[str] | None = None,
) -> Response:
    """Answer one Accounting API request for `org` (auth, limits and faults already passed).

    :param locks: the organisation's lock dates as they apply to the connected user.
    :param touched: collects the ids of the documents a write changed (for the state file).
    """
    locks = locks or LockDates()
    parts = [p for p in api_path.split("/") if p]
    if not parts:
        raise _not_found()
    resource = parts[0].lower()
    ident = parts[1] if len(parts) > 1 else None
    sub = parts[2].lower() if len(parts) > 2 else None
    books = Books(org, lambda: now, locks, unit_dp=_unit_dp(req))
    api = _Api(org, books, req, now, touched)
    if resource == "organisation" and req.method == "GET":
        return json_response(200, _envelope("Organisations", [org.organisation(locks)], now))
    if resource not in _RESOURCES or len(parts) > 3:
        raise _not_found()
    if req.method == "GET":
        if sub is not None:
            raise _not_found()
        return api.read(resource, ident)
    if req.method in ("PUT", "POST"):
        return api.write(resource, ident, sub)
    raise ApiError(problem(405, "Method not allowed"))
