"""What the demo shows while records travel to Xero (issue 9, items 4 and 15): bars count what
reached Xero, waits on Xero's limits are shown as waits, and a phase where nothing can move stops
at once with a line saying why – never a silent hang."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from support.demo_helpers import clean_env, demo, pm_xero, summary

from pm_xero_plugin.demo.progress import Reporter, Tally, wait_until_settled
from pm_xero_plugin.sandbox import Limits, Sandbox
from pm_xero_plugin.xero.ratelimit import RateLimiter

pytestmark = pytest.mark.timeout(300)

Run = tuple[Path, subprocess.CompletedProcess[str]]
BAR = re.compile(r"^(?P<label>[a-z -]+?) .*?(?P<done>\d+)/(?P<total>\d+) in Xero", re.M)


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``pm-xero demo --live-rounds 2`` as a newcomer runs it: no --data-dir (a temporary one,
    under this test's TMPDIR), no --json. Several tests read its screen."""
    tmp = tmp_path_factory.mktemp("TmpDir")  # capitals: the path is printed as it is
    run = pm_xero("demo", "--live-rounds", "2", env=clean_env(TMPDIR=str(tmp)))
    assert run.returncode == 0, run.stderr[-3000:]
    return tmp, run


def test_the_live_bar_counts_what_the_summary_says_reached_xero(
    first_run: Run,
) -> None:
    """The live bar counted every row in the ledger (3759/3759) while the summary said "61
    reached Xero": both now count the live records, and what reached Xero."""
    _, run = first_run
    bars = {m["label"]: (int(m["done"]), int(m["total"])) for m in BAR.finditer(run.stderr)}
    assert {"contacts", "back-sync", "live"} <= set(bars), run.stderr[-3000:]
    live = re.search(r"live records: (\d+) of (\d+) reached Xero", run.stdout)
    assert live is not None, run.stdout
    assert bars["live"] == (int(live[1]), int(live[2]))
    assert 0 < bars["live"][1] < 100, "the live records, not the whole ledger"
    done, total = bars["back-sync"]
    assert done == total > 200


def test_a_temporary_demo_dir_is_named_with_how_to_resume_or_remove_it(
    first_run: Run,
) -> None:
    tmp, run = first_run
    made = [p for p in tmp.iterdir() if p.name.startswith("pm-xero-demo-")]
    assert len(made) == 1
    said = " ".join((run.stderr + run.stdout).split())
    # Said at the start (it is where everything goes) and again at the end.
    assert said.count(f"--data-dir {made[0]} to resume") == 2
    assert said.count(f"rm -r {made[0]}") == 2


