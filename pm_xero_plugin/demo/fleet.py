"""``pm-xero demo --practices N``: one host process serving N practices, each to its own Xero.

Pet Manager is a hosted service: one host process serves many practices. This run is that host –
the reference host's many-practice mode (:class:`~hookspecs.refhost.fleet.RefFleet`: a
``fleet.json`` and ``practices/<id>/`` under the data directory, ``pm_startup(host=fleet)`` once,
every practice-scoped hook call naming its practice) – with N small businesses: one or two
locations each, a few weeks of history written by the reference host's generator, then a live
day. Every practice is set up as its admin would do it, with the one-practice demo's own steps
(:mod:`pm_xero_plugin.demo.run`): each location connected through "Connect to Xero" to an
organisation of its own practice (two locations of one practice may share one, told apart by
tracking), account codes from that organisation's chart, the settings saved, the contact sync
and the back-sync started through the hooks. The add-on's in-host workers (one per practice) send
it all, on each practice's SQLite ledger – or, when ``PM_XERO_LEDGER`` names a PostgreSQL
database, on that database.

The data directory left behind is a fleet root: ``pm-xero status --data-dir DIR`` lists its
practices, ``--practice ID`` shows one, and ``pm-xero worker --data-dir DIR`` serves them all; the
demo's Xero is recorded at the root (:mod:`pm_xero_plugin.demo.state`), so the verbs find it there.
Run again with the same ``--data-dir`` and ``--practices`` it resumes, as the one-practice demo
does (each practice remembers its own steps in its ``demo.json``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx

from pm_xero_plugin.demo import run as one
from pm_xero_plugin.demo.progress import (
    Reporter,
    Tally,
    WaitOutcome,
    ledger_counts,
    stalled_lines,
    tally,
)
from pm_xero_plugin.demo.progress import wait_until_settled as _wait_until_settled
from pm_xero_plugin.private_files import private_folder

if TYPE_CHECKING:
    from hookspecs.refhost import RefHost
    from hookspecs.refhost.fleet import RefFleet
    from pm_xero_plugin.sandbox import Sandbox
    from pm_xero_plugin.xero.ratelimit import Wait

__all__ = [
    "FLEET_SIZES",
    "FleetResult",
    "PracticeShape",
    "merged",
    "plan_practices",
    "print_fleet_result",
    "run_fleet_demo",
]

FLEET_SIZES: dict[str, dict[str, int]] = {
    "small": {"clients": 12, "days": 42, "live_rounds": 2},
    "medium": {"clients": 30, "days": 90, "live_rounds": 3},
    "large": {"clients": 80, "days": 180, "live_rounds": 4},
}
"""Each practice's size (customers per location, days of history, live rounds) by ``--size``:
small businesses, so that three practices at Xero's real limits finish within a minute."""


@dataclass(frozen=True)
class PracticeShape:
    """One practice of the demo: its id, generator seed, locations and organisations."""

    practice_id: str
    seed: int
    locations: int
    organisations: int
    """1 or 2; a practice of two locations in one organisation tells them apart by tracking."""


def plan_practices(count: int, seed: int) -> list[PracticeShape]:
    """``count`` practices, in turn: two locations in two organisations, one location, two
    locations sharing one organisation (ids ``practice-001`` …, so that they sort)."""
    shapes = []
    for n in range(1, count + 1):
        locations, organisations = ((2, 2), (1, 1), (2, 1))[(n - 1) % 3]
        shapes.append(PracticeShape(f"practice-{n:03d}", seed * 1000 + n, locations, organisations))
    return shapes


