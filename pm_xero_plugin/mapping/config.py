"""What the admin configured for one organisation, in the shape the mapping needs.

The plugin settings (their fields: the README's *Settings* section; how the host hands them over:
``validate_settings`` and ``on_settings_saved`` in :mod:`hookspecs.spec`) are parsed once, by
:func:`pm_xero_plugin.inputs.settings.parse_settings`, into a typed
:class:`~pm_xero_plugin.inputs.settings.Settings`. :class:`OrgMapping` is that object narrowed
to one (organisation, location) pair, frozen so a payload can never be built from settings that
changed half-way through.

Missing account codes are *not* rejected here: an organisation that has never seen an overpayment
does not need an overpayment account. The code is asked for when a payload needs it, and a
missing one is a :class:`MappingError` naming the setting, which the dashboard shows to the admin.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final, Literal

from pm_xero_plugin.inputs.settings import (
    DEFAULT_ROUNDING_TOLERANCE,
    Prefixes,
    Settings,
    parse_settings,
)

__all__ = [
    "CodeName",
    "MappingError",
    "OrgMapping",
    "Tracking",
    "tax_rate_key",
]

_CURRENCY = re.compile(r"^[A-Z]{3}$")

CodeName = Literal[
    "credit_notes", "overpayments", "rounding", "deposits", "vouchers", "card_fees", "payout_bank"
]
"""An account-code setting of one organisation that :meth:`OrgMapping.require` can ask for."""
_REQUIRED: Final[dict[str, tuple[str, str]]] = {
    "credit_notes": ("credit notes", "an income account"),
    "overpayments": ("overpayments", "the account overpayments are held in"),
    "rounding": ("rounding", "the account rounding differences go to"),
    "deposits": (
        "customer deposits",
        'a LIABILITY account for the deposits customers hold (such as "Customer deposits")',
    ),
    "vouchers": (
        "gift vouchers",
        "a LIABILITY account with payments enabled for the vouchers sold and not yet redeemed",
    ),
    "card_fees": ("card processing fees", "the EXPENSE account the processor's fees go to"),
    "payout_bank": ("card payouts", "the BANK account the card processor pays out into"),
}
"""What each setting is for and what kind of account to choose, for :meth:`OrgMapping.require`."""


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
    ``currency`` overrides the record's. ``deposits``, ``vouchers``, ``card_fees`` and
    ``payout_bank`` are the optional codes of the money flows (deposits, gift vouchers, card
    payouts); a payload that needs one asks :meth:`require`, which names the setting when unset.
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
    prefixes: Prefixes = field(default_factory=Prefixes)
    tracking: Tracking | None = None
    rounding_tolerance: Decimal = DEFAULT_ROUNDING_TOLERANCE
    currency: str | None = None
    deposits: str | None = None
    vouchers: str | None = None
    card_fees: str | None = None
    payout_bank: str | None = None

    def require(self, name: CodeName, *, where: str | None = None) -> str:
        """The account code setting ``name`` maps (``deposits``, ``card_fees`` …), for a record
        that needs it (``where``: the record, for the message).

        :raises MappingError: when it is not set, naming the setting
            (``account_codes.card_fees``) and the kind of account to choose.
        """
        code: str | None = getattr(self, name)
        if code:
            return code
        what, kind = _REQUIRED[name]
        at = f"{where}: " if where else ""
        raise MappingError(
            f"account_codes.{name}",
            f"{at}no account code is set for {what} (account_codes.{self.tenant_id}.{name}) in "
            f"Xero organisation {self.tenant_id}; choose {kind} in the Xero settings "
            "(Account codes)",
        )

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
        cls, settings: Settings | Mapping[str, Any], tenant_id: str, location_id: str
    ) -> OrgMapping:
        """Narrow the parsed settings to one organisation (tenant) and location.

        ``settings`` is the parsed :class:`Settings`, or the tree the admin saved, which is
        parsed here first (once per distinct tree: the sender asks for every row).

        :raises MappingError: when the settings are not valid, the organisation has no account
            codes at all, or a tax type is mapped to something that is not a percentage.
        """
        parsed = settings if isinstance(settings, Settings) else _parsed(settings)
        codes = parsed.account_codes.get(tenant_id)
        if codes is None:
            raise MappingError(
                "account_codes",
                f"no account codes are configured for Xero organisation {tenant_id}; "
                "map them in the Xero settings (Account codes) before syncing",
            )
        income = dict(codes.income)
        tax_types = dict(codes.tax_types)
        location = parsed.locations.get(location_id)
        option = location.tracking_option if location else None
        category = parsed.tracking_category
        # Tracking tells apart locations that share an organisation: every location in shared
        # mode, or two per-location tabs mapped to the same organisation.
        return cls(
            tenant_id=tenant_id,
            location_id=location_id,
            default_income=_optional_str(income.pop("default", None)),
            income=_frozen(income),
            credit_notes=_optional_str(codes.credit_notes),
            payments=_frozen(codes.payments),
            overpayments=_optional_str(codes.overpayments),
            rounding=_optional_str(codes.rounding),
            rounding_tax_type=_optional_str(tax_types.pop("rounding", None)),
            tax_types=_tax_types(tax_types),
            prefixes=parsed.prefixes,
            tracking=Tracking(name=category, option=option) if category and option else None,
            rounding_tolerance=parsed.rounding_tolerance,
            currency=parsed.currency.upper() if parsed.currency else None,
            deposits=_optional_str(codes.deposits),
            vouchers=_optional_str(codes.vouchers),
            card_fees=_optional_str(codes.card_fees),
            payout_bank=_optional_str(codes.payout_bank),
        )


def _tax_types(mapped: Mapping[str, str]) -> Mapping[str, str]:
    """Tax percentage (canonical, :func:`tax_rate_key`) -> Xero ``TaxType``."""
    out: dict[str, str] = {}
    for rate, tax_type in mapped.items():
        try:
            key = tax_rate_key(rate)
        except ValueError:
            raise MappingError(
                "account_codes.tax_types",
                f"tax type mapping key {rate!r} is not a tax percentage; "
                'use the percentage as text, e.g. "10"',
            ) from None
        if tax_type:
            out[key] = str(tax_type)
    return MappingProxyType(out)


_LAST: list[tuple[dict[str, Any], Settings]] = []
"""The last tree parsed by :func:`_parsed` (a copy) and what it parsed to."""


def _parsed(raw: Mapping[str, Any]) -> Settings:
    """``raw`` parsed by :func:`parse_settings`; the last tree is remembered (comparing two
    trees is a tenth of parsing one).

    :raises MappingError: naming the first setting at fault.
    """
    last = _LAST[0] if _LAST else None
    if last is not None and last[0] == raw:
        return last[1]
    parsed, errors = parse_settings(raw)
    if parsed is None:
        where = errors[0].split(":", 1)[0] if errors else "settings"
        raise MappingError(
            where,
            f"the Xero settings are not valid ({'; '.join(errors)}); fix them in the Xero settings",
        )
    _LAST[:] = [(copy.deepcopy(dict(raw)), parsed)]
    return parsed
