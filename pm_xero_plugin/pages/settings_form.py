"""The settings form: what it shows (choices read from an organisation's chart) and what it saves.

Pure functions, so the page's rules are tested without a browser or Xero:

* :func:`code_fields` lists the account-code fields of one organisation, each a ``<select>`` of
  the chart's active accounts of a fitting type (``code – name``). A saved code that is no longer
  among them (archived, deleted) stays selectable and says so, so the error beside it makes sense.
* :func:`settings_from_form` turns the posted form into the whole settings dict: the saved
  settings with the form's fields laid over them, so what the form does not show (the start date,
  other organisations' codes, other locations) is kept as it was.
* :func:`errors_by_field` files each of ``validate_settings``' messages (``field.path: text``)
  under the form field it is about; the rest are shown at the top.

A field's form name *is* its settings path (``account_codes.<tenant>.payments.card``), so an error
maps to its field one to one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pm_xero_plugin.inputs.fields import PAYMENT_METHODS, REVENUE_CATEGORIES

__all__ = [
    "BOOKS_FIELDS",
    "XERO_CHANGES_CHOICES",
    "Choice",
    "CodeField",
    "Form",
    "books_values",
    "code_fields",
    "errors_by_field",
    "linked_settings",
    "settings_from_form",
    "tax_rate_choices",
    "tracking_choices",
    "tracking_settings",
    "unlinked_settings",
]

INCOME_TYPES: Final = frozenset({"REVENUE", "SALES", "OTHERINCOME"})
"""Account types an income line (or a credit note) may be coded to."""
BALANCE_CLASSES: Final = frozenset({"ASSET", "LIABILITY"})
"""Account classes an overpayment may be held in (Accounts Receivable, a liability)."""
PREFIX_NAMES: Final = ("client", "invoice", "credit_note", "payment", "deposit", "refund", "payout")
PREFIX_LABELS: Final = {
    "client": "Customer number prefix",
    "invoice": "Invoice number prefix",
    "credit_note": "Credit note number prefix",
    "payment": "Payment reference prefix",
    "deposit": "Deposit reference prefix",
    "refund": "Refund reference prefix",
    "payout": "Card payout reference prefix",
}
METHOD_LABELS: Final = {
    "cash": "Cash",
    "card": "Card",
    "eftpos": "EFTPOS",
    "bank_transfer": "Bank transfer",
    "stripe": "Stripe",
    "voucher": "Gift voucher",
}
BOOKS_FIELDS: Final = ("xero_changes", "reconcile_share", "reconcile_hours")
"""The reconciliation's settings on the form (their names are their settings paths)."""
BOOKS_DEFAULTS: Final = {
    "xero_changes": "report",
    "reconcile_share": "0.2",
    "reconcile_hours": "24",
}
Form = Mapping[str, Sequence[str]]
"""A posted form: each name with its values in order (a checkbox after its hidden ``0``)."""


@dataclass(frozen=True)
class Choice:
    """One ``<option>``: its value and what the admin reads."""

    value: str
    label: str


XERO_CHANGES_CHOICES: Final = (
    Choice(
        "report",
        "Report them (default): list each on the reconciliation page and change nothing – you "
        "choose per record",
    ),
    Choice(
        "resend",
        "Re-send ours: put Pet Manager's version back where that fits (the rest is reported) – "
        "a bookkeeper's change in Xero is undone",
    ),
    Choice(
        "accept",
        "Accept Xero's: mark Xero's version accepted and stop reporting it – Pet Manager and "
        "Xero may then disagree",
    ),
)
"""The ``xero_changes`` setting's choices, each saying what it does to a bookkeeper's work."""


@dataclass(frozen=True)
class CodeField:
    """One ``<select>`` of the form: its name (= settings path), label, choices and value."""

    path: str
    label: str
    choices: list[Choice]
    value: str
    blank: str | None = None
    """The label of the empty choice (``None``: the field must be chosen)."""
    group: str = ""
    note: str = ""


def _active(accounts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        a for a in accounts if a.get("Code") and str(a.get("Status", "ACTIVE")).upper() == "ACTIVE"
    ]


def _fits(purpose: str, account: Mapping[str, Any]) -> bool:
    kind = str(account.get("Type", "")).upper()
    if purpose == "income":
        return kind in INCOME_TYPES
    if purpose == "payment":
        return kind == "BANK" or bool(account.get("EnablePaymentsToAccount"))
    if purpose == "overpayment":
        return str(account.get("Class", "")).upper() in BALANCE_CLASSES
    if purpose in _MONEY_FIT:
        return _MONEY_FIT[purpose](kind, account)
    return kind != "BANK"  # rounding: any account but a bank account