@dataclass
class FleetResult:
    """What a many-practice run did: the run's own result (its data directory, Xero's saved
    books, why a phase stopped) and each practice's (its locations' counts, API calls, live)."""

    run: one.DemoResult
    shapes: list[PracticeShape]
    practices: dict[str, one.DemoResult] = field(default_factory=dict)
    records: dict[str, Tally] = field(default_factory=dict)
    """Each practice's rows of every kind (allocations too), counted as the bars count them."""

    @property
    def failed_run(self) -> bool:
        """Xero refused records, or they did not arrive in time (exit 1)."""
        return self.run.failed_run or any(r.failed_run for r in self.practices.values())

    def counts(self, practice_id: str) -> dict[str, int]:
        """The practice's records synced, failed and waiting (due, not in Xero yet): what the
        operator's list of the root counts too."""
        found = self.records.get(practice_id, Tally())
        waiting = max(0, found.total - found.synced - found.failed_total)
        return {"synced": found.synced, "failed": found.failed_total, "waiting": waiting}

    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary: per practice the one-practice demo's counts by location and
        kind, their totals by kind, the API calls, the live records and what stopped a wait."""
        latencies = [s for r in self.practices.values() for s in r.live_latency_s]
        merged = one.DemoResult(live_latency_s=latencies)
        p95 = merged.live_p95()
        practices = {}
        for practice_id, result in self.practices.items():
            found = result.summary()
            del found["problems"]  # the run's waits cover every practice at once (below)
            practices[practice_id] = found | {"records": self.counts(practice_id)}
        return {
            "practices": practices,
            "totals": {
                bucket: _by_kind(getattr(r, bucket) for r in self.practices.values())
                for bucket in ("eligible", "synced", "failed")
            },
            "api_calls": sum(r.api_calls for r in self.practices.values()),
            "live": {
                "due": sum(r.live_due for r in self.practices.values()),
                "reached_xero": len(latencies),
                "p95_seconds": None if p95 is None else round(p95, 3),
            },
            "problems": self.run.problems,
            "data_dir": self.run.data_dir,
        }


def _by_kind(buckets: Any) -> dict[str, int]:
    out = dict.fromkeys(one.KINDS_OUT, 0)
    for by_location in buckets:
        for kinds in by_location.values():
            for kind, n in kinds.items():
                out[kind] += n
    return out


# -- the run -----------------------------------------------------------------------------------


@dataclass
class _Member:
    """One practice during the run: its shape, host, remembered steps and the add-on's parts."""

    shape: PracticeShape
    host: RefHost
    run: one._Run
    plugin: one._Plugin | None = None
    tenants: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    start: date | None = None
    live: one._Live | None = None

    @property
    def parts(self) -> one._Plugin:
        """The add-on's engine and Xero side for this practice (started)."""
        assert self.plugin is not None, "the practice's add-on is started first"
        return self.plugin


class _PracticeReporter(Reporter):
    """The run's screen, each step named for its practice (``practice-002: connected …``)."""

    def __init__(self, shared: Reporter, practice_id: str) -> None:
        self.quiet, self.console = shared.quiet, shared.console
        self._practice_id = practice_id

    def step(self, text: str) -> None:
        """A step of one practice's set-up."""
        super().step(f"{self._practice_id}: {text}")


def run_fleet_demo(options: one.DemoOptions, practices: int) -> FleetResult:
    """Run the demo with ``practices`` practices (at least 2) in one host process; raises
    :class:`~pm_xero_plugin.demo.run.DemoError` with a clear message when it cannot go on."""
    if practices < 2:
        raise one.DemoError("--practices: a many-practice demo has at least 2 practices")
    with one._private_files():
        return _run_fleet(options, plan_practices(practices, options.seed))


def _run_fleet(options: one.DemoOptions, shapes: list[PracticeShape]) -> FleetResult:
    base = _begin(options, shapes)
    result = FleetResult(base.result, shapes)
    with ExitStack() as stack:
        needed = sum(s.organisations for s in shapes)
        url, sandbox = one._serve_xero(stack, base, orgs=needed)
        organisations = _organisations(base, shapes, url, sandbox)
        fleet = _open_fleet(stack, base, url)
        members = [
            _member(fleet, base, shape, organisations[shape.practice_id]) for shape in shapes
        ]
        fleet.start()
        stack.callback(fleet.stop)
        for member in members:
            member.plugin = _started(fleet, member)
        _settle_start_up(options.timeout)
        for member in members:
            one._live_through(
                member.host,
                member.run.state,
                member.run.data_dir,
                base.today,
                member.shape.seed,
                member.run.report,
            )
            _set_up(member)
        waiter = _FleetWaiter(members, base)
        _contact_sync(members, base, waiter)
        _back_sync(members, waiter)
        _keep_working(members, base, waiter)
        for run in [base, *(m.run for m in members)]:
            run.state["today"] = base.today.isoformat()
            run.save_state()
        for member in members:
            result.practices[member.shape.practice_id] = _practice_result(member, sandbox)
            result.records[member.shape.practice_id] = tally(
                ledger_counts(member.parts.engine.ledger)
            )
    return result


