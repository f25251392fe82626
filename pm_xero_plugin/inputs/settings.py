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

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from pm_xero_plugin.inputs.fields import PAYMENT_METHODS
from pm_xero_plugin.inputs.records import DecimalString, flatten_errors

__all__ = [
    "DEFAULT_ROUNDING_TOLERANCE",
    "AccountCodes",
    "LocationSettings",
    "Prefixes",
    "Settings",
    "check_codes",
    "parse_settings",
]

DEFAULT_ROUNDING_TOLERANCE: Final = Decimal("0.02")
"""How far the host's total may be from Xero's before the difference is an error, not rounding."""
_CODE = validate.Length(min=1, max=10)
_PREFIX = validate.Regexp(r"^[A-Za-z0-9_/-]{0,10}$")


@dataclass(frozen=True)
class Prefixes:
    """What the plugin puts before every host number so it cannot clash with Xero's own."""

    client: str = "C"
    invoice: str = "INV"
    credit_note: str = "CN"
    payment: str = "PAY"


_DEFAULT = Prefixes()


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PrefixesSchema(_Strict):
    client = fields.String(load_default=_DEFAULT.client, validate=_PREFIX)
    invoice = fields.String(load_default=_DEFAULT.invoice, validate=_PREFIX)
    credit_note = fields.String(load_default=_DEFAULT.credit_note, validate=_PREFIX)
    payment = fields.String(load_default=_DEFAULT.payment, validate=_PREFIX)


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

    def all_codes(self) -> list[tuple[str, str, str]]:
        """``(field path, code, purpose)`` of every mapped code; purpose is ``income``,
        ``payment`` or ``other`` (payments need a bank account, or one that allows payments)."""
        out = [(f"income.{k}", v, "income") for k, v in sorted(self.income.items())]
        out.append(("credit_notes", self.credit_notes, "income"))
        out += [(f"payments.{k}", v, "payment") for k, v in sorted(self.payments.items())]
        out.append(("overpayments", self.overpayments, "other"))
        out.append(("rounding", self.rounding, "other"))
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
        ),
        [],
    )


def check_codes(
    tenant_id: str,
    codes: AccountCodes,
    accounts: Sequence[Mapping[str, Any]],
    tax_rates: Sequence[Mapping[str, Any]] | None = None,
) -> list[str]:
    """Check an organisation's mapped codes against its chart of accounts (pure).

    A code that does not exist, or is archived, is an error *now*, before any record is sent;
    so is a payment method mapped to an account Xero will not take payments into.
    """
    by_code = {str(a.get("Code")): a for a in accounts if a.get("Code")}
    errors: list[str] = []
    prefix = f"account_codes.{tenant_id}"
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
        if (
            purpose == "payment"
            and str(account.get("Type", "")).upper() != "BANK"
            and not account.get("EnablePaymentsToAccount")
        ):
            errors.append(
                f"{prefix}.{path}: account '{code}' ({account.get('Name', '')}) is a "
                f"{account.get('Type', '?')} account; payments need a bank account, or one with "
                "'Enable payments to this account' ticked in Xero"
            )
    if tax_rates:
        known = {
            str(r.get("TaxType"))
            for r in tax_rates
            if str(r.get("Status", "ACTIVE")).upper() == "ACTIVE"
        }
        for rate, tax_type in sorted(codes.tax_types.items()):
            if tax_type not in known:
                errors.append(
                    f"{prefix}.tax_types.{rate}: tax type '{tax_type}' does not exist (or is "
                    "not active) in Xero"
                )
    return errors
