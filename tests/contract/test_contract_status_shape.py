"""``sync_status`` keeps the shape ``hookspecs.status`` documents: a real answer – a practice
with failures, waits, a contact clash, health and a caught hook error – checked key by key and
type by type, recursively. A key the add-on returns that the contract lacks fails, as does a
required key it leaves out."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest
from support.admin_practice import running_practice

from hookspecs import status as contract
from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin


class Shape:
    """Checks a value against a type of :mod:`hookspecs.status`, noting the TypedDicts met."""

    def __init__(self) -> None:
        self.met: set[str] = set()

    def problems(self, value: Any, tp: Any, path: str = "status") -> list[str]:
        """Everything in ``value`` that does not fit ``tp`` (empty: it fits)."""
        if tp is Any:
            return []
        if is_typeddict(tp):
            return self._typed_dict(value, tp, path)
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            tried = [self.problems(value, arg, path) for arg in get_args(tp)]
            return [] if any(not found for found in tried) else [p for t in tried for p in t]
        if origin is Literal:
            return [] if value in get_args(tp) else [f"{path}: {value!r} is not one of {tp}"]
        if origin is list:
            if not isinstance(value, list):
                return [f"{path}: {type(value).__name__}, not a list"]
            (item,) = get_args(tp)
            return [p for i, v in enumerate(value) for p in self.problems(v, item, f"{path}[{i}]")]
        if origin is dict:
            if not isinstance(value, dict):
                return [f"{path}: {type(value).__name__}, not a dict"]
            key_type, item = get_args(tp)
            found = [
                f"{path}: key {k!r} is not {key_type}" for k in value if not isinstance(k, str)
            ]
            return found + [
                p for k, v in value.items() for p in self.problems(v, item, f"{path}.{k}")
            ]
        if tp is type(None):
            return [] if value is None else [f"{path}: {value!r} is not None"]
        if tp in (str, int, bool):
            # a str subclass (a StrEnum state) is JSON text; a bool is no int here
            fits = type(value) is tp or (tp is str and isinstance(value, str))
            return [] if fits else [f"{path}: {value!r} is not {tp.__name__}"]
        return [f"{path}: the contract uses a type this check does not know: {tp}"]

    def _typed_dict(self, value: Any, tp: Any, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a {tp.__name__}"]
        self.met.add(tp.__name__)
        hints = get_type_hints(tp)
        found = [f"{path}.{k}: not in {tp.__name__}" for k in sorted(set(value) - set(hints))]
        found += [f"{path}.{k}: missing" for k in sorted(tp.__required_keys__ - set(value))]
        for key, item in value.items():
            if key in hints:
                found += self.problems(item, hints[key], f"{path}.{key}")
        return found


def test_a_running_practices_status_has_exactly_the_documented_shape(tmp_path: Path) -> None:
    with running_practice(tmp_path / "pm") as p:
        p.engine.health.report("tokens:T1", "the stored connection cannot be read", "reconnect")
        p.engine.note_hook_error("on_invoice_created", ValueError("a malformed invoice"))
        answer = p.host.sync_status(None)
    assert answer is not None
    # what is checked is not empty: every list the contract describes has an entry
    for key in ("organisations", "sections", "failures", "contact_conflicts", "health"):
        assert answer[key], key
    assert answer["plugin_errors"]
    assert any(section["waiting"] for section in answer["sections"])
    assert "background_jobs" in answer

    shape = Shape()
    assert shape.problems(answer, contract.SyncStatus) == []
    assert shape.met == {
        "SyncStatus",
        "OrganisationStatus",
        "AccountCodesState",
        "SectionStatus",
        "WaitingGroup",
        "Failure",
        "ContactConflict",
        "WayOut",
        "HealthCondition",
        "PluginError",
    }


def test_the_answer_before_start_up_has_the_unavailable_shape(tmp_path: Path) -> None:
    host = RefHost(
        tmp_path / "pm", clock=ManualClock(datetime(2025, 3, 3, tzinfo=UTC)), load_entrypoints=False
    )
    host.register(plugin, name="xero")
    try:
        answer = host.sync_status(None)
    finally:
        host.close()
    assert answer is not None
    assert "error" in answer
    shape = Shape()
    assert shape.problems(answer, contract.StatusUnavailable) == []
    assert {"StatusUnavailable", "RecordsWaiting"} <= shape.met
    assert shape.problems(answer, contract.SyncStatusAnswer) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.update(surprise=1), "status.surprise: not in SyncStatus"),
        (lambda s: s.pop("failures_total"), "status.failures_total: missing"),
        (
            lambda s: s["failures"][0].update(row_id="7"),
            "status.failures[0].row_id: '7' is not int",
        ),
        (
            lambda s: s["organisations"][0].update(data_sync="sideways"),
            "status.organisations[0].data_sync: 'sideways' is not one of",
        ),
        (
            lambda s: s["contact_conflicts"][0]["ways_out"][0].update(extra=True),
            "status.contact_conflicts[0].ways_out[0].extra: not in WayOut",
        ),
    ],
)
def test_the_check_itself_catches_a_key_or_type_off_the_contract(
    tmp_path: Path, change: Any, problem: str
) -> None:
    with running_practice(tmp_path / "pm") as p:
        answer = p.host.sync_status(None)
    assert answer is not None
    change(answer)
    found = Shape().problems(answer, contract.SyncStatus)
    assert any(p.startswith(problem) for p in found), found
