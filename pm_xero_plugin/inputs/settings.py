"""The add-on's settings: their schema, their meaning, and the checks an admin can act on.

Settings are admin input, so unknown keys are refused (``RAISE``): a misspelt ``start_dat`` must be
an error on the settings page, not a silently ignored key. Every message names the field path
(``account_codes.org-1.payments.card: code '092' does not exist in Xero``).

Two kinds of checks live here as pure functions: the shape (:func:`parse_settings`) and the account
codes against an organisation's real chart of accounts (:func:`check_codes`). Checks that need the
ledger (the start-date lock) are the engine's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from pm_xero_plugin.inputs.fields import PAYMENT_METHODS
from pm_xero_plugin.inputs.records import DecimalString, flatten_errors

__all__ = [
    "DEFAULT_RECONCILE_HOURS",
    "DEFAULT_RECONCILE_SHARE",
    "DEFAULT_ROUNDING_TOLERANCE",
    "OPTIONAL_CODES",
    "XERO_CHANGES",
    "AccountCodes",
    "LocationSettings",
    "Prefixes",
    "Settings",
    "check_codes",
    "parse_settings",
]

DEFAULT_ROUNDING_TOLERANCE: Final = Decimal("0.02")
"""How far the host's total may be from Xero's before the difference is an error, not rounding."""
XERO_CHANGES: Final = ("report", "resend", "accept")
"""What the add-on does by itself with a change a bookkeeper made in Xero (the ``xero_changes``
setting; :data:`pm_xero_plugin.core.books.XERO_CHANGES` says what each means): ``report`` – the
default – changes nothing in either system."""
DEFAULT_RECONCILE_SHARE: Final = Decimal("0.2")
"""The share of an organisation's Xero calls a day the reconciliation may use (of 5,000: 1,000),
so the sync itself always has the rest."""
DEFAULT_RECONCILE_HOURS: Final = 24
"""Hours between two scheduled reads of Xero's side (0: only on demand and on webhooks)."""
_MAX_RECONCILE_HOURS = 24 * 366
_CODE = validate.Length(min=1, max=10)
OPTIONAL_CODES: Final = ("deposits", "vouchers", "card_fees", "payout_bank")
"""The account codes only the money flows need (deposits, gift vouchers, card payouts): an
organisation that takes none of them leaves them unset; a record that needs one says so."""
_PREFIX = validate.Regexp(r"^[A-Za-z0-9_/-]{0,10}$")


@dataclass(frozen=True)
class Prefixes:
    """What the plugin puts before every host number so it cannot clash with Xero's own."""

    client: str = "C"
    invoice: str = "INV"
    credit_note: str = "CN"
    payment: str = "PAY"
    deposit: str = "DEP"
    refund: str = "RF"
    payout: str = "PO"


_DEFAULT = Prefixes()


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PrefixesSchema(_Strict):
    client = fields.String(load_default=_DEFAULT.client, validate=_PREFIX)
    invoice = fields.String(load_default=_DEFAULT.invoice, validate=_PREFIX)
    credit_note = fields.String(load_default=_DEFAULT.credit_note, validate=_PREFIX)
    payment = fields.String(load_default=_DEFAULT.payment, validate=_PREFIX)
    deposit = fields.String(load_default=_DEFAULT.deposit, validate=_PREFIX)
    refund = fields.String(load_default=_DEFAULT.refund, validate=_PREFIX)
    payout = fields.String(load_default=_DEFAULT.payout, validate=_PREFIX)


class LocationSettingsSchema(_Strict):
    tenant_id = fields.String(load_default=None, allow_none=True)
    connection_enabled = fields.Boolean(load_default=None, allow_none=True)
    tracking_option = fields.String(load_default=None, allow_none=True)