def _begin(options: one.DemoOptions, shapes: list[PracticeShape]) -> one._Run:
    """The run's root: checked as a fleet root of these practices (a new temporary directory
    unless given), its remembered state and the practices' day (which only moves forward)."""
    if options.size not in FLEET_SIZES:
        raise one.DemoError(f"--size must be one of {', '.join(FLEET_SIZES)}")
    report = Reporter(options.quiet)
    temporary = options.data_dir is None
    root = private_folder(options.data_dir or tempfile.mkdtemp(prefix="pm-xero-demo-"))
    state = one._state(root)
    _check_root(root, state, [s.practice_id for s in shapes])
    if not state.get("fleet"):
        _check_shared_ledger([s.practice_id for s in shapes])
    if temporary:
        report.step(one._kept_where(root))
    today = options.today or date.fromisoformat(state.get("today", date.today().isoformat()))
    if state.get("today") and today < date.fromisoformat(state["today"]):
        raise one.DemoError(
            f"--today {today} is before the practices' last day {state['today']}: "
            "time only moves forward"
        )
    state.setdefault("fleet", {})["practices"] = [s.practice_id for s in shapes]
    state.setdefault("today", today.isoformat())
    result = one.DemoResult(data_dir=str(root), temporary=temporary)
    run = one._Run(options, FLEET_SIZES[options.size], report, root, state, today, result)
    run.save_state()
    return run


def _check_root(root: Path, state: Mapping[str, Any], ids: list[str]) -> None:
    """A directory of a one-practice demo, or of a demo of other practices, is not reused."""
    from hookspecs.refhost.fleet import RefFleet

    if (state and "fleet" not in state) or (root / "host").exists():
        raise one.DemoError(
            f"{root} holds a one-practice demo: run it without --practices, or choose another "
            "--data-dir for many practices"
        )
    had = list(state.get("fleet", {}).get("practices", []))
    if not had and RefFleet.is_fleet_root(root):
        raise one.DemoError(
            f"{root} is a many-practice host's root that no demo made: choose another --data-dir"
        )
    if had and had != ids:
        raise one.DemoError(
            f"{root} holds a demo of {len(had)} practices: run it with --practices {len(had)}, "
            "or choose another --data-dir"
        )


def _check_shared_ledger(ids: list[str]) -> None:
    """On a PostgreSQL ledger a new demo's practices must be new to the database: its rows are
    keyed by practice id, and another demo's ``practice-001`` would be taken for this one's."""
    from pm_xero_plugin.ledger.backends import ledger_url
    from pm_xero_plugin.ledger.interface import LedgerUnavailable

    try:
        url = ledger_url()
    except ValueError as exc:
        raise one.DemoError(str(exc)) from None
    if url is None:
        return
    from pm_xero_plugin.ledger.postgres_store import PgStore

    try:
        store = PgStore.open(url, max_size=2)
    except LedgerUnavailable as exc:
        raise one.DemoError(f"the ledger's PostgreSQL cannot be used: {exc}") from None
    try:
        taken = sorted({s.practice_id for s in store.fleet().practice_summaries()} & set(ids))
    finally:
        store.close()
    if taken:
        raise one.DemoError(
            f"the PostgreSQL ledger (PM_XERO_LEDGER) already holds {', '.join(taken)} of another "
            "demo: resume that demo's --data-dir, or use a database of its own"
        )


def _organisations(
    base: one._Run, shapes: list[PracticeShape], url: str, sandbox: Sandbox | None
) -> dict[str, list[str]]:
    """Each practice's organisations, taken in turn from the Xero's (remembered at the root:
    a re-run connects each practice to the same ones)."""
    fleet_state = base.state["fleet"]
    remembered: dict[str, list[str]] = fleet_state.get("organisations") or {}
    if remembered:
        return remembered
    available = sandbox.tenant_ids if sandbox is not None else _served_tenants(url)
    needed = sum(s.organisations for s in shapes)
    if len(available) < needed:
        where = (
            f"start it with --orgs {needed}"
            if base.options.xero_url
            else f"its saved books in {base.data_dir} hold fewer: choose another --data-dir"
        )
        raise one.DemoError(
            f"{len(shapes)} practices need {needed} organisations and the Xero at {url} has "
            f"{len(available)}: {where}"
        )
    free = list(available)
    chosen = {s.practice_id: [free.pop(0) for _ in range(s.organisations)] for s in shapes}
    fleet_state["organisations"] = chosen
    base.save_state()
    return chosen