_MONEY_FIT: dict[str, Callable[[str, Mapping[str, Any]], bool]] = {
    "liability": lambda kind, a: str(a.get("Class", "")).upper() == "LIABILITY",
    "voucher": lambda kind, a: (
        str(a.get("Class", "")).upper() == "LIABILITY" and bool(a.get("EnablePaymentsToAccount"))
    ),
    "expense": lambda kind, a: str(a.get("Class", "")).upper() == "EXPENSE",
    "bank": lambda kind, a: kind == "BANK",
}
"""What fits each of the money flows' optional codes (the settings' own check says the same)."""

OPTIONAL_CODES: tuple[tuple[str, str, str], ...] = (
    ("deposits", "Deposits taken before the invoice (a liability)", "liability"),
    ("vouchers", "Gift vouchers sold (a liability that takes payments)", "voucher"),
    ("card_fees", "Card processor's fees (an expense)", "expense"),
    ("payout_bank", "Bank account card payouts are paid into", "bank"),
)
"""The money flows' codes: optional, each needed only once such a record arrives."""


def _choices(
    accounts: Sequence[Mapping[str, Any]] | None, purpose: str, value: str
) -> tuple[list[Choice], str]:
    """The chart's active accounts fit for ``purpose`` as choices, and a note when the saved
    ``value`` is not among them (it is kept as a choice, marked). With no chart read yet the
    saved code is the one choice, and nothing is claimed about it."""
    if accounts is None:
        return ([Choice(value, value)] if value else []), ""
    fitting = [a for a in _active(accounts) if _fits(purpose, a)]
    choices = [Choice(str(a["Code"]), f"{a['Code']} – {a.get('Name', '')}") for a in fitting]
    if not value or any(c.value == value for c in choices):
        return choices, ""
    known = next((a for a in accounts if str(a.get("Code")) == value), None)
    if known is None:
        why = "not in this organisation's chart of accounts"
    elif str(known.get("Status", "ACTIVE")).upper() != "ACTIVE":
        why = f"{known.get('Name', '')}, archived in Xero"
    else:
        why = f"{known.get('Name', '')}, a {known.get('Type', '?')} account that does not fit here"
    return [Choice(value, f"{value} – {why}"), *choices], f"{value}: {why}"


def code_fields(
    tenant_id: str,
    saved: Mapping[str, Any] | None,
    accounts: Sequence[Mapping[str, Any]] | None,
) -> list[CodeField]:
    """The account-code selects of one organisation, with the saved (or just posted) codes."""
    codes = saved or {}
    income = dict(codes.get("income") or {})
    payments = dict(codes.get("payments") or {})
    base = f"account_codes.{tenant_id}"
    out: list[CodeField] = []

    def add(
        path: str, label: str, purpose: str, value: Any, *, blank: str | None, group: str
    ) -> None:
        text = "" if value is None else str(value)
        choices, note = _choices(accounts, purpose, text)
        out.append(CodeField(f"{base}.{path}", label, choices, text, blank, group, note))

    add(
        "income.default",
        "Income – anything not mapped below (default)",
        "income",
        income.get("default"),
        blank="Choose an account",
        group="income",
    )
    for category in REVENUE_CATEGORIES:
        add(
            f"income.{category}",
            f"Income – {category}",
            "income",
            income.get(category),
            blank="Use the default",
            group="income",
        )
    add(
        "credit_notes",
        "Credit notes",
        "income",
        codes.get("credit_notes"),
        blank="Choose an account",
        group="other",
    )
    for method in PAYMENT_METHODS:
        add(
            f"payments.{method}",
            f"Payments – {METHOD_LABELS.get(method, method)}",
            "payment",
            payments.get(method),
            blank="Choose an account",
            group="payments",
        )
    add(
        "overpayments",
        "Overpayments",
        "overpayment",
        codes.get("overpayments"),
        blank="Choose an account",
        group="other",
    )
    add(
        "rounding",
        "Rounding",
        "rounding",
        codes.get("rounding"),
        blank="Choose an account",
        group="other",
    )
    for name, label, purpose in OPTIONAL_CODES:
        add(name, label, purpose, codes.get(name), blank="Not used", group="money")
    return out


