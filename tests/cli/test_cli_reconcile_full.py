"""``pm-xero reconcile --full``: it asks the pass for a read of all of Xero's books (the one that
also finds documents Xero no longer has); it is said in the help, and with ``--no-read`` it is
refused in one line."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from support.cli_practice import PracticeDir, run_verb

from pm_xero_plugin.cli.main import main
from pm_xero_plugin.core.books import BooksReport
from pm_xero_plugin.sync.books import XeroBooks


@pytest.fixture
def xero_app(practice: PracticeDir, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Xero app nothing answers for (the practice's organisations are not connected)."""
    monkeypatch.setenv("PM_XERO_CLIENT_ID", "client")
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", "secret")
    monkeypatch.setenv("PM_XERO_URL", "http://127.0.0.1:9")


@pytest.mark.usefixtures("xero_app")
@pytest.mark.parametrize(("args", "full"), [((), False), (("--full",), True)])
def test_full_is_passed_to_the_pass(
    practice: PracticeDir, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], full: bool
) -> None:
    """The practice's organisations have no stored tokens (reading them needs a served Xero,
    which tests/sync/test_books_read_resume.py does for the full read itself), so the real pass
    runs and what the verb asked of it is watched on the way through."""
    asked: list[dict[str, Any]] = []
    real = XeroBooks.run_pass

    def watched(self: XeroBooks, **kwargs: Any) -> BooksReport:
        asked.append(kwargs)
        return real(self, **kwargs)

    monkeypatch.setattr(XeroBooks, "run_pass", watched)

    code, _out = run_verb(practice, "reconcile", *args)

    assert code == 1  # not connected: not read completely
    assert [(a["read"], a["full"]) for a in asked] == [(True, full)]


def test_full_and_no_read_together_are_one_line_and_exit_2(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "reconcile", "--full", "--no-read")

    assert code == 2
    assert out.strip() == (
        "pm-xero reconcile: --full reads Xero's books and --no-read does not: choose one"
    )


def test_the_help_says_what_full_reads() -> None:
    result = CliRunner().invoke(main, ["reconcile", "--help"], terminal_width=200)

    assert result.exit_code == 0
    assert (
        "--full  read all of Xero's books, not only what changed (also finds documents Xero "
        "no longer has)"
    ) in " ".join(result.output.split()).replace("--full read", "--full  read")