def _served_tenants(url: str) -> list[str]:
    """The organisations of a sandbox served elsewhere, from its inspection API."""
    try:
        answer = httpx.get(f"{url}/sandbox/state", timeout=30.0)
        answer.raise_for_status()
        books = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise one.DemoError(
            f"the Xero at {url} does not list its organisations (GET /sandbox/state: {exc}): "
            "a many-practice demo needs the project's sandbox (pm-xero sandbox --orgs N)"
        ) from None
    return [str(tenant) for tenant in books] if isinstance(books, dict) else []


def _open_fleet(stack: ExitStack, base: one._Run, url: str) -> RefFleet:
    """The many-practice reference host at the root, its clock at 08:00 in Sydney on the
    practices' day and running at real speed, the add-on configured for ``url``."""
    from hookspecs.refhost.fleet import RefFleet

    options = base.options
    stack.enter_context(
        one._plugin_configured(url, options.client_id, options.client_secret, options.redirect_uri)
    )
    opening = datetime.combine(base.today, dtime(8, 0), ZoneInfo("Australia/Sydney"))
    fleet = RefFleet(base.data_dir, clock=one.RunningClock(opening.astimezone(UTC)))
    stack.callback(fleet.close)
    return fleet


def _member(
    fleet: RefFleet, base: one._Run, shape: PracticeShape, organisations: list[str]
) -> _Member:
    """One practice: its host (history written once, before the add-on hears of it) and its
    remembered steps, which the one-practice demo's steps read and write."""
    from hookspecs.refhost import generate_practice

    host = fleet.add_practice(shape.practice_id)
    folder = base.data_dir / "practices" / shape.practice_id
    report = _PracticeReporter(base.report, shape.practice_id)
    state = one._state(folder)
    state.setdefault("organisations", list(organisations))
    run = one._Run(base.options, base.size, report, folder, state, base.today, one.DemoResult())
    if not state.get("generated"):
        summary = generate_practice(
            host,
            seed=shape.seed,
            locations=shape.locations,
            clients=base.size["clients"] * shape.locations,
            start=base.today - timedelta(days=base.size["days"]),
            end=base.today - timedelta(days=1),
            money_flows=True,
        )
        state.update(generated=True, seed=shape.seed, today=base.today.isoformat())
        report.step(
            "a practice of " + ", ".join(f"{summary.total(k)} {k}" for k in sorted(summary.counts))
        )
    run.save_state()
    return _Member(shape, host, run)


def _started(fleet: RefFleet, member: _Member) -> one._Plugin:
    """The practice's add-on, opened by its first call (``pm_startup`` was the fleet's)."""
    from pm_xero_plugin import plugin

    practice_id = member.shape.practice_id
    runtime, engine = plugin.get_runtime(practice_id), plugin.get_engine(practice_id)
    if runtime is None or engine is None:
        failures = fleet.plugin_load_failures + fleet.hook_failures + member.host.hook_failures
        raise one.DemoError(
            f"the Xero add-on did not start for {practice_id}: "
            + ("; ".join(str(f) for f in failures) or "see the log")
        )
    return one._Plugin(engine, runtime)


def _settle_start_up(timeout: float) -> None:
    """Let each practice's start-up reconcile its host's records with its ledger before the
    days since the last run are lived: a record changed while that reads it is recorded twice
    (harmless, but said in a warning)."""
    from pm_xero_plugin import plugin

    plugin.wait_for_jobs(timeout)


def _set_up(member: _Member) -> None:
    """The practice's admin: every location connected to its organisation, account codes from
    its chart, the settings saved without a start date yet (the one-practice demo's steps)."""
    parts, run = member.parts, member.run
    locations = member.host.locations()
    member.tenants = one._connect_all(
        member.host, parts.runtime, locations, run.report, run.state, run.data_dir
    )
    run.result.tenants = {loc["id"]: member.tenants[loc["id"]] for loc in locations}
    member.settings, member.start = one._first_settings(
        member.host, parts, locations, member.tenants, run
    )


