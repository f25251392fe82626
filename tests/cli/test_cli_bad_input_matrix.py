"""The bad-input matrix: every input a person was seen to meet a traceback with (issue 9,
item 6), and each verb's equivalent, driven as a real ``pm-xero`` process.

Each must exit non-zero with the documented status – 2 for bad usage or input, 1 for a failure
at run time – and at most three lines on stderr that name the problem, never a ``Traceback``.
Ctrl-C exits 130 saying how to resume; ``--debug`` is the one way to see a traceback.

The read-only and full-disk cases need real mounts: root ignores permission bits, so as root a
read-only bind mount and a tiny tmpfs are used (skipped, saying why, where mounting is not
allowed); as another user a ``chmod 0555`` copy stands in for the read-only mount.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.cli_practice import PracticeDir, build_practice
from support.cli_process import PM_XERO, cli_env, pm_xero

from pm_xero_plugin.sandbox import Sandbox

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mount(*args: str) -> str | None:
    """Run ``mount ARGS``; ``None`` when it worked, else why not (for the skip reason)."""
    if shutil.which("mount") is None:
        return "no mount command here"
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount {args} failed")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@dataclass
class Ctx:
    """Everything the cases point at (built once for the module)."""

    root: Path  # a scratch directory
    practice: PracticeDir  # a host data dir with a failed, a held and a synced row
    file: Path  # a regular file, to put a data dir "under"
    broken: Path  # a host data dir whose ledger cannot be opened (it is a directory)
    garbage: Path  # a file that is not a sandbox state
    app: dict[str, str]  # a Xero app pointing at a served sandbox
    busy_port: int  # a port something is listening on
    readonly: Path | None  # a read-only copy of the practice, or None
    readonly_why: str  # why there is none
    full: Path | None  # a copy of the practice on a full disk, or None
    full_why: str


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    root = tmp_path_factory.mktemp("matrix")
    practice = build_practice(root / "pm")
    (root / "a-file").write_text("not a directory\n")
    broken = root / "broken"
    shutil.copytree(practice.root, broken)
    ledger = broken / "plugins" / "xero" / "ledger.sqlite3"
    ledger.unlink()
    ledger.mkdir()  # sqlite: "unable to open database file"
    (root / "garbage.json").write_text("this is not json {")
    sandbox = Sandbox(orgs=1)
    server = sandbox.serve()
    app = {
        "PM_XERO_URL": server.url,
        "PM_XERO_CLIENT_ID": sandbox.client_id,
        "PM_XERO_CLIENT_SECRET": sandbox.client_secret,
    }
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    mounts: list[Path] = []
    readonly: Path | None = None
    try:  # the mounts are undone even when a copy into one fails (a practice outgrew 2 MB)
        readonly, readonly_why = _readonly_copy(root, practice.root, mounts)
        full, full_why = _full_disk_copy(root, practice.root, mounts)
        yield Ctx(
            root=root,
            practice=practice,
            file=root / "a-file",
            broken=broken,
            garbage=root / "garbage.json",
            app=app,
            busy_port=int(listener.getsockname()[1]),
            readonly=readonly,
            readonly_why=readonly_why,
            full=full,
            full_why=full_why,
        )
    finally:
        listener.close()
        server.shutdown()
        for mounted in reversed(mounts):
            _umount(mounted)
        if readonly is not None and os.geteuid() != 0:
            readonly.chmod(0o755)


def _readonly_copy(root: Path, source: Path, mounts: list[Path]) -> tuple[Path | None, str]:
    copy = root / "ro-source"
    shutil.copytree(source, copy)
    if os.geteuid() != 0:
        for path in (copy, copy / "host", copy / "plugins", copy / "plugins" / "xero"):
            path.chmod(0o555)
        return copy, ""
    target = root / "ro"
    target.mkdir()
    problem = _mount("--bind", "-o", "ro", str(copy), str(target))
    if problem is not None:
        return None, f"root ignores chmod and a read-only bind mount failed: {problem}"
    mounts.append(target)
    return target, ""


def _full_disk_copy(root: Path, source: Path, mounts: list[Path]) -> tuple[Path | None, str]:
    if os.geteuid() != 0:
        return None, "filling a disk needs a tmpfs mount, which needs root"
    disk = root / "full"
    disk.mkdir()
    problem = _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    if problem is not None:
        return None, f"a 2 MB tmpfs could not be mounted: {problem}"
    mounts.append(disk)
    shutil.copytree(source, disk / "pm")
    # Unbuffered: a buffered file kept the part of its last write that did not fit and raised
    # ENOSPC again from close() (whenever the copy left free space not a multiple of 64 KiB).
    with open(disk / "filler", "wb", buffering=0) as fh:  # write until the disk is full
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return disk / "pm", ""


@dataclass(frozen=True)
class Case:
    """One input: the arguments (and environment) built from the context, the exit status
    it must give, and words its stderr must contain."""

    args: Callable[[Ctx], list[str | Path]]
    code: int
    words: tuple[str, ...]
    env: Callable[[Ctx], dict[str, str]] = lambda c: {}
    needs: str | None = None  # "readonly" / "full": skipped without that mount


def _row(c: Ctx) -> str:
    return str(c.practice.failed_row)


def _under_file(c: Ctx) -> Path:
    return c.file / "data"


_VERBS_ON_A_DATA_DIR: dict[str, Callable[[Ctx], list[str | Path]]] = {
    "status": lambda c: ["status"],
    "preview": lambda c: ["preview", "--no-lookup"],
    "exclude": lambda c: ["exclude", _row(c)],
    "retry": lambda c: ["retry", _row(c)],
    "resolve": lambda c: ["resolve", _row(c)],
    "worker": lambda c: ["worker", "--once", "--max-seconds", "5"],
    "connect": lambda c: ["connect", "syd", "--client-credentials"],
}

CASES: dict[str, Case] = {
    # -- servers, ports and URLs
    "sandbox on a busy port": Case(
        lambda c: ["sandbox", "--port", str(c.busy_port)], 1, ("already in use", "--port 0")
    ),
    "connect with its redirect port busy": Case(
        lambda c: ["connect", "syd", "--no-browser", "--data-dir", c.practice.root],
        1,
        ("redirect port", "already in use", "PM_XERO_REDIRECT_URI"),
        env=lambda c: {
            **c.app,
            "PM_XERO_REDIRECT_URI": f"http://127.0.0.1:{c.busy_port}/callback",
        },
    ),
    "demo against a server that is not there": Case(
        lambda c: ["demo", "--xero-url", "http://127.0.0.1:9", "--data-dir", c.root / "d-9"],
        1,
        ("nothing answers at http://127.0.0.1:9", "pm-xero sandbox"),
    ),
    "demo --xero-url notaurl": Case(
        lambda c: ["demo", "--xero-url", "notaurl", "--data-dir", c.root / "d-url"],
        2,
        ("--xero-url", "'notaurl' is not a URL"),
    ),
    "worker with PM_XERO_URL that is not a URL": Case(
        lambda c: ["worker", "--once", "--data-dir", c.practice.root],
        2,
        ("PM_XERO_URL", "is not a URL"),
        env=lambda c: {**c.app, "PM_XERO_URL": "notaurl"},
    ),
    "worker without a Xero app": Case(
        lambda c: ["worker", "--once", "--data-dir", c.practice.root],
        2,
        ("PM_XERO_CLIENT_ID", "PM_XERO_CLIENT_SECRET"),
    ),
    "sandbox --host that is not this machine's": Case(
        lambda c: ["sandbox", "--port", "0", "--host", "999.1.1.1"], 2, ("--host", "999.1.1.1")
    ),
    "sandbox --port out of range": Case(
        lambda c: ["sandbox", "--port", "70000"], 2, ("--port", "70000")
    ),
    "sandbox --spec that does not exist": Case(
        lambda c: ["sandbox", "--port", "0", "--spec", c.root / "nope.yaml"],
        2,
        ("--spec", "spec not found"),
    ),
    "demo --spec that does not exist": Case(
        lambda c: ["demo", "--spec", c.root / "nope.yaml", "--data-dir", c.root / "d-spec"],
        2,
        ("--spec", "does not exist"),
    ),
    # -- the sandbox's state file
    "sandbox --state garbage": Case(
        lambda c: ["sandbox", "--port", "0", "--state", c.garbage],
        2,
        ("--state", "is not a sandbox state file", "left as it is"),
    ),
    "sandbox --state under a file": Case(
        lambda c: ["sandbox", "--port", "0", "--state", c.file / "state.json"],
        2,
        ("--state", "cannot be written"),
    ),
    # -- dates, options, unknown ids
    "demo --today not a date": Case(
        lambda c: ["demo", "--today", "2026-13-01", "--data-dir", c.root / "d-date"],
        2,
        ("--today", "is not a date"),
    ),
    "demo --start-date not a date": Case(
        lambda c: ["demo", "--start-date", "July", "--data-dir", c.root / "d-date"],
        2,
        ("--start-date", "is not a date"),
    ),
    "preview --start-date not a date": Case(
        lambda c: ["preview", "--start-date", "01/02/2025", "--data-dir", c.practice.root],
        2,
        ("--start-date", "is not a date"),
    ),
    "an unknown option": Case(
        lambda c: ["status", "--bogus", "--data-dir", c.practice.root],
        2,
        ("--bogus", "pm-xero status --help"),
    ),
    "retry --tenant nope": Case(
        lambda c: ["retry", "--tenant", "nope", "--data-dir", c.practice.root],
        2,
        ("unknown organisation 'nope'", "T1, T2"),
    ),
    "retry --kind with an unknown --tenant": Case(
        lambda c: ["retry", "--kind", "invoice", "--tenant", "nope", "--data-dir", c.practice.root],
        2,
        ("unknown organisation 'nope'",),
    ),
    "status --location nope": Case(
        lambda c: ["status", "--location", "nope", "--data-dir", c.practice.root],
        2,
        ("unknown location 'nope'", "lon, syd"),
    ),
    "preview --location nope": Case(
        lambda c: ["preview", "--no-lookup", "--location", "nope", "--data-dir", c.practice.root],
        2,
        ("unknown location 'nope'",),
    ),
    "connect an unknown location": Case(
        lambda c: ["connect", "nope", "--client-credentials", "--data-dir", c.practice.root],
        2,
        ("unknown location 'nope'",),
        env=lambda c: c.app,
    ),
    "connect to an organisation the tokens do not reach": Case(
        lambda c: [
            "connect",
            "syd",
            "--client-credentials",
            "--tenant",
            "nope",
            "--data-dir",
            c.practice.root,
        ],
        2,
        ("organisation nope is not among the connected ones", "nothing was changed"),
        env=lambda c: c.app,
    ),
    **{
        f"{verb} an unknown row": Case(
            lambda c, verb=verb: [verb, "9999", "--data-dir", c.practice.root],
            2,
            ("no ledger row 9999",),
        )
        for verb in ("retry", "resolve", "exclude")
    },
    "retry --include-parent of an unknown row": Case(
        lambda c: ["retry", "--include-parent", "9999", "--data-dir", c.practice.root],
        2,
        ("no ledger row 9999",),
    ),
    # -- data directories
    "demo --data-dir under a file": Case(
        lambda c: ["demo", "--data-dir", _under_file(c)], 2, ("a-file is a file",)
    ),
    "demo --data-dir under /proc": Case(
        lambda c: ["demo", "--data-dir", "/proc/pm-xero-data"], 2, ("cannot be created",)
    ),
    "demo --data-dir read-only": Case(
        lambda c: ["demo", "--data-dir", c.readonly or ""],
        2,
        ("is read-only", "writable copy"),
        needs="readonly",
    ),
    "demo --data-dir on a full disk": Case(
        lambda c: ["demo", "--data-dir", c.full or ""], 1, ("is full",), needs="full"
    ),
    "a typo'd --data-dir": Case(
        lambda c: ["status", "--data-dir", c.root / "typo"], 2, ("is not a host data directory",)
    ),
    "--data-dir under /proc": Case(
        lambda c: ["status", "--data-dir", "/proc/pm-xero-data"],
        2,
        ("is not a host data directory",),
    ),
}
for _verb, _args in _VERBS_ON_A_DATA_DIR.items():
    CASES[f"{_verb} --data-dir under a file"] = Case(
        lambda c, a=_args: [*a(c), "--data-dir", _under_file(c)],
        2,
        ("a-file is a file",),
        env=lambda c: c.app,
    )
    CASES[f"{_verb} --data-dir read-only"] = Case(
        lambda c, a=_args: [*a(c), "--data-dir", c.readonly or ""],
        2,
        ("read-only", "writable"),
        env=lambda c: c.app,
        needs="readonly",
    )
    CASES[f"{_verb} on a full disk"] = Case(
        lambda c, a=_args: [*a(c), "--data-dir", c.full or ""],
        1,
        ("is full", "free some space"),
        env=lambda c: c.app,
        needs="full",
    )
    CASES[f"{_verb} with a ledger that cannot be opened"] = Case(
        lambda c, a=_args: [*a(c), "--data-dir", c.broken],
        1,
        ("cannot be opened", "unable to open database file"),
        env=lambda c: c.app,
    )


def _check(done: subprocess.CompletedProcess[str], code: int, words: tuple[str, ...]) -> None:
    said = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == code, (done.returncode, done.stderr, done.stdout[-500:])
    assert 1 <= len(said) <= 3, said
    text = " ".join(" ".join(said).split())
    for word in words:
        assert word in text, (word, said)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_the_right_exit_status(name: str, ctx: Ctx) -> None:
    case = CASES[name]
    if case.needs == "readonly" and ctx.readonly is None:
        pytest.skip(ctx.readonly_why)
    if case.needs == "full" and ctx.full is None:
        pytest.skip(ctx.full_why)
    done = pm_xero(*case.args(ctx), env=case.env(ctx), timeout=60)
    _check(done, case.code, case.words)


def test_read_only_data_dir_changed_nothing(ctx: Ctx) -> None:
    """The refusals above left the practice as it was (nothing half-written)."""
    if ctx.readonly is None:
        pytest.skip(ctx.readonly_why)
    assert sorted(p.name for p in (ctx.readonly / "plugins" / "xero").iterdir()) == [
        "ledger.sqlite3"
    ]


def test_debug_shows_the_traceback_the_boundary_otherwise_hides(ctx: Ctx) -> None:
    plain = pm_xero("status", "--data-dir", ctx.broken)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    for args in (["--debug", "status"], ["status", "--debug"]):
        debug = pm_xero(*args, "--data-dir", ctx.broken)
        assert debug.returncode == 1
        assert "Traceback" in debug.stderr
        assert "sqlite3.OperationalError" in debug.stderr
    env_debug = pm_xero("status", "--data-dir", ctx.broken, env={"PM_XERO_DEBUG": "1"})
    assert "Traceback" in env_debug.stderr


def _interrupt(args: list[str], env: dict[str, str], wait_for: str) -> tuple[int, str]:
    """Start ``pm-xero ARGS``, wait until stderr shows ``wait_for`` (it is running), send
    SIGINT as Ctrl-C does, and return the exit status and everything it wrote to stderr."""
    proc = subprocess.Popen(
        [*PM_XERO, *args],
        env=cli_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if wait_for in line:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(seen) + rest


def test_ctrl_c_stops_a_worker_with_130_and_says_how_to_go_on(ctx: Ctx, tmp_path: Path) -> None:
    root = tmp_path / "pm"
    shutil.copytree(ctx.practice.root, root)
    code, err = _interrupt(
        ["worker", "--progress-seconds", "0.2", "--data-dir", str(root)],
        ctx.app,
        "pm-xero worker: ",
    )
    assert code == 130, err
    assert "Traceback" not in err
    assert "interrupted (Ctrl-C); run pm-xero worker again" in err


def test_ctrl_c_stops_the_demo_with_130_and_says_how_to_resume(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    code, err = _interrupt(["demo", "--data-dir", str(data)], {}, "practice")
    assert code == 130, err
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert "interrupted (Ctrl-C)" in last, err
    assert "again to resume" in last, err
