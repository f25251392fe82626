"""What the admin configured for one organisation, in the shape the mapping needs.

The plugin settings (see CONTRACT.md) are a JSON tree keyed by tenant and location; the mapping
functions should not have to walk it for every line. :class:`OrgMapping` is that tree flattened
for one (organisation, location) pair, frozen so a payload can never be built from settings that
changed half-way through.

Missing account codes are *not* rejected here: an organisation that has never seen an overpayment
does not need an overpayment account. The code is asked for when a payload needs it, and a
missing one is a :class:`MappingError` naming the setting, which the dashboard shows to the admin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEFAULT_PREFIXES",
    "DEFAULT_ROUNDING_TOLERANCE",
    "MappingError",
    "OrgMapping",
    "Prefixes",
    "Tracking",
    "tax_rate_key",
]

DEFAULT_ROUNDING_TOLERANCE = Decimal("0.02")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class MappingError(ValueError):
    """A record cannot be turned into a Xero payload until the admin fixes something.

    ``field`` is the setting or record field at fault (``account_codes.tax_types``, ``total``);
    the message names the record, the field and what to do. Never retried automatically: retrying
    cannot help until the settings or the record change.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Prefixes:
    """What the plugin puts before every host number so it cannot clash with Xero's own."""

    client: str = "C"
    invoice: str = "INV"
    credit_note: str = "CN"
    payment: str = "PAY"


DEFAULT_PREFIXES = Prefixes()


@dataclass(frozen=True)
class Tracking:
    """The tracking category option that tells one location's lines apart in a shared org."""

    name: str
    option: str


def tax_rate_key(rate: object) -> str:
    """The canonical text of a tax percentage: ``"10.00"``, ``"10"`` and ``10`` are all ``"10"``.

    Settings and records may spell one rate differently; comparing canonical keys keeps a mapping
    for ``"10"`` working for a line taxed at ``"10.0"``. Absent or empty means tax-free: ``"0"``.

    :raises ValueError: when the text is not a finite number.
    """
    if rate is None or (isinstance(rate, str) and not rate.strip()):
        return "0"
    try:
        value = Decimal(str(rate).strip())
    except InvalidOperation:
        raise ValueError(f"{rate!r} is not a tax percentage") from None
    if not value.is_finite():
        raise ValueError(f"{rate!r} is not a tax percentage")
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in (mapping or {}).items() if v})


def _optional_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class OrgMapping:
    """Account codes, tax types, prefixes and options for one organisation and location.

    ``income`` maps a revenue category (``boarding``, ``grooming``…) to an account code; a
    category not in it uses ``default_income``. ``tax_types`` maps a canonical tax percentage
    (see :func:`tax_rate_key`) to a Xero ``TaxType``; the rounding line uses ``rounding_tax_type``
    or, when unset, the type mapped for ``"0"``. ``tracking`` is set when a tracking category is
    configured and this location has an option (locations sharing an organisation).
    ``currency`` overrides the record's.
    """

    tenant_id: str
    location_id: str
    default_income: str | None = None
    income: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    credit_notes: str | None = None
    payments: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    overpayments: str | None = None
    rounding: str | None = None
    tax_types: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    rounding_tax_type: str | None = None
    prefixes: Prefixes = DEFAULT_PREFIXES
    tracking: Tracking | None = None
    rounding_tolerance: Decimal = DEFAULT_ROUNDING_TOLERANCE
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.rounding_tolerance < 0:
            raise MappingError(
                "rounding_tolerance",
                f"rounding tolerance {self.rounding_tolerance} is negative; "
                "set it to a small amount such as 0.02 in the Xero settings",
            )
        if self.currency is not None and not _CURRENCY.match(self.currency):
            raise MappingError(
                "currency",
                f"currency override {self.currency!r} is not a 3-letter ISO 4217 code; "
                "fix it in the Xero settings (or clear it to use the location's currency)",
            )

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], tenant_id: str, location_id: str
    ) -> OrgMapping:
        """Flatten the plugin settings for one organisation (tenant) and location.

        :raises MappingError: when the organisation has no account codes at all, or the
            tolerance or currency override is malformed.
        """
        codes_by_tenant = settings.get("account_codes") or {}
        codes = codes_by_tenant.get(tenant_id)
        if not codes:
            raise MappingError(
                "account_codes",
                f"no account codes are configured for Xero organisation {tenant_id}; "
                "map them in the Xero settings (Account codes) before syncing",
            )
        income = dict(codes.get("income") or {})
        default_income = _optional_str(income.pop("default", None))
        tax_types_raw = dict(codes.get("tax_types") or {})
        rounding_tax_type = _optional_str(tax_types_raw.pop("rounding", None))
        tax_types: dict[str, str] = {}
        for rate, tax_type in tax_types_raw.items():
            try:
                key = tax_rate_key(rate)
            except ValueError:
                raise MappingError(
                    "account_codes.tax_types",
                    f"tax type mapping key {rate!r} is not a tax percentage; "
                    'use the percentage as text, e.g. "10"',
                ) from None
            if tax_type:
                tax_types[key] = str(tax_type)

        prefixes_raw = settings.get("prefixes") or {}
        prefixes = Prefixes(
            **{
                name: str(prefixes_raw[name])
                for name in ("client", "invoice", "credit_note", "payment")
                if prefixes_raw.get(name) is not None
            }
        )

        # Tracking tells apart locations that share an organisation: every location in shared
        # mode, or two per-location tabs mapped to the same organisation.
        tracking = None
        category = _optional_str(settings.get("tracking_category"))
        location = (settings.get("locations") or {}).get(location_id) or {}
        option = _optional_str(location.get("tracking_option"))
        if category and option:
            tracking = Tracking(name=category, option=option)

        raw_tolerance = settings.get("rounding_tolerance")
        try:
            tolerance = (
                DEFAULT_ROUNDING_TOLERANCE
                if raw_tolerance in (None, "")
                else Decimal(str(raw_tolerance))
            )
        except InvalidOperation:
            tolerance = Decimal("NaN")
        if not tolerance.is_finite():
            raise MappingError(
                "rounding_tolerance",
                f"rounding tolerance {raw_tolerance!r} is not an amount; "
                "set it to a small amount such as 0.02 in the Xero settings",
            )
        currency = _optional_str(settings.get("currency"))

        return cls(
            tenant_id=tenant_id,
            location_id=location_id,
            default_income=default_income,
            income=_frozen(income),
            credit_notes=_optional_str(codes.get("credit_notes")),
            payments=_frozen(codes.get("payments")),
            overpayments=_optional_str(codes.get("overpayments")),
            rounding=_optional_str(codes.get("rounding")),
            tax_types=MappingProxyType(tax_types),
            rounding_tax_type=rounding_tax_type,
            prefixes=prefixes,
            tracking=tracking,
            rounding_tolerance=tolerance,
            currency=currency.upper() if currency else None,
        )