class _Clock:
    """A monotonic clock the test moves (the limiter never sleeps here)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _reporter() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    report = Reporter(quiet=False)
    report.console = Console(file=out, width=120, force_terminal=False)
    return report, out


def test_a_wait_on_xeros_minute_limit_is_shown_as_a_wait_not_a_frozen_bar() -> None:
    clock = _Clock()
    limiter = RateLimiter(clock)
    limiter.record_429("T1", 41.0, "minute")

    def tallies() -> Iterator[Tally]:
        for synced in (10, 10, 10, 25):
            found = Tally()
            found.add("T1", "invoice", "synced", None, synced)
            if synced < 25:
                found.add("T1", "invoice", "ready", None, 25 - synced)
            yield found

    looks = tallies()
    report, out = _reporter()
    outcome = wait_until_settled(
        lambda: next(looks),
        report=report,
        label="back-sync",
        timeout=60,
        limiter=limiter,
        names={"T1": "Sandbox Pets Ltd 1"},
        explain=lambda found: ["nothing"],
        poll=0,
    )
    assert outcome.complete
    assert outcome.tally.synced == 25
    text = out.getvalue()
    assert "waiting 41 s for Xero's minute limit on Sandbox Pets Ltd 1" in text
    assert text.count("waiting 41 s") == 1, "a wait is said once, when it begins"
    assert "25/25 in Xero" in text


def test_nothing_that_can_move_ends_the_wait_at_once_saying_why() -> None:
    found = Tally()
    found.add("T1", "contact", "synced", None, 10)
    found.add("T1", "contact", "failed", None, 240)
    found.add("T1", "invoice", "waiting", "contact", 900)
    report, _ = _reporter()
    began = time.monotonic()
    outcome = wait_until_settled(
        lambda: found,
        report=report,
        label="back-sync",
        timeout=600,
        limiter=RateLimiter(_Clock()),
        names={},
        explain=lambda tally: [f"{tally.failed_total} contacts failed"],
        poll=0.05,
    )
    assert time.monotonic() - began < 5, "not the 600 s timeout"
    assert outcome.why == ["240 contacts failed"]
    assert not outcome.timed_out
    assert not outcome.complete


def test_a_wait_on_xeros_day_limit_ends_the_phase_at_once_saying_so() -> None:
    """Hours of waiting (the day limit) is not a wait a person sits through: the phase ends with
    the wait named and what happens to the rest, instead of hanging until its timeout."""
    limiter = RateLimiter(_Clock())
    limiter.record_429("T1", 86_000.0, "day")
    found = Tally()
    found.add("T1", "invoice", "synced", None, 10)
    found.add("T1", "invoice", "ready", None, 15)
    report, _ = _reporter()
    began = time.monotonic()
    outcome = wait_until_settled(
        lambda: found,
        report=report,
        label="back-sync",
        timeout=600,
        limiter=limiter,
        names={"T1": "Sandbox Pets Ltd 1"},
        explain=lambda tally: ["nothing"],
        poll=0.05,
    )
    assert time.monotonic() - began < 5, "not the 600 s timeout"
    assert outcome.timed_out
    assert not outcome.complete
    [why] = outcome.why
    assert "daily limit on Sandbox Pets Ltd 1" in why
    assert "reaches Xero once" in why


@pytest.fixture
def served(xero_spec_path: Path) -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(orgs=2, spec_path=xero_spec_path, limits=Limits(enabled=False), seed=3)
    with sandbox.serve(port=0) as server:
        yield sandbox, server.url


def test_a_demo_whose_contacts_clash_in_xero_stops_at_once_and_says_why(
    tmp_path: Path, served: tuple[Sandbox, str]
) -> None:
    """The second demo into an organisation whose contacts lost our numbers (typed in by hand,
    or renumbered in Xero) sat at 255/1097 for 600 s: now it stops waiting as soon as nothing
    can move, says which records and why, and exits 1 only if Xero refused records."""
    sandbox, url = served
    summary(demo(tmp_path / "first", "--xero-url", url, "--today", "2026-03-10"))
    for tenant_id in sandbox.tenant_ids:
        for contact in sandbox.org(tenant_id).contacts.values():
            contact.pop("ContactNumber", None)

    began = time.monotonic()
    run = demo(tmp_path / "second", "--xero-url", url, "--today", "2026-03-10")
    took = time.monotonic() - began

    assert took < 120, "it stopped waiting instead of sitting out the timeout"
    found: dict[str, Any] = json.loads(run.stdout)
    failed = sum(n for per_kind in found["failed"].values() for n in per_kind.values())
    assert run.returncode == (1 if failed else 0), run.stderr[-2000:]
    problems = "\n".join(found["problems"])
    assert "contacts" in problems, problems
    assert re.search(r"\d+ contacts (failed|held for an admin)", problems), problems
    assert "status --data-dir" in problems
    assert str(tmp_path / "second") in problems
    assert "Traceback" not in run.stderr


def test_demo_help_explains_seed_live_rounds_and_spec() -> None:
    shown = pm_xero("demo", "--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    for option, words in (
        ("--seed", "same seed gives the same practice"),
        ("--live-rounds", "each timed until it reaches Xero"),
        ("--spec", "checks every body against"),
    ):
        assert option in text, (option, text)
        assert words in text, (option, text)


def test_a_phase_that_ends_with_records_xero_refused_says_which_and_why() -> None:
    found = Tally()
    found.add("T1", "invoice", "synced", None, 50)
    found.add("T1", "payment", "failed", None, 3)
    report, _ = _reporter()
    outcome = wait_until_settled(
        lambda: found,
        report=report,
        label="back-sync",
        timeout=60,
        limiter=RateLimiter(_Clock()),
        names={},
        explain=lambda tally: [f"{tally.failed_total} payments failed"],
        poll=0,
    )
    assert outcome.why == ["3 payments failed"]
    assert not outcome.complete


def test_lines_show_brackets_in_xeros_messages_as_written() -> None:
    report, out = _reporter()
    report.line("21 payments waiting: see the dashboard [invoice_before_start]", label="live:")
    report.step("start date [2026-07-01]")
    assert "[invoice_before_start]" in out.getvalue()
    assert "[2026-07-01]" in out.getvalue()
