"""``payload_json`` (orjson) writes exactly ``canonical_json``'s text: the stored payload and its
hash must not change with the encoder, or every replayed record would look edited."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pm_xero_plugin.inputs.records import canonical_json, payload_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@pytest.mark.parametrize(
    "text",
    ["plain", "Café", "日本", 'say "hi"', "back\\slash", "line\nbreak", "tab\t", "del\x7f", "\x00"],
)
def test_escapes_and_non_ascii_text_are_written_as_canonical_json_does(text: str) -> None:
    payload = {"description": text, "b": [1, None, True], "a": {"z": text}}
    assert payload_json(payload) == canonical_json(payload)


def test_integers_beyond_64_bits_fall_back_to_canonical_json() -> None:
    payload = {"number": 2**70}
    assert payload_json(payload) == canonical_json(payload)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_any_float_free_payload_is_written_as_canonical_json_does(payload: dict[str, Any]) -> None:
    assert payload_json(payload) == canonical_json(payload)