class AccountCodesSchema(_Strict):
    income = fields.Dict(keys=fields.String(), values=fields.String(validate=_CODE), required=True)
    credit_notes = fields.String(required=True, validate=_CODE)
    payments = fields.Dict(
        keys=fields.String(validate=validate.OneOf(PAYMENT_METHODS)),
        values=fields.String(validate=_CODE),
        required=True,
    )
    overpayments = fields.String(required=True, validate=_CODE)
    rounding = fields.String(required=True, validate=_CODE)
    tax_types = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    deposits = fields.String(load_default=None, allow_none=True, validate=_CODE)
    vouchers = fields.String(load_default=None, allow_none=True, validate=_CODE)
    card_fees = fields.String(load_default=None, allow_none=True, validate=_CODE)
    payout_bank = fields.String(load_default=None, allow_none=True, validate=_CODE)

    @pre_load
    def _blank_is_unset(self, data: Any, **kwargs: Any) -> Any:
        """An optional code left blank (the form posts ``""``) is not set."""
        if not isinstance(data, Mapping):
            return data
        blank = [key for key in OPTIONAL_CODES if isinstance(data.get(key), str)]
        blank = [key for key in blank if not data[key].strip()]
        return {**data, **dict.fromkeys(blank)} if blank else data

    @validates_schema
    def _complete(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if "income" in data and "default" not in data["income"]:
            errors["income.default"] = ["is required (the account for anything unmapped)"]
        missing = [m for m in PAYMENT_METHODS if m not in data.get("payments", {})]
        if "payments" in data and missing:
            errors["payments"] = [f"map every payment method; missing: {', '.join(missing)}"]
        if errors:
            raise ValidationError(errors)


class SettingsSchema(_Strict):
    enabled = fields.Boolean(load_default=False)
    prefixes = fields.Nested(PrefixesSchema, load_default=lambda: vars(Prefixes()))
    organisation_mode = fields.String(
        load_default="per_location", validate=validate.OneOf(("per_location", "shared"))
    )
    tenant_id = fields.String(load_default=None, allow_none=True)
    locations = fields.Dict(
        keys=fields.String(), values=fields.Nested(LocationSettingsSchema), load_default=dict
    )
    tracking_category = fields.String(load_default=None, allow_none=True)
    account_codes = fields.Dict(
        keys=fields.String(), values=fields.Nested(AccountCodesSchema), load_default=dict
    )
    start_date = fields.Date(load_default=None, allow_none=True)
    rounding_tolerance = DecimalString(
        max_places=4, minimum=Decimal(0), load_default=DEFAULT_ROUNDING_TOLERANCE, allow_none=True
    )
    currency = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Z]{3}$")
    )
    xero_changes = fields.String(
        load_default=XERO_CHANGES[0],
        validate=validate.OneOf(XERO_CHANGES, error="must be one of: report, resend, accept"),
    )
    reconcile_share = DecimalString(
        max_places=4,
        load_default=DEFAULT_RECONCILE_SHARE,
        validate=validate.Range(
            min=Decimal(0),
            max=Decimal(1),
            min_inclusive=False,
            error="must be more than 0 and at most 1 (a share of the day's 5,000 calls)",
        ),
    )
    reconcile_hours = fields.Integer(
        strict=True,
        error_messages={"invalid": "must be a whole number of hours (such as 24)"},
        load_default=DEFAULT_RECONCILE_HOURS,
        validate=validate.Range(
            min=0,
            max=_MAX_RECONCILE_HOURS,
            error=f"must be a whole number of hours from 0 (only on demand) to "
            f"{_MAX_RECONCILE_HOURS}",
        ),
    )

    @validates_schema
    def _organisations(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("organisation_mode") != "shared":
            return
        tenants = {loc["tenant_id"] for loc in data.get("locations", {}).values()}
        tenants.discard(None)
        if data.get("tenant_id"):
            tenants.add(data["tenant_id"])
        if len(tenants) > 1:
            raise ValidationError(
                f"shared mode uses one organisation, but {len(tenants)} are given: "
                f"{', '.join(sorted(tenants))}",
                "tenant_id",
            )
        tolerance = data.get("rounding_tolerance")
        if tolerance is not None and tolerance > 1:
            raise ValidationError("must be at most 1.00", "rounding_tolerance")


@dataclass(frozen=True)
class LocationSettings:
    """One location's link to its Xero organisation (``None``: not linked, or not said)."""

    tenant_id: str | None
    connection_enabled: bool | None
    tracking_option: str | None = None
    """The option of the tracking category that tells this location's lines apart."""


@dataclass(frozen=True)
class AccountCodes:
    """The account codes (and tax types) the admin mapped for one Xero organisation.

    ``income`` maps a revenue category, or ``default``, to a code; ``tax_types`` a tax percentage
    as the admin wrote it (or ``rounding``) to a Xero ``TaxType``."""

    income: Mapping[str, str]
    credit_notes: str
    payments: Mapping[str, str]
    overpayments: str
    rounding: str
    tax_types: Mapping[str, str] = field(default_factory=dict)
    deposits: str | None = None
    """Where a deposit (a prepayment) is coded until it is applied: a LIABILITY account."""
    vouchers: str | None = None
    """Gift vouchers sold and not yet redeemed: a LIABILITY account with payments enabled (a
    redemption is a payment into it, so ``payments.voucher`` must be this account too)."""
    card_fees: str | None = None
    """The card processor's fees deducted from a payout: an EXPENSE account."""
    payout_bank: str | None = None
    """The BANK account a card processor's payouts land in."""

    def all_codes(self) -> list[tuple[str, str, str]]:
        """``(field path, code, purpose)`` of every mapped code; purpose is ``income``,
        ``payment`` (a bank account, or one that allows payments), ``expense``, ``liability``,
        ``voucher`` (a liability that allows payments), ``bank`` or ``other``; the optional
        codes (:data:`OPTIONAL_CODES`) only when set."""
        out = [(f"income.{k}", v, "income") for k, v in sorted(self.income.items())]
        out.append(("credit_notes", self.credit_notes, "income"))
        out += [(f"payments.{k}", v, "payment") for k, v in sorted(self.payments.items())]
        out.append(("overpayments", self.overpayments, "other"))
        out.append(("rounding", self.rounding, "other"))
        optional = (
            ("deposits", self.deposits, "liability"),
            ("vouchers", self.vouchers, "voucher"),
            ("card_fees", self.card_fees, "expense"),
            ("payout_bank", self.payout_bank, "bank"),
        )
        out += [(path, code, purpose) for path, code, purpose in optional if code]
        return out


@dataclass(frozen=True)
class Settings:
    """The settings in force, parsed once: what the engine, the mapping
    (:meth:`pm_xero_plugin.mapping.config.OrgMapping.from_settings`) and the dashboard read.
    ``raw`` is what the admin saved (to tell whether a save changed anything)."""

    enabled: bool
    prefixes: Prefixes
    organisation_mode: str
    tenant_id: str | None
    locations: Mapping[str, LocationSettings]
    tracking_category: str | None
    account_codes: Mapping[str, AccountCodes]
    start_date: date | None
    rounding_tolerance: Decimal
    currency: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)
    xero_changes: str = XERO_CHANGES[0]
    """What the add-on does by itself with a change made in Xero: ``report``, ``resend`` or
    ``accept`` (:data:`XERO_CHANGES`)."""
    reconcile_share: Decimal = DEFAULT_RECONCILE_SHARE
    """The share, in (0, 1], of an organisation's day limit of Xero calls the reconciliation
    may use."""
    reconcile_hours: int = DEFAULT_RECONCILE_HOURS
    """Hours between two scheduled reads of Xero's side; 0: only on demand and on webhooks."""

    def tenant_for(self, location_id: str) -> str | None:
        """The organisation a location's records go to (``None``: not linked yet)."""
        location = self.locations.get(location_id)
        if self.organisation_mode == "shared":
            if self.tenant_id:
                return self.tenant_id
            tenants = {loc.tenant_id for loc in self.locations.values() if loc.tenant_id}
            return next(iter(tenants)) if len(tenants) == 1 else None
        return location.tenant_id if location else None

    def connection_enabled(self, location_id: str) -> bool:
        """Per-location mode: each location's connection is off until switched on. Shared mode:
        on unless a location is explicitly switched off."""
        location = self.locations.get(location_id)
        if location is None or location.connection_enabled is None:
            return self.organisation_mode == "shared"
        return location.connection_enabled

    def tenant_ids(self) -> list[str]:
        """Every organisation the settings link a location to (sorted)."""
        found = {loc.tenant_id for loc in self.locations.values() if loc.tenant_id}
        if self.organisation_mode == "shared":
            shared = self.tenant_for("")
            found = {shared} if shared else set()
        return sorted(found)

    def locations_for_tenant(self, tenant_id: str) -> list[str]:
        """The configured locations whose records go to ``tenant_id`` (settings order)."""
        return [loc for loc in self.locations if self.tenant_for(loc) == tenant_id]

    def tenants(self, location_ids: list[str]) -> dict[str, list[str]]:
        """Organisation -> its locations, for the given locations."""
        out: dict[str, list[str]] = {}
        for location_id in location_ids:
            tenant = self.tenant_for(location_id)
            if tenant:
                out.setdefault(tenant, []).append(location_id)
        return out


