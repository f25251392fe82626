"""One error boundary for the whole ``pm-xero`` command group.

A person who mistypes a date, points ``--data-dir`` at a file, starts a second sandbox on a busy
port or runs the demo against a server that is not there must read one line that says what is
wrong and what to do – not a traceback. So every verb runs inside :class:`BoundaryGroup`, which
turns the failures a person can meet into one line on stderr and an exit status scripts can read:

* **2** – bad usage or input: an unknown option, a bad date, an unknown row/location/
  organisation, a data directory that is a file, cannot be created or is read-only, a URL that is
  not a URL, a state file that is not one;
* **1** – a failure at run time: a busy port, an unreachable server, a full disk, a database that
  cannot be opened, Xero refusing or limiting us;
* **130** – Ctrl-C, with a line saying how to resume (everything recorded so far is kept).

Anything else is a bug: it still gets one line (its type and message, and "run again with
``--debug``"), exit 1. ``pm-xero --debug VERB …`` (or ``PM_XERO_DEBUG=1``) lets the original
exception and its traceback through, for a developer or a bug report.

Verbs raise :class:`BadInput` / :class:`RunFailure` for failures they recognise themselves (they
know which option or port was meant); :func:`explain` is the net under them for the rest.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

import click

from pm_xero_plugin.invocation import program

__all__ = [
    "DEBUG_ENV",
    "BadInput",
    "BoundaryGroup",
    "RunFailure",
    "explain",
]

DEBUG_ENV = "PM_XERO_DEBUG"
EXIT_INPUT = 2
EXIT_RUNTIME = 1
EXIT_INTERRUPTED = 130

_RESUME = {
    "demo": "run the same {pm} demo command (same --data-dir) again to resume",
    "worker": "run {pm} worker again to go on (claimed rows return after their lease)",
    "sandbox": "start it again with the same --state file to resume its books",
    "connect": "nothing was changed: run {pm} connect again",
}
_RESUME_DEFAULT = "what was recorded is kept: run the same command again to resume"


class BadInput(click.ClickException):
    """The person's input is wrong (exit 2): the message names it and says what to give."""

    exit_code = EXIT_INPUT


class RunFailure(click.ClickException):
    """Something failed at run time (exit 1): the message says what and what to do."""

    exit_code = EXIT_RUNTIME


def _debug_env() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _where(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else None
    return f" ({name})" if name else ""


def _os_error(exc: OSError) -> click.ClickException:
    """A file-system or socket error as a person reads it."""
    code = exc.errno
    where = _where(exc)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return RunFailure(
            f"the disk is full{where}: free some space, then run the same command again "
            "(what was recorded is kept)"
        )
    if code == errno.EADDRINUSE:
        return RunFailure(
            "a network port this command needs is already in use: stop what uses it, or "
            "choose another port"
        )
    if code == errno.EROFS:
        return BadInput(
            f"the file system is read-only{where}: choose a --data-dir (or file) you can write to"
        )
    if code in (errno.EACCES, errno.EPERM):
        return BadInput(f"permission denied{where}: choose a --data-dir (or file) you can write to")
    if code == errno.ENOTDIR:
        return BadInput(f"a part of this path is a file, not a directory{where}")
    if code == errno.ENOENT:
        return BadInput(f"no such file or directory{where}")
    if code == errno.ECONNREFUSED:
        return RunFailure("the connection was refused: is the server running?")
    return RunFailure(f"{exc.strerror or exc}{where}")


def _sqlite_error(exc: sqlite3.Error) -> click.ClickException:
    text = str(exc)
    if "unable to open database file" in text:
        return RunFailure(
            "a database in the data directory cannot be opened (unable to open database file): "
            "check that --data-dir exists and is writable"
        )
    if "readonly database" in text:
        return BadInput("the data directory is read-only: choose a --data-dir you can write to")
    if "database or disk is full" in text:
        return RunFailure(
            "the disk is full: free some space, then run the same command again "
            "(what was recorded is kept)"
        )
    if "disk I/O error" in text:
        return RunFailure(
            "the disk refused a write (disk I/O error): is it full or failing? Free some "
            "space, then run the same command again"
        )
    if "database is locked" in text:
        return RunFailure("the database is busy (another process holds it): try again in a moment")
    if "not a database" in text or "malformed" in text:
        return BadInput(
            f"a file in the data directory is not a usable database ({text}): "
            "choose another --data-dir"
        )
    return RunFailure(f"database error: {text}")


def explain(exc: BaseException) -> click.ClickException | None:
    """The one line (and exit status) for a failure a person can meet, or ``None`` for a bug."""
    import httpx

    from pm_xero_plugin.xero.errors import (
        AuthorizationFailed,
        RateLimited,
        ReconnectRequired,
        TransientError,
        XeroError,
    )

    if isinstance(exc, click.ClickException):
        return exc
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return BadInput(f"not a usable URL ({exc}): give one like http://127.0.0.1:8765")
    if isinstance(exc, httpx.TransportError):
        url = ""
        with contextlib.suppress(RuntimeError):  # no request attached
            url = f" {exc.request.url.scheme}://{exc.request.url.netloc.decode()}"
        return RunFailure(
            f"cannot reach{url or ' the server'} ({type(exc).__name__}: {exc}): is it running, "
            "and is the URL right?"
        )
    if isinstance(exc, RateLimited):
        from pm_xero_plugin.xero.client import describe_duration, describe_limit

        after = f" in {describe_duration(exc.retry_after)}" if exc.retry_after else " later"
        return RunFailure(f"{describe_limit(exc.problem)} was reached: try again{after}")
    if isinstance(exc, TransientError):
        return RunFailure(f"{exc}: is the server running and reachable? Try again later")
    if isinstance(exc, ReconnectRequired):
        return RunFailure(f"{exc}: connect again ({program()} connect LOCATION)")
    if isinstance(exc, AuthorizationFailed):
        return RunFailure(f"Xero was not connected: {exc}")
    if isinstance(exc, XeroError):
        return RunFailure(f"Xero: {exc}")
    if isinstance(exc, sqlite3.Error) or _is_ledger_unavailable(exc):
        return _ledger_error(exc)
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, MemoryError):
        return RunFailure("out of memory")
    return None


