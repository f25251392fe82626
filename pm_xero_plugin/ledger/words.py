"""The words a customer is found by in the dashboard's search.

A contact row's payload is the host's customer record; the ledger keeps, beside it, the words of
its name and email (lowercased with :meth:`str.casefold`) in a small table, so that "ann le" is
two index range scans (``word >= 'ann' AND word < 'ann\\uffff'``) instead of reading every row.
Only contact rows have words: a document is found through the contact it names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MAX_WORD", "query_words", "words_of", "words_of_payload"]

MAX_WORD: Final = 64
"""Longer words are cut (an email is one word; a pasted essay is not a name)."""

_SPLIT: Final = re.compile(r"[\s,;()\"']+")
_FIELDS: Final = ("first_name", "last_name", "email", "company_name", "name")


def _split(text: str) -> set[str]:
    return {w[:MAX_WORD] for w in _SPLIT.split(text.casefold()) if w}


def words_of(payload: Mapping[str, Any]) -> set[str]:
    """The words of a customer record: each word of its names, and its email whole."""
    words: set[str] = set()
    for key in _FIELDS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            words |= _split(value)
    return words


def words_of_payload(payload: str) -> set[str]:
    """:func:`words_of` of a stored payload (JSON text; anything unreadable has no words)."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        return set()
    return words_of(parsed) if isinstance(parsed, Mapping) else set()


def query_words(text: str) -> list[str]:
    """The words of what an admin typed, as prefixes to look up (longest first: the most
    selective range is read first)."""
    return sorted(_split(text), key=len, reverse=True)