_SCHEMA = SettingsSchema()


def parse_settings(
    raw: Mapping[str, Any] | None, location_ids: list[str] | None = None
) -> tuple[Settings | None, list[str]]:
    """Parse admin settings: ``(Settings, [])`` or ``(None, ["field.path: message", …])``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        return None, ["settings: must be an object"]
    try:
        data = _SCHEMA.load(dict(raw))
    except ValidationError as exc:
        return None, flatten_errors(exc.messages)
    errors: list[str] = []
    if location_ids is not None:
        for location_id in data["locations"]:
            if location_id not in location_ids:
                errors.append(f"locations.{location_id}: unknown location")
    if errors:
        return None, errors
    locations = {
        key: LocationSettings(
            tenant_id=value["tenant_id"],
            connection_enabled=value["connection_enabled"],
            tracking_option=value["tracking_option"],
        )
        for key, value in data["locations"].items()
    }
    codes = {
        tenant: AccountCodes(
            income=dict(c["income"]),
            credit_notes=c["credit_notes"],
            payments=dict(c["payments"]),
            overpayments=c["overpayments"],
            rounding=c["rounding"],
            tax_types=dict(c["tax_types"]),
            **{key: c[key] for key in OPTIONAL_CODES},
        )
        for tenant, c in data["account_codes"].items()
    }
    return (
        Settings(
            enabled=data["enabled"],
            prefixes=Prefixes(**data["prefixes"]),
            organisation_mode=data["organisation_mode"],
            tenant_id=data["tenant_id"],
            locations=locations,
            tracking_category=data["tracking_category"],
            account_codes=codes,
            start_date=data["start_date"],
            rounding_tolerance=DEFAULT_ROUNDING_TOLERANCE
            if data["rounding_tolerance"] is None
            else data["rounding_tolerance"],
            currency=data["currency"],
            raw=dict(raw),
            xero_changes=data["xero_changes"],
            reconcile_share=data["reconcile_share"],
            reconcile_hours=data["reconcile_hours"],
        ),
        [],
    )


def _unfit(purpose: str, account: Mapping[str, Any]) -> str | None:
    """Why ``account`` cannot serve ``purpose`` (see :meth:`AccountCodes.all_codes`), or
    ``None`` when it can: what Xero would refuse, or post somewhere an accountant would not."""
    kind = str(account.get("Type", "")).upper()
    klass = str(account.get("Class", "")).upper()
    takes_payments = kind == "BANK" or bool(account.get("EnablePaymentsToAccount"))
    what = f"a {account.get('Type', '?')} account"
    if purpose == "payment" and not takes_payments:
        return (
            f"{what}; payments need a bank account, or one with "
            "'Enable payments to this account' ticked in Xero"
        )
    if purpose == "expense" and klass != "EXPENSE":
        return f"{what}; the card processor's fees need an EXPENSE account"
    if purpose in ("liability", "voucher") and klass != "LIABILITY":
        held = "deposits held" if purpose == "liability" else "gift vouchers sold"
        return f"{what}; {held} for customers are owed to them and need a LIABILITY account"
    if purpose == "voucher" and not account.get("EnablePaymentsToAccount"):
        return (
            f"{what} without payments enabled; a redeemed voucher is a payment into it, so "
            "tick 'Enable payments to this account' on it in Xero"
        )
    if purpose == "bank" and kind != "BANK":
        return f"{what}; payouts land in a BANK account"
    return None


def _voucher_mismatch(prefix: str, codes: AccountCodes) -> list[str]:
    """A voucher sold credits the ``vouchers`` liability; a voucher redeemed is a payment by the
    ``voucher`` method, so it must draw on that same account, or the liability never empties."""
    redeemed = codes.payments.get("voucher")
    if not codes.vouchers or redeemed == codes.vouchers:
        return []
    return [
        f"{prefix}.payments.voucher: account '{redeemed}' is not the gift-voucher account "
        f"'{codes.vouchers}' (vouchers); a redeemed voucher draws on what was sold, so map the "
        f"voucher payment method to '{codes.vouchers}' too"
    ]


def check_codes(
    tenant_id: str,
    codes: AccountCodes,
    accounts: Sequence[Mapping[str, Any]],
    tax_rates: Sequence[Mapping[str, Any]] | None = None,
) -> list[str]:
    """Check an organisation's mapped codes against its chart of accounts (pure).

    A code that does not exist, or is archived, is an error *now*, before any record is sent;
    so is a code of the wrong kind for what it is for (:func:`_unfit`: a payment method mapped
    to an account Xero will not take payments into, card fees to anything but an expense …),
    and a voucher payment method that does not draw on the gift-voucher account.
    """
    by_code = {str(a.get("Code")): a for a in accounts if a.get("Code")}
    prefix = f"account_codes.{tenant_id}"
    errors = _voucher_mismatch(prefix, codes)
    for path, code, purpose in codes.all_codes():
        account = by_code.get(code)
        if account is None:
            errors.append(f"{prefix}.{path}: code '{code}' does not exist in Xero")
            continue
        if str(account.get("Status", "ACTIVE")).upper() != "ACTIVE":
            errors.append(
                f"{prefix}.{path}: account '{code}' ({account.get('Name', '')}) is archived in "
                "Xero; restore it there or choose another code"
            )
            continue
        why = _unfit(purpose, account)
        if why is not None:
            errors.append(f"{prefix}.{path}: account '{code}' ({account.get('Name', '')}) is {why}")
    if tax_rates:
        errors += _tax_type_errors(prefix, codes, tax_rates)
    return errors


def _tax_type_errors(
    prefix: str, codes: AccountCodes, tax_rates: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Each mapped tax type that the organisation does not have (or has not active)."""
    known = {
        str(r.get("TaxType"))
        for r in tax_rates
        if str(r.get("Status", "ACTIVE")).upper() == "ACTIVE"
    }
    return [
        f"{prefix}.tax_types.{rate}: tax type '{tax_type}' does not exist (or is "
        "not active) in Xero"
        for rate, tax_type in sorted(codes.tax_types.items())
        if tax_type not in known
    ]
