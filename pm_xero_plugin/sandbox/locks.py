"""Xero's two lock dates and who they stop.

An organisation has ``PeriodLockDate`` ("stop all users except advisers making changes on and
before") and ``EndOfYearLockDate`` ("stop all users making changes on and before"). A date *on
or before* a lock date that applies to the caller is locked; each lock has its own message.

The API acts as the user who connected the app, so which locks apply depends on that user's
role in the organisation. The sandbox models it per organisation with ``Faults.adviser``
(default ``False``: a standard user, the usual case for the person who presses "Connect to
Xero"): a non-adviser is stopped by both dates, an adviser only by the end-of-year date.

When both dates lock a document, the message names the *later* one – the date the document must
be after for this user – so the date shown is the one that has to move (on a tie, the end-of-year
lock, which stops everyone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .dates import lock_date_text

__all__ = ["LockDates"]


@dataclass(frozen=True)
class LockDates:
    """The lock dates of one organisation as they apply to the connected user."""

    period: date | None = None
    end_of_year: date | None = None
    adviser: bool = False

    def refusal(self, when: date, what: str = "document") -> str | None:
        """Xero's message if a `what` dated `when` is locked for this user, else ``None``."""
        applying = [("end of year", self.end_of_year)]
        if not self.adviser:
            applying.append(("period", self.period))
        locked = [(day, name) for name, day in applying if day is not None and when <= day]
        if not locked:
            return None
        # Latest date wins; on a tie the end-of-year lock (listed first) is kept by max().
        day, name = max(locked, key=lambda item: item[0])
        return (
            f"The {what} date cannot be before the {name} lock date, currently set at "
            f"{lock_date_text(day)}"
        )