def _contact_sync(members: Sequence[_Member], base: one._Run, waiter: _FleetWaiter) -> None:
    """Every practice's contact sync at once; wait until their clients are in Xero."""
    base.report.step(f"contact sync in {len(members)} practices")
    for member in members:
        member.host.start_contact_sync(None)
    waiter.wait("contacts", kinds=("contact",))


def _back_sync(members: Sequence[_Member], waiter: _FleetWaiter) -> None:
    """Every practice's start date and back-sync; wait for them all."""
    for member in members:
        assert member.start is not None
        one._start_back_sync(member.host, member.run, member.settings, member.start)
    waiter.wait("back-sync")


def _keep_working(members: Sequence[_Member], base: one._Run, waiter: _FleetWaiter) -> None:
    """Every practice lives its day: rounds of new records, each timed until it is in Xero."""
    options = base.options
    rounds = options.live_rounds if options.live_rounds is not None else base.size["live_rounds"]
    if not rounds:
        return
    base.report.step(f"the practices keep working ({rounds} rounds of new records each)")
    for member in members:
        state, parts = member.run.state, member.parts
        state["runs"] = int(state.get("runs", 0)) + 1
        member.run.save_state()
        member.live = one._Live(
            member.host,
            parts.engine,
            parts.runtime,
            base.today,
            rounds,
            f"{options.seed}:{member.shape.practice_id}:{state['runs']}",
        )
    waiter.wait_live([m.live for m in members if m.live is not None])
    for member in members:
        if member.live is not None:
            member.run.result.live_latency_s = member.live.latencies
            member.run.result.live_due = member.live.tally().total
    waiter.wait("the rest", quiet_when_settled=True)


def _practice_result(member: _Member, sandbox: Sandbox | None) -> one.DemoResult:
    """What reached the practice's organisations, by location and kind, and its API calls."""
    result, parts = member.run.result, member.parts
    locations = member.host.locations()
    start = member.start.isoformat() if member.start is not None else ""
    result.start_date = {loc["id"]: start for loc in locations}
    result.data_dir = str(member.run.data_dir)
    one._fill_counts(parts.engine, result, locations)
    result.failed_run = any(n for kinds in result.failed.values() for n in kinds.values())
    result.api_calls = (
        sum(sandbox.api_calls(t) for t in set(member.tenants.values()))
        if sandbox is not None
        else parts.runtime.worker.stats.api_calls
    )
    return result


# -- waiting for Xero, every practice at once --------------------------------------------------


def merged(tallies: Sequence[Tally]) -> Tally:
    """One :class:`Tally` of several practices' (their organisations are their own)."""
    found = Tally()
    for part in tallies:
        found.total += part.total
        found.synced += part.synced
        found.retrying += part.retrying
        found.failed.update(part.failed)
        found.moving.update(part.moving)
        found.held.update(part.held)
        found.behind.update(part.behind)
    return found


class _FleetLimits:
    """Xero's limits as the screen asks them, each organisation's from its practice's add-on."""

    def __init__(self, members: Sequence[_Member]) -> None:
        self._by_tenant = {
            tenant: member.parts.runtime.limiter
            for member in members
            for tenant in member.tenants.values()
        }

    def wait_for(self, tenant_id: str) -> Wait:
        """The organisation's wait now."""
        from pm_xero_plugin.xero.ratelimit import Wait

        limiter = self._by_tenant.get(tenant_id)
        return limiter.wait_for(tenant_id) if limiter is not None else Wait(0.0, "")


