"""An organisation's chart of accounts, as the account codes in the settings are checked against.

Read from Xero through an :class:`AccountsSource` (the Xero client, or a fake) and cached in the
ledger, so a settings check does not call Xero each time and a disconnected organisation keeps
its last known chart. The verdict is stored per organisation (``codes_state``): the
``account_codes`` gate reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from pm_xero_plugin.inputs.settings import AccountCodes, check_codes
from pm_xero_plugin.ledger import Ledger

__all__ = ["CHART_MAX_AGE", "AccountsSource", "Chart"]

log = logging.getLogger("pm_xero_plugin")

CHART_MAX_AGE = timedelta(minutes=10)
"""How long a cached chart of accounts is trusted when validating settings."""


class AccountsSource(Protocol):
    """Where an organisation's chart of accounts comes from (the Xero client, or a fake)."""

    def accounts(self, tenant_id: str) -> list[dict[str, Any]]:
        """The organisation's accounts (Xero's ``Accounts`` elements)."""
        ...

    def tax_rates(self, tenant_id: str) -> list[dict[str, Any]]:
        """The organisation's tax rates (Xero's ``TaxRates`` elements)."""
        ...

    def tracking_categories(self, tenant_id: str) -> list[dict[str, Any]]:
        """The organisation's tracking categories and their options."""
        ...


class Chart:
    """The charts of every organisation, read through ``source`` and cached in ``ledger``.

    :param now: the host clock (a cached chart's age).
    :param source: ``None`` until connected: only the cache is read then.
    """

    def __init__(
        self, ledger: Ledger, now: Callable[[], datetime], source: AccountsSource | None = None
    ) -> None:
        self.ledger = ledger
        self.now = now
        self.source = source

    def read(
        self, tenant_id: str, what: str, max_age: timedelta | None = None, refresh: bool = False
    ) -> list[dict[str, Any]] | None:
        """One part of a chart (``accounts``, ``tax_rates`` …): cached when fresh enough (or
        when Xero cannot be asked), else read and cached; ``None`` when never read."""
        cached = self.ledger.cached_chart(tenant_id, what)
        fresh = (
            cached is not None
            and not refresh
            and (max_age is None or self.now() - cached[0] <= max_age)
        )
        if fresh or self.source is None:
            return cached[1] if cached else None
        try:
            body = list(getattr(self.source, what)(tenant_id))
        except Exception as exc:
            log.warning("xero: could not read %s of %s: %s", what, tenant_id, exc)
            return cached[1] if cached else None
        self.ledger.store_chart(tenant_id, what, body)
        return body

    def check(self, tenant_id: str, codes: AccountCodes) -> list[str]:
        """What is wrong with ``codes`` against a chart at most :data:`CHART_MAX_AGE` old
        (empty when fine, or when the organisation's chart was never read: not connected yet,
        which the gate says, not the settings)."""
        accounts = self.read(tenant_id, "accounts", max_age=CHART_MAX_AGE)
        if accounts is None:
            return []
        return check_codes(
            tenant_id, codes, accounts, self.read(tenant_id, "tax_rates", CHART_MAX_AGE)
        )

    def verify(self, tenant_id: str, codes: AccountCodes | None, refresh: bool = False) -> None:
        """Check an organisation's codes and store the verdict its ``account_codes`` gate
        reads: missing, not verified (no chart yet), invalid (with why) or ok."""
        if codes is None:
            self.ledger.set_tenant(
                tenant_id,
                codes_state="missing",
                codes_detail="no account codes are mapped for this organisation yet",
            )
            return
        accounts = self.read(tenant_id, "accounts", refresh=refresh)
        if accounts is None:
            self.ledger.set_tenant(
                tenant_id,
                codes_state="unverified",
                codes_detail="account codes not verified yet: connect to Xero",
            )
            return
        errors = check_codes(tenant_id, codes, accounts, self.read(tenant_id, "tax_rates"))
        self.ledger.set_tenant(
            tenant_id,
            codes_state="invalid" if errors else "ok",
            codes_detail="; ".join(errors) if errors else None,
        )
