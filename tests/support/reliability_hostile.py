"""Hypothesis strategies for hostile input: host records, settings and Xero's answers.

Hostile values are the ones that break naive code: wrong types, NaN/Infinity and huge numbers in
money fields, impossible dates, control characters, megabyte strings, SQL, deep nesting, and
containers where scalars belong. Mutations start from *real* records (a generated practice) so
most examples are one step away from valid – where validators leak.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

HOSTILE_SCALARS: list[Any] = [
    None,
    "",
    " ",
    "\x00",
    "\u202e\u0000\ud7ff",
    "🐶" * 40,
    "x" * 70_000,
    "'; DROP TABLE rows; --",
    "../../etc/passwd",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-0.001",
    "12.345",
    "0x10",
    "1_000",
    "  10.00  ",
    "2025-02-30",
    "0000-00-00",
    "9999-12-31",
    "2025-13-01",
    "2025-01-01T00:00:00Z",
    -1,
    0,
    2**63,
    -(2**70),
    1.5,
    float("nan"),
    float("inf"),
    True,
    False,
    [],
    {},
    [None],
    {"$ne": 1},
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

# Fresh copies: the scalars include lists and dicts, and a later mutation step (or a hook) that
# changed the shared object would change what every later example draws (Hypothesis then fails
# the test as FlakyStrategyDefinition).
hostile_scalar = st.sampled_from(HOSTILE_SCALARS).map(copy.deepcopy)

hostile_value = st.one_of(hostile_scalar, json_values)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((*prefix, key))
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.append((*prefix, index))
            out.extend(_paths(item, (*prefix, index)))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any, max_mutations: int = 3) -> Any:
    """``base`` with 1..n fields replaced by hostile values, deleted, or joined by strangers."""
    record = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(record)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = record
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[key] = draw(hostile_value)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(hostile_value)
        else:
            parent.append(draw(hostile_value))
    return record


def hostile(base: Any) -> st.SearchStrategy[Any]:
    """Valid, near-valid, or nothing like a record at all."""
    return st.one_of(
        st.just(copy.deepcopy(base)),
        mutated(base),
        mutated(base, max_mutations=8),
        json_values,
        hostile_scalar,
    )


# -- Xero's answers ------------------------------------------------------------------------------

RESPONSE_KINDS = (
    "as_is",
    "status",
    "not_json",
    "empty",
    "null",
    "wrong_shape",
    "drop_ids",
    "bad_ids",
    "error_without_message",
    "truncate",
    "extend",
    "reverse",
    "mutate",
)


@st.composite
def response_mutation(draw: st.DrawFn) -> dict[str, Any]:
    """How to spoil one Accounting answer (applied by ``spoil``)."""
    kind = draw(st.sampled_from(RESPONSE_KINDS))
    return {
        "kind": kind,
        "status": draw(st.sampled_from([200, 200, 400, 401, 403, 404, 409, 429, 500, 503])),
        "content_type": draw(st.sampled_from(["application/json", "text/html", "text/plain", ""])),
        "retry_after": draw(st.sampled_from([None, "", "abc", "-5", "1", "3600", "1e9"])),
        "value": draw(hostile_value),
        "seed": draw(st.integers(0, 2**16)),
    }


def _documents(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                return value
    return []


def spoil(status: int, body: bytes, mutation: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Apply ``mutation`` to a real answer; returns status, headers, body."""
    import random

    headers = {"Content-Type": mutation["content_type"] or "application/json"}
    if mutation["retry_after"] is not None:
        headers["Retry-After"] = mutation["retry_after"]
    replaced = _replaced_answer(status, body, headers, mutation)
    if replaced is not None:
        return replaced
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    docs = _documents(data)
    spoil_documents = _DOCUMENT_SPOILERS.get(mutation["kind"])
    if spoil_documents is not None:
        spoil_documents(docs, mutation, random.Random(mutation["seed"]))
    return status, {"Content-Type": "application/json"}, _dump(data)


def _replaced_answer(
    status: int, body: bytes, headers: dict[str, str], mutation: dict[str, Any]
) -> tuple[int, dict[str, str], bytes] | None:
    """The mutations that replace the whole answer (``None``: the documents are spoilt)."""
    json_type = {"Content-Type": "application/json"}
    replaced: dict[str, tuple[int, dict[str, str], bytes]] = {
        "as_is": (status, json_type, body),
        "status": (mutation["status"], headers, body),
        "not_json": (200, headers, b"<html><body>Xero is having a moment</body></html>"),
        "empty": (mutation["status"], headers, b""),
        "null": (200, json_type, b"null"),
    }
    if mutation["kind"] == "wrong_shape":
        return 200, json_type, _dump(mutation["value"])
    return replaced.get(mutation["kind"])


def _drop_ids(docs: list[dict[str, Any]], mutation: dict[str, Any], rng: Any) -> None:
    for doc in docs:
        for key in [k for k in doc if k.endswith("ID")]:
            del doc[key]


def _bad_ids(docs: list[dict[str, Any]], mutation: dict[str, Any], rng: Any) -> None:
    for doc in docs:
        for key in [k for k in doc if k.endswith("ID")]:
            doc[key] = mutation["value"]


def _error_without_message(docs: list[dict[str, Any]], mutation: dict[str, Any], rng: Any) -> None:
    for doc in docs:
        doc["StatusAttributeString"] = "ERROR"
        doc.pop("ValidationErrors", None)


def _truncate(docs: list[dict[str, Any]], mutation: dict[str, Any], rng: Any) -> None:
    del docs[len(docs) // 2 :]


def _extend(docs: list[dict[str, Any]], mutation: dict[str, Any], rng: Any) -> None:
    if docs:
        docs.extend(copy.deepcopy(docs[: rng.randint(1, len(docs))]))


def _reverse(docs: list[dict[str, Any]], mutation: dict[str, Any], rng: Any) -> None:
    docs.reverse()


def _mutate(docs: list[dict[str, Any]], mutation: dict[str, Any], rng: Any) -> None:
    if docs:
        doc = rng.choice(docs)
        doc[rng.choice(sorted(doc))] = mutation["value"]


_DOCUMENT_SPOILERS = {
    "drop_ids": _drop_ids,
    "bad_ids": _bad_ids,
    "error_without_message": _error_without_message,
    "truncate": _truncate,
    "extend": _extend,
    "reverse": _reverse,
    "mutate": _mutate,
}


def _dump(value: Any) -> bytes:
    return json.dumps(value, default=str, allow_nan=True).encode()