def _is_ledger_unavailable(exc: BaseException) -> bool:
    from pm_xero_plugin.ledger.interface import LedgerUnavailable

    return isinstance(exc, LedgerUnavailable)


def _ledger_error(exc: BaseException) -> click.ClickException:
    """A SQLite file's trouble in its words, or a PostgreSQL ledger that cannot be reached
    (its message already says which server and what to do)."""
    if isinstance(exc, sqlite3.Error):
        return _sqlite_error(exc)
    return RunFailure(str(exc))


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Formatter(logging.Formatter):
    """Log records as ``pm-xero: message`` lines; tracebacks only in debug mode."""

    def __init__(self, debug: bool) -> None:
        super().__init__("pm-xero: %(message)s")
        self._debug = debug

    def format(self, record: logging.LogRecord) -> str:
        if self._debug:
            return super().format(record)
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            text = super().format(record)
            if saved[0] is not None and saved[0][1] is not None:
                text += f" ({type(saved[0][1]).__name__}: {_one_line(str(saved[0][1]))})"
            return text
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def _quiet_logging(debug: bool) -> logging.Handler | None:
    """In a real process (no logging configured), warnings go to stderr as one line each."""
    root = logging.getLogger()
    if root.handlers:
        return None  # an embedding program or the test runner configured logging
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(debug))
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.addHandler(handler)
    if debug:
        root.setLevel(logging.DEBUG if os.environ.get(DEBUG_ENV) == "2" else logging.INFO)
    return handler


class BoundaryGroup(click.Group):
    """A click group whose :meth:`main` is the error boundary described in the module text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.debug = False
        self.verb: str | None = None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve the verb as click does, remembering its name for the one-line messages."""
        name, command, rest = super().resolve_command(ctx, args)
        self.verb = command.name if command is not None else name
        return name, command, rest

    def _prefix(self, prog_name: str) -> str:
        return f"{prog_name} {self.verb}" if self.verb else prog_name

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the group inside the error boundary (see the module text): one line and an exit
        status for a failure a person can meet, the traceback only with ``--debug``."""
        argv = list(sys.argv[1:] if args is None else args)
        # --debug is accepted anywhere before a lone "--" (pm-xero demo --debug works too)
        cut = argv.index("--") if "--" in argv else len(argv)
        self.debug = _debug_env() or "--debug" in argv[:cut]
        argv = [a for a in argv[:cut] if a != "--debug"] + argv[cut:]
        self.verb = None
        prog = "pm-xero"  # what the person typed (click's test runner would say "main")
        if not standalone_mode:
            return super().main(argv, prog, complete_var, standalone_mode=False, **extra)
        handler = _quiet_logging(self.debug)
        try:
            super().main(argv, prog, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as done:  # --help, --version, ctx.exit(n)
            sys.exit(done.exit_code)
        except click.Abort as abort:
            self._abort(prog, abort)
        except click.UsageError as usage:
            hint = f"{program()} {self.verb} --help" if self.verb else f"{program()} --help"
            click.echo(
                f"{self._prefix(prog)}: {_one_line(usage.format_message())} (see {hint})", err=True
            )
            sys.exit(usage.exit_code)
        except click.ClickException as known:
            click.echo(f"{self._prefix(prog)}: {_one_line(known.format_message())}", err=True)
            sys.exit(known.exit_code)
        except KeyboardInterrupt:  # raised outside click's own handler (e.g. in a callback)
            self._interrupted(prog)
        except Exception as exc:
            if self.debug:
                raise
            failure = explain(exc)
            if failure is None:
                click.echo(
                    f"{self._prefix(prog)}: unexpected error ({type(exc).__name__}: "
                    f"{_one_line(str(exc))[:300]}); run again with --debug for the traceback "
                    "and report it",
                    err=True,
                )
                sys.exit(EXIT_RUNTIME)
            click.echo(f"{self._prefix(prog)}: {_one_line(failure.format_message())}", err=True)
            sys.exit(failure.exit_code)
        finally:
            if handler is not None:
                logging.getLogger().removeHandler(handler)
        sys.exit(0)

    def _abort(self, prog: str, abort: click.Abort) -> None:
        if isinstance(abort.__cause__, EOFError):
            click.echo(
                f"{self._prefix(prog)}: no answer on standard input: give the choice as an "
                "option instead (see --help)",
                err=True,
            )
            sys.exit(EXIT_INPUT)
        self._interrupted(prog)

    def _interrupted(self, prog: str) -> None:
        resume = _RESUME.get(self.verb or "", _RESUME_DEFAULT).format(pm=program())
        click.echo(f"{self._prefix(prog)}: interrupted (Ctrl-C); {resume}", err=True)
        sys.exit(EXIT_INTERRUPTED)