class _FleetWaiter:
    """The one-practice demo's waits (:func:`~pm_xero_plugin.demo.progress.wait_until_settled`)
    over every practice's ledger at once: one bar, each organisation's limits said as waits."""

    def __init__(self, members: Sequence[_Member], base: one._Run) -> None:
        self.members, self.base = members, base
        self.limits = _FleetLimits(members)
        self.names: dict[str, str] = {}
        for member in members:
            self.names.update(member.run.state.get("organisation_names", {}))

    def _look(self, kinds: tuple[str, ...] | None) -> Tally:
        return merged([tally(ledger_counts(m.parts.engine.ledger), kinds) for m in self.members])

    def _explain(self, found: Tally) -> list[str]:
        from pm_xero_plugin.dashboard.status import build as build_status

        failures = [
            failure
            for member in self.members
            for failure in build_status(member.parts.engine, None).get("failures") or []
        ]
        see = one.shown_command("status", "--data-dir", str(self.base.data_dir))
        return stalled_lines(found, {"failures": failures}, see)

    def _outcome(self, label: str, outcome: WaitOutcome) -> None:
        result = self.base.result
        for line in outcome.why:
            self.base.report.line(line, label=f"{label} stopped:")
        result.problems.extend(f"{label}: {line}" for line in outcome.why)
        if outcome.timed_out or outcome.tally.failed_total:
            result.failed_run = True

    def wait(
        self, label: str, kinds: tuple[str, ...] | None = None, quiet_when_settled: bool = False
    ) -> None:
        """Wait until the phase's rows of every practice are in Xero, or cannot get there."""
        for member in self.members:
            member.parts.engine.doorbell.ring()
        if quiet_when_settled and not one._jobs_running() and self._look(kinds).settled:
            return
        outcome = _wait_until_settled(
            lambda: self._look(kinds),
            report=self.base.report,
            label=label,
            timeout=self.base.options.timeout,
            limiter=self.limits,
            names=self.names,
            explain=self._explain,
            busy=one._jobs_running,
        )
        self._outcome(label, outcome)

    def wait_live(self, lives: Sequence[one._Live]) -> None:
        """Follow every practice's live rounds until their records are in Xero."""

        def step() -> None:
            for live in lives:
                live.step()

        outcome = _wait_until_settled(
            lambda: merged([live.tally() for live in lives]),
            report=self.base.report,
            label="live",
            timeout=self.base.options.timeout
            + one.ROUND_SECONDS * max(live.rounds for live in lives),
            limiter=self.limits,
            names=self.names,
            explain=self._explain,
            busy=lambda: any(live.busy() for live in lives),
            poll=0.05,
            on_poll=step,
        )
        self._outcome("live", outcome)


# -- the end -----------------------------------------------------------------------------------


def print_fleet_result(
    result: FleetResult, as_json: bool = False, overview: Callable[[], None] | None = None
) -> int:
    """Print the end of a many-practice run – the JSON summary, or one line per practice, the
    operator's overview (``overview``: the CLI's list of a fleet root) and how to look further –
    and return the exit status (1 when the run failed, else 0)."""
    import click

    if as_json:
        click.echo(json.dumps(result.summary(), indent=2, sort_keys=True))
        return 1 if result.failed_run else 0
    for shape in result.shapes:
        counts = result.counts(shape.practice_id)
        click.echo(
            f"{shape.practice_id} ({_plural(shape.locations, 'location')} in "
            f"{_plural(shape.organisations, 'organisation')}): "
            + ", ".join(f"{n} {what}" for what, n in counts.items())
        )
    if overview is not None:
        overview()
    _print_closing(result)
    return 1 if result.failed_run else 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _print_closing(result: FleetResult) -> None:
    """The live records, what stopped a wait, and the commands that look further."""
    import click

    found = result.summary()
    live = found["live"]
    if live["due"]:
        left = live["due"] - live["reached_xero"]
        p95 = live["p95_seconds"]
        click.echo(
            f"live records: {live['reached_xero']} of {live['due']} reached Xero"
            + (f", p95 {p95:.2f} s after they were created" if p95 is not None else "")
            + (f"; {left} did not" if left else "")
        )
    for problem in result.run.problems:
        click.echo(f"stopped waiting – {problem}")
    click.echo(f"Accounting API calls: {found['api_calls']}")
    root = result.run.data_dir
    if result.run.temporary:
        kept = one._kept_where(Path(root))
        click.echo(kept[:1].upper() + kept[1:])
    else:
        click.echo(f"Data kept in {root}: run the same command again to resume.")
    first = result.shapes[0].practice_id
    click.echo(f"Every practice: {one.shown_command('status', '--data-dir', root)}")
    click.echo(
        f"One practice: {one.shown_command('status', '--data-dir', root, '--practice', first)}"
    )
    worker = one.shown_command("worker", "--data-dir", root, "--once")
    if result.run.sandbox_state:
        click.echo(
            f"Its Xero's books are kept in {result.run.sandbox_state}: {worker} serves them "
            "again by itself and sends what is left for every practice; to look at them in a "
            "browser: "
            f"{one.shown_command('sandbox', '--state', result.run.sandbox_state, '--port', '8765')}"
        )
    else:
        click.echo(f"Send what is left for every practice: {worker}")