def tax_rate_choices(
    tenant_id: str, saved: Mapping[str, Any] | None, tax_rates: Sequence[Mapping[str, Any]]
) -> list[CodeField]:
    """A select per tax percentage (those the organisation's revenue rates have, those saved,
    and ``rounding``): which Xero ``TaxType`` a line at that rate is sent with."""
    mapped = dict((saved or {}).get("tax_types") or {})
    active = [r for r in tax_rates if str(r.get("Status", "ACTIVE")).upper() == "ACTIVE"]
    revenue = [r for r in active if r.get("CanApplyToRevenue") is not False]
    choices = [
        Choice(str(r["TaxType"]), f"{r.get('Name', r['TaxType'])} ({_percent(r)} %)")
        for r in revenue
        if r.get("TaxType")
    ]
    rates = {_percent(r) for r in revenue} | {k for k in mapped if k != "rounding"}
    out = []
    for rate in [*sorted(rates, key=_rate_order), "rounding"]:
        value = str(mapped.get(rate) or "")
        label = "Tax type of a rounding line" if rate == "rounding" else f"Tax type for {rate} %"
        listed = (
            choices
            if not value or any(c.value == value for c in choices)
            else [
                Choice(value, f"{value} – not an active tax type of this organisation"),
                *choices,
            ]
        )
        out.append(
            CodeField(
                f"account_codes.{tenant_id}.tax_types.{rate}",
                label,
                listed,
                value,
                "Not mapped",
                "tax_types",
            )
        )
    return out


def _percent(rate: Mapping[str, Any]) -> str:
    raw = rate.get("EffectiveRate") or rate.get("DisplayTaxRate") or 0
    try:
        return format(float(str(raw)), "g")
    except ValueError:
        return str(raw)


def _rate_order(rate: str) -> tuple[float, str]:
    try:
        return float(rate), rate
    except ValueError:
        return float("inf"), rate


def tracking_choices(
    categories: Sequence[Mapping[str, Any]], category: str | None
) -> tuple[list[Choice], list[Choice]]:
    """The active tracking categories as choices, and the options of ``category`` in them."""
    active = [c for c in categories if str(c.get("Status", "ACTIVE")).upper() == "ACTIVE"]
    names = [Choice(str(c.get("Name")), str(c.get("Name"))) for c in active if c.get("Name")]
    chosen = next((c for c in active if c.get("Name") == category), None)
    options = [
        Choice(str(o.get("Name")), str(o.get("Name")))
        for o in (chosen or {}).get("Options") or []
        if o.get("Name") and str(o.get("Status", "ACTIVE")).upper() == "ACTIVE"
    ]
    return names, options


# -- from the form to the settings --------------------------------------------------------------


def _last(form: Form, name: str) -> str | None:
    values = form.get(name)
    return str(values[-1]).strip() if values else None


def settings_from_form(form: Form, saved: Mapping[str, Any]) -> dict[str, Any]:
    """The whole settings dict: ``saved`` with every field the form carries laid over it.

    The page has one switch, the host's; the settings' own ``enabled`` follows it and is on
    whenever the page saves (the host refuses a save while the add-on is off)."""
    out: dict[str, Any] = copy.deepcopy(dict(saved))
    out["enabled"] = True
    prefixes = dict(out.get("prefixes") or {})
    for name in PREFIX_NAMES:
        value = _last(form, f"prefixes.{name}")
        if value is not None:
            prefixes[name] = value
    if prefixes:
        out["prefixes"] = prefixes
    for name in ("organisation_mode", "rounding_tolerance", "tracking_category"):
        value = _last(form, name)
        if value is not None:
            out[name] = value or None
    _books_from_form(form, out)
    if out.get("organisation_mode") is None:
        out.pop("organisation_mode", None)
    _locations_from_form(form, out)
    _codes_from_form(form, out)
    return out


def _books_from_form(form: Form, out: dict[str, Any]) -> None:
    """The reconciliation's fields: one left blank is dropped (its default applies); hours are
    a whole number, anything else is kept as typed for the settings' check to name."""
    for name in BOOKS_FIELDS:
        value = _last(form, name)
        if value is None:
            continue
        if not value:
            out.pop(name, None)
        elif name == "reconcile_hours" and value.isdecimal():
            out[name] = int(value)
        else:
            out[name] = value


def books_values(shown: Mapping[str, Any]) -> dict[str, Any]:
    """The reconciliation's fields as the form shows them: the saved (or just posted) values,
    else the defaults, and the choices of ``xero_changes``."""
    values: dict[str, Any] = {
        name: str(shown[name]) if shown.get(name) is not None else default
        for name, default in BOOKS_DEFAULTS.items()
    }
    values["xero_changes_choices"] = list(XERO_CHANGES_CHOICES)
    return values


def _locations_from_form(form: Form, out: dict[str, Any]) -> None:
    locations = {k: dict(v or {}) for k, v in dict(out.get("locations") or {}).items()}
    for name in form:
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "locations":
            continue
        _, location_id, key = parts
        value = _last(form, name) or ""
        entry = locations.setdefault(location_id, {})
        if key == "connection_enabled":
            entry[key] = value in ("1", "true", "on")
        elif key == "tracking_option":
            entry[key] = value or None
    if locations:
        out["locations"] = locations


