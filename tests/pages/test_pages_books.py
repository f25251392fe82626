"""The reconciliation page, server-side: per organisation the pass's facts and the days that
differ, each open difference with what differs, the fix and one button per action (posting its
key, with the token), the decided ones folded, "Reconcile now", the webhook note; a post with a
wrong token changes nothing; the dashboard's Books panel links here; the settings form's three
reconciliation fields."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.books_sample import GENERATED_AT, clean_report, sample_report
from support.ledger_helpers import Practice
from support.pages_books import open_practice, synced_books, text_of
from support.pages_world import ADMIN, STAFF, client_for, csrf_of

from pm_xero_plugin import plugin
from pm_xero_plugin.core.books import REPORT_META_KEY, BooksReport
from pm_xero_plugin.dashboard.books import NEVER_RECONCILED
from pm_xero_plugin.pages import settings_form as sf


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    with open_practice(tmp_path) as books:
        synced_books(books, invoices=1)
        books.drain()
        yield books


def keep(report: BooksReport) -> None:
    engine = plugin.get_engine()
    assert engine is not None
    engine.ledger.set_meta(REPORT_META_KEY, report.to_json())


def kept() -> str | None:
    engine = plugin.get_engine()
    assert engine is not None
    return engine.ledger.meta(REPORT_META_KEY)


def card(html: str, key: str) -> str:
    part = html[html.index(f'<article class="card difference" data-key="{key}"') :]
    return part[: part.index("</article>")]


def test_never_reconciled_says_so_and_offers_reconcile_now(practice: Practice) -> None:
    answer = client_for(practice.host).get("/books")
    assert answer.status_code == 200
    assert NEVER_RECONCILED in text_of(answer.text)
    assert 'action="http://testserver/actions/reconcile"' in answer.text
    assert ">Reconcile now</button>" in answer.text


def test_each_organisation_shows_its_facts_and_the_days_that_differ(practice: Practice) -> None:
    keep(sample_report())
    html = client_for(practice.host).get("/books").text
    text = text_of(html)
    assert f"Reconciled at {GENERATED_AT}: Not clean" in text
    sydney = html[html.index('data-tenant="T1"') : html.index('data-tenant="T2"')]
    said = text_of(sydney)
    assert "Sydney Vets" in said
    assert (
        "40 records checked; Xero read 2025-03-03T08:59:00+00:00; 14 of 1000 calls today; "
        "2 events pending." in said
    )
    assert "Not checked against Xero yet (the host's totals only): Card payout." in said
    days = re.findall(r'<tr data-day="([^"]+)" data-kind="([^"]+)">', sydney)
    assert days == [("2025-02-10", "invoice")], "the agreeing day and the one on its way are not"
    row = sydney[sydney.index('data-day="2025-02-10"') :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'class="num">([^<]*)<', row) == ["3", "330.00", "3", "210.00", "", ""]
    london = html[html.index('data-tenant="T2"') :]
    assert "Nothing open." in text_of(london)
    assert 'data-days="same"' in london


def test_each_open_difference_has_the_fix_and_one_button_per_action(practice: Practice) -> None:
    keep(sample_report())
    html = client_for(practice.host).get("/books").text
    voided = card(html, "12:voided_in_xero")
    text = text_of(voided)
    assert "Invoice INV-12 Ann Lee Voided in Xero" in text
    assert "Pet Manager: AUTHORISED, total 120.00 · Xero: VOIDED" in text
    assert "What to fix: void INV-12 in Pet Manager too" in text
    assert re.findall(r'action="([^"]+)"', voided) == ["http://testserver/actions/books_accept"]
    assert ">Accept Xero&#39;s version</button>" in voided
    assert 'name="key" value="12:voided_in_xero"' in voided
    assert 'name="next" value="/books"' in voided
    assert 'name="by"' not in voided, "who decided is the host's word on the visitor, not a form's"
    assert 'name="csrf" value="' in voided
    assert 'href="http://testserver/records/12"' in voided

    payment = card(html, "15:deleted_in_xero")
    assert re.findall(r'action="([^"]+)"', payment) == [
        "http://testserver/actions/books_resend",
        "http://testserver/actions/books_accept",
    ]
    assert ">Re-send ours</button>" in payment


def test_decided_ones_are_folded_without_buttons(practice: Practice) -> None:
    keep(sample_report())
    html = client_for(practice.host).get("/books").text
    folded = html[html.index('<details class="decided"') :]
    folded = folded[: folded.index("</details>")]
    assert "1 decided (listed until either side changes again)" in text_of(folded)
    assert (
        "Contact Ann Lee: Details changed – Xero's version accepted by cli at "
        "2025-03-02T10:00:00+00:00" in text_of(folded)
    )
    assert "<form" not in folded
    assert 'data-key="4:details_changed"' not in html.replace(
        '<li data-key="4:details_changed"', ""
    )


def test_a_clean_report_says_so(practice: Practice) -> None:
    keep(clean_report())
    text = text_of(client_for(practice.host).get("/books").text)
    assert "Clean the host's books and Xero's agree." in text


def test_webhooks_not_set_up_and_events_pending_are_said(practice: Practice) -> None:
    keep(sample_report())
    html = client_for(practice.host).get("/books").text
    assert 'data-webhooks="not_set_up"' in html
    assert "Webhooks are not set up (no PM_XERO_WEBHOOK_KEY)" in text_of(html)
    assert 'data-events-pending="2"' in html
    assert "2 change notifications from Xero wait to be handled" in text_of(html)


def test_a_post_with_a_wrong_token_is_refused_and_changes_nothing(practice: Practice) -> None:
    keep(sample_report())
    before = kept()
    client = client_for(practice.host)
    token = csrf_of(client.get("/books").text)
    for data in ({"csrf": token[::-1], "key": "12:voided_in_xero"}, {"key": "12:voided_in_xero"}):
        answer = client.post("/actions/books_accept", data={**data, "next": "/books"})
        assert answer.status_code == 403
    assert kept() == before


def test_staff_see_no_page(practice: Practice) -> None:
    keep(sample_report())
    assert client_for(practice.host, STAFF).get("/books").status_code == 403


def test_nothing_secret_is_in_the_page(practice: Practice, monkeypatch: pytest.MonkeyPatch) -> None:
    keep(sample_report())
    html = client_for(practice.host, ADMIN).get("/books").text
    for secret in ("access_token", "refresh_token", "client_secret", "webhook_key"):
        assert secret not in html


def test_the_dashboard_has_a_books_panel_linking_here(practice: Practice) -> None:
    html = client_for(practice.host).get("/dashboard").text
    panel = html[html.index('<section class="card books-panel"') :]
    panel = panel[: panel.index("</section>")]
    assert 'data-books="never"' in panel
    assert NEVER_RECONCILED in text_of(panel)
    assert 'href="http://testserver/books"' in panel

    keep(sample_report())
    html = client_for(practice.host).get("/dashboard").text
    panel = html[html.index('<section class="card books-panel"') :]
    panel = panel[: panel.index("</section>")]
    assert 'data-books="open"' in panel
    assert f"Reconciled with Xero at {GENERATED_AT}: 2 open differences" in text_of(panel)


def test_the_settings_form_reads_the_three_reconciliation_fields() -> None:
    saved = {"enabled": True, "rounding_tolerance": "0.02"}
    form = {"xero_changes": ["accept"], "reconcile_share": ["0.1"], "reconcile_hours": ["6"]}
    out = sf.settings_from_form(form, saved)
    assert (out["xero_changes"], out["reconcile_share"], out["reconcile_hours"]) == (
        "accept",
        "0.1",
        6,
    )
    blank = sf.settings_from_form(
        {"xero_changes": [""], "reconcile_share": [""], "reconcile_hours": [""]}, out
    )
    assert not {"xero_changes", "reconcile_share", "reconcile_hours"} & set(blank), (
        "left blank: the defaults"
    )
    assert sf.settings_from_form({"reconcile_hours": ["soon"]}, saved)["reconcile_hours"] == (
        "soon"
    ), "kept for the settings' check to name beside the field"
    assert "xero_changes" not in sf.settings_from_form({}, saved)


def test_the_settings_form_shows_report_as_the_default_and_what_each_choice_does() -> None:
    values = sf.books_values({})
    assert (values["xero_changes"], values["reconcile_share"], values["reconcile_hours"]) == (
        "report",
        "0.2",
        "24",
    )
    choices = {c.value: c.label for c in values["xero_changes_choices"]}
    assert list(choices) == ["report", "resend", "accept"]
    assert choices["report"].startswith("Report them (default)")
    assert "change nothing" in choices["report"]
    assert "undone" in choices["resend"]
    assert sf.books_values({"xero_changes": "resend", "reconcile_hours": 0})["reconcile_hours"] == (
        "0"
    )


def test_the_settings_page_shows_the_reconciliation_fields_and_saves_them(
    practice: Practice,
) -> None:
    client = client_for(practice.host)
    html = client.get("/settings").text
    section = html[html.index('<section class="card" id="books-settings">') :]
    section = section[: section.index("</section>")]
    assert re.findall(r'<option value="(\w+)"( selected)?', section) == [
        ("report", " selected"),
        ("resend", ""),
        ("accept", ""),
    ], "report is the default"
    assert "Report is the safe choice" in text_of(section)
    assert 'name="reconcile_share" value="0.2"' in section
    assert 'name="reconcile_hours" value="24"' in section
    assert 'href="http://testserver/books"' in section

    answer = client.post(
        "/settings",
        data={
            "csrf": csrf_of(html),
            "xero_changes": "resend",
            "reconcile_share": "0.1",
            "reconcile_hours": "6",
        },
    )
    assert answer.status_code == 303, text_of(answer.text)
    saved = practice.host.settings("xero")
    assert (saved["xero_changes"], saved["reconcile_share"], saved["reconcile_hours"]) == (
        "resend",
        "0.1",
        6,
    )
    html = client.get("/settings").text
    assert '<option value="resend" selected>' in html
    assert 'name="reconcile_hours" value="6"' in html


def test_who_decided_is_the_signed_in_admin_whatever_the_form_says(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_xero_plugin.pages import actions

    seen: list[dict[str, str]] = []

    class Done:
        message = "ok"

    def perform(engine: object, runtime: object, action: str, params: dict[str, str]) -> Done:
        seen.append(params)
        return Done()

    monkeypatch.setattr(actions, "perform", perform)
    client = client_for(practice.host)
    token = csrf_of(client.get("/books").text)
    data = {"csrf": token, "key": "12:voided_in_xero", "by": "Mallory", "next": "/books"}
    answer = client.post("/actions/books_accept", data=data)
    assert answer.status_code == 303
    assert seen == [{"key": "12:voided_in_xero", "by": ADMIN.name}]