def _codes_from_form(form: Form, out: dict[str, Any]) -> None:
    """Each organisation's codes on the form: an income category left on "use the default" and
    an unmapped tax rate are dropped; a required code left empty is kept empty, so the settings'
    own check says so beside it. An organisation never mapped whose selects are all empty is
    not added (no codes yet is a state the dashboard shows, not an error)."""
    all_codes = {
        k: copy.deepcopy(dict(v or {})) for k, v in dict(out.get("account_codes") or {}).items()
    }
    posted: dict[str, dict[str, str]] = {}
    for name in form:
        parts = name.split(".", 2)
        if len(parts) == 3 and parts[0] == "account_codes":
            posted.setdefault(parts[1], {})[parts[2]] = _last(form, name) or ""
    for tenant_id, fields in posted.items():
        if tenant_id not in all_codes and not any(fields.values()):
            continue
        codes = all_codes.setdefault(tenant_id, {})
        for path, value in fields.items():
            head, _, key = path.partition(".")
            if head in ("income", "payments", "tax_types") and key:
                group = dict(codes.get(head) or {})
                keep = (
                    bool(value) or (head == "payments") or (head == "income" and key == "default")
                )
                if keep:
                    group[key] = value
                else:
                    group.pop(key, None)
                codes[head] = group
            elif not key and not value and head in _OPTIONAL_NAMES:
                codes.pop(head, None)  # "not used": an optional code is left out
            elif not key:
                codes[head] = value
        codes.setdefault("income", {}).setdefault("default", "")
        codes.setdefault("payments", {})
    if all_codes:
        out["account_codes"] = all_codes


_OPTIONAL_NAMES = frozenset(name for name, _, _ in OPTIONAL_CODES)


def linked_settings(saved: Mapping[str, Any], location_id: str, tenant_id: str) -> dict[str, Any]:
    """``saved`` with ``location_id`` linked to ``tenant_id`` and its connection switched on
    (in shared mode: the one organisation), as the redirect back from Xero saves it."""
    out: dict[str, Any] = copy.deepcopy(dict(saved))
    out["enabled"] = True
    locations = {k: dict(v or {}) for k, v in dict(out.get("locations") or {}).items()}
    entry = locations.setdefault(location_id, {})
    if out.get("organisation_mode") == "shared":
        out["tenant_id"] = tenant_id
        for other in locations.values():
            if other.get("tenant_id"):
                other["tenant_id"] = tenant_id
    else:
        entry["tenant_id"] = tenant_id
    entry["connection_enabled"] = True
    out["locations"] = locations
    return out


def tracking_settings(
    saved: Mapping[str, Any], category: str, names: Mapping[str, str]
) -> dict[str, Any]:
    """``saved`` with tracking ``category`` chosen and each location of ``names`` (id -> name)
    given its own name as option, unless it already has one."""
    out: dict[str, Any] = copy.deepcopy(dict(saved))
    out["tracking_category"] = category
    locations = {k: dict(v or {}) for k, v in dict(out.get("locations") or {}).items()}
    for location_id, name in names.items():
        entry = locations.setdefault(location_id, {})
        entry["tracking_option"] = entry.get("tracking_option") or name
    out["locations"] = locations
    return out


def unlinked_settings(saved: Mapping[str, Any], location_id: str) -> dict[str, Any]:
    """``saved`` after "Disconnect": the location's connection off and, per location, its
    organisation cleared (in shared mode the organisation stays, the others still use it)."""
    out: dict[str, Any] = copy.deepcopy(dict(saved))
    locations = {k: dict(v or {}) for k, v in dict(out.get("locations") or {}).items()}
    entry = locations.setdefault(location_id, {})
    entry["connection_enabled"] = False
    if out.get("organisation_mode") != "shared":
        entry["tenant_id"] = None
    out["locations"] = locations
    return out


# -- errors beside their fields -----------------------------------------------------------------


def errors_by_field(
    messages: Iterable[str], paths: Collection[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """``(path -> messages, the rest)``: each ``field.path: text`` under the longest path of
    ``paths`` it starts with (its field, or the group it belongs to); the rest for the top."""
    by_field: dict[str, list[str]] = {}
    rest: list[str] = []
    for message in messages:
        path, sep, text = message.partition(": ")
        target = _deepest(path, paths) if sep else None
        if target is None:
            rest.append(message)
        else:
            extra = path[len(target) + 1 :] if path != target else ""
            by_field.setdefault(target, []).append(f"{extra}: {text}" if extra else text)
    return by_field, rest


def _deepest(path: str, paths: Collection[str]) -> str | None:
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in paths:
            return candidate
    return None
