"""The Settings page without a browser: the chart's codes as choices, the host's save with each
error beside its field, what the form does not show kept, the host's switch, Resync accounts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.pages_practice import PagesPractice, pages_practice, posted, read_form
from support.pages_world import client_for, csrf_of

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.pages.settings_form import code_fields, errors_by_field, settings_from_form


@pytest.fixture
def practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PagesPractice]:
    yield from pages_practice(tmp_path, monkeypatch)


def connected(practice: PagesPractice, location_id: str = "loc-syd") -> str:
    tenant = practice.organisations[0]
    assert practice.connect(location_id, tenant).status_code == 303
    return tenant


def page(practice: PagesPractice, location_id: str = "loc-syd") -> str:
    answer = practice.client().get("/settings", params={"location": location_id})
    assert answer.status_code == 200
    return answer.text


def values(options: list[tuple[str, str]]) -> list[str]:
    return [value for value, _ in options if value]


def valid_form(practice: PagesPractice, tenant: str, html: str) -> dict[str, list[str]]:
    """The form as shown, with a fitting account chosen for every code that must be mapped."""
    form = read_form(html)
    changes = {
        f"account_codes.{tenant}.income.default": "200",
        f"account_codes.{tenant}.credit_notes": "200",
        f"account_codes.{tenant}.overpayments": "610",
        f"account_codes.{tenant}.rounding": "860",
    }
    for method in ("cash", "card", "eftpos", "bank_transfer", "stripe", "voucher"):
        changes[f"account_codes.{tenant}.payments.{method}"] = "090"
    body = posted(form.fields, changes)
    body["csrf"] = [csrf_of(html)]
    return body


def test_the_code_selects_offer_the_organisations_active_accounts_of_a_fitting_kind(
    practice: PagesPractice,
) -> None:
    tenant = connected(practice)
    options = read_form(page(practice)).options
    income = options[f"account_codes.{tenant}.income.default"]
    assert ("200", "200 – Sales") in income
    assert "206" not in values(income)  # archived in Xero
    assert "090" not in values(income)  # a bank account earns nothing
    payments = values(options[f"account_codes.{tenant}.payments.card"])
    assert {"090", "092", "093"} <= set(payments)  # banks, and a clearing account taking payments
    assert "200" not in payments
    assert "OUTPUT" in values(options[f"account_codes.{tenant}.tax_types.10"])


def test_every_field_has_a_label_and_the_buttons_are_named_as_the_browser_tests_expect(
    practice: PagesPractice,
) -> None:
    connected(practice)
    html = page(practice)
    form = read_form(html)
    for name in {n for n, _ in form.fields if n not in ("csrf", "location")}:
        assert f'<label for="{name}"' in html, name
    for button in ("Save settings", "Connect to Xero", "Disconnect", "Resync accounts"):
        assert f">{button}</button>" in html, button


def test_an_archived_code_comes_back_beside_its_field_with_validate_settings_message(
    practice: PagesPractice,
) -> None:
    tenant = connected(practice)
    html = page(practice)
    body = valid_form(practice, tenant, html)
    path = f"account_codes.{tenant}.income.boarding"
    body[path] = ["206"]
    wanted = settings_from_form(body, practice.host.settings("xero"))
    expected = [e for e in practice.engine.validate_settings(wanted) if e.startswith(path)]
    assert len(expected) == 1
    assert "archived" in expected[0]

    answer = practice.client().post("/settings", data=body)

    assert answer.status_code == 400
    beside = f'<span class="field-error" data-field="{path}">'
    assert beside + expected[0].split(": ", 1)[1] in answer.text.replace("&#39;", "'")
    shown = dict(read_form(answer.text).fields)
    assert shown[path] == "206"  # the admin's input is kept
    assert shown[f"account_codes.{tenant}.payments.cash"] == "090"
    assert "account_codes" not in practice.host.settings("xero")  # nothing saved


def test_a_message_for_no_field_on_the_page_is_shown_at_the_top() -> None:
    by_field, top = errors_by_field(
        [
            "prefixes.client: String does not match expected pattern.",
            "account_codes.T1.payments: map every payment method; missing: card",
            "start_date: data has already synced",
        ],
        {"prefixes.client", "account_codes.T1.payments"},
    )
    assert by_field == {
        "prefixes.client": ["String does not match expected pattern."],
        "account_codes.T1.payments": ["map every payment method; missing: card"],
    }
    assert top == ["start_date: data has already synced"]


def test_a_valid_save_reaches_the_hosts_settings_and_keeps_what_the_form_does_not_show(
    practice: PagesPractice,
) -> None:
    tenant = connected(practice)
    saved = practice.host.settings("xero")
    assert practice.host.save_plugin_settings("xero", {**saved, "start_date": "2025-01-01"}) == []
    html = page(practice)
    body = valid_form(practice, tenant, html)
    body[f"account_codes.{tenant}.income.grooming"] = ["203"]
    body["prefixes.invoice"] = ["PM-INV"]

    answer = practice.client().post("/settings", data=body)

    assert answer.status_code == 303, answer.text
    assert "said=Settings+saved" in answer.headers["location"] or (
        "said=Settings%20saved" in answer.headers["location"]
    )
    now: dict[str, Any] = practice.host.settings("xero")
    assert now["start_date"] == "2025-01-01"
    assert now["prefixes"]["invoice"] == "PM-INV"
    codes = now["account_codes"][tenant]
    assert codes["income"] == {"default": "200", "grooming": "203"}  # "use the default" left out
    assert codes["payments"]["stripe"] == "090"
    assert now["locations"]["loc-syd"] == {
        "tenant_id": tenant,
        "connection_enabled": True,
        "tracking_option": None,
    }
    assert practice.engine.settings.account_codes[tenant].rounding == "860"


def test_the_connection_checkbox_switches_the_locations_connection_off(
    practice: PagesPractice,
) -> None:
    tenant = connected(practice)
    body = valid_form(practice, tenant, page(practice))
    body["locations.loc-syd.connection_enabled"] = ["0"]  # the box unticked: its hidden 0 alone
    assert practice.client().post("/settings", data=body).status_code == 303
    assert practice.host.settings("xero")["locations"]["loc-syd"]["connection_enabled"] is False


def test_a_bad_prefix_is_shown_beside_the_prefix(practice: PagesPractice) -> None:
    html = page(practice)
    body = posted(read_form(html).fields, {"prefixes.client": "C 1"})
    body["csrf"] = [csrf_of(html)]
    answer = practice.client().post("/settings", data=body)
    assert answer.status_code == 400
    assert '<span class="field-error" data-field="prefixes.client">' in answer.text
    assert 'value="C 1"' in answer.text


def test_the_switch_flips_the_hosts_plugin_switch(practice: PagesPractice) -> None:
    client = practice.client()
    html = client.get("/settings").text
    assert ">Switch off</button>" in html
    off = client.post("/settings/switch", data={"csrf": csrf_of(html), "enabled": "0"})
    assert off.status_code == 303
    assert practice.host.is_enabled("xero") is False
    html = client.get("/settings").text
    assert ">Switch on</button>" in html
    on = client.post("/settings/switch", data={"csrf": csrf_of(html), "enabled": "1"})
    assert on.status_code == 303
    assert practice.host.is_enabled("xero") is True


def test_resync_accounts_reads_the_chart_again(practice: PagesPractice) -> None:
    tenant = connected(practice)
    engine = practice.engine
    engine.ledger.store_chart(
        tenant,
        "accounts",
        [{"Code": "777", "Name": "Stale", "Type": "REVENUE", "Status": "ACTIVE"}],
    )
    html = page(practice)
    assert values(read_form(html).options[f"account_codes.{tenant}.income.default"]) == ["777"]
    answer = practice.client().post(
        "/settings/resync", data={"csrf": csrf_of(html), "tenant_id": tenant, "location": "loc-syd"}
    )
    assert answer.status_code == 303
    fresh = values(read_form(page(practice)).options[f"account_codes.{tenant}.income.default"])
    assert "200" in fresh
    assert "777" not in fresh


def test_with_the_add_on_off_at_start_the_page_still_offers_the_switch(
    tmp_path: Path,
) -> None:
    host = RefHost(
        tmp_path / "pm",
        clock=ManualClock(datetime(2025, 3, 3, tzinfo=UTC)),
        load_entrypoints=False,
    )
    host.register(plugin, name="xero")
    host.disable_plugin("xero")
    host.start()
    try:
        client = client_for(host)
        html = client.get("/settings").text
        assert ">Switch on</button>" in html
        assert "switch it on to set it up" in html
        answer = client.post("/settings/switch", data={"csrf": csrf_of(html), "enabled": "1"})
        assert answer.status_code == 303
        assert host.is_enabled("xero") is True
    finally:
        host.stop()
        host.close()


def test_a_saved_code_is_kept_as_it_is_while_the_chart_was_never_read() -> None:
    fields = {f.path: f for f in code_fields("T1", {"credit_notes": "201"}, None)}
    kept = fields["account_codes.T1.credit_notes"]
    assert kept.value == "201"
    assert [c.value for c in kept.choices] == ["201"]
    assert kept.note == ""
    fields = {f.path: f for f in code_fields("T1", {"credit_notes": "201"}, [])}
    assert "not in this organisation's chart" in fields["account_codes.T1.credit_notes"].note


def test_create_tracking_options_makes_one_per_location_in_xero_and_chooses_them(
    practice: PagesPractice,
) -> None:
    assert practice.host.save_plugin_settings("xero", {"organisation_mode": "shared"}) == []
    tenant = practice.organisations[0]
    assert practice.connect("loc-syd", tenant).status_code == 303
    html = page(practice)
    answer = practice.client().post(
        "/settings/tracking",
        data={
            "csrf": csrf_of(html),
            "tenant_id": tenant,
            "location": "loc-syd",
            "tracking_category_name": "Site",
        },
    )
    assert answer.status_code == 303
    in_xero = practice.runtime.client.tracking_categories(tenant, "loc-syd")
    site = next(c for c in in_xero if c["Name"] == "Site")
    assert {o["Name"] for o in site["Options"]} == {"Sydney", "Melbourne", "Brisbane"}
    saved = practice.host.settings("xero")
    assert saved["tracking_category"] == "Site"
    assert saved["locations"]["loc-mel"]["tracking_option"] == "Melbourne"
    options = read_form(page(practice, "loc-mel")).options["locations.loc-mel.tracking_option"]
    assert "Melbourne" in values(options)


def test_shared_mode_over_two_organisations_is_refused_beside_the_mode(
    practice: PagesPractice,
) -> None:
    first, second = practice.organisations
    practice.connect("loc-syd", first)
    practice.connect("loc-mel", second)
    html = page(practice)
    body = posted(read_form(html).fields, {"organisation_mode": "shared"})
    body["csrf"] = [csrf_of(html)]
    answer = practice.client().post("/settings", data=body)
    assert answer.status_code == 400
    assert '<span class="field-error" data-field="tenant_id">shared mode uses one organisation' in (
        answer.text
    )
    assert practice.host.settings("xero").get("organisation_mode", "per_location") == "per_location"


def test_the_tab_says_whether_the_organisations_codes_are_mapped_and_checked(
    practice: PagesPractice,
) -> None:
    tenant = connected(practice)
    assert "not mapped yet" in page(practice)
    body = valid_form(practice, tenant, page(practice))
    assert practice.client().post("/settings", data=body).status_code == 303
    assert "checked against the chart" in page(practice)


def test_the_money_flows_codes_offer_only_fitting_accounts_and_not_used_is_left_out(
    practice: PagesPractice,
) -> None:
    tenant = connected(practice)
    html = page(practice)
    options = read_form(html).options
    fees = values(options[f"account_codes.{tenant}.card_fees"])
    assert "406" in fees
    assert not {"090", "200", "094", "610"} & set(fees)  # expenses only
    assert values(options[f"account_codes.{tenant}.payout_bank"]) == ["090", "091", "092"]
    assert values(options[f"account_codes.{tenant}.vouchers"]) == ["095"]  # takes payments
    assert {"094", "095"} <= set(values(options[f"account_codes.{tenant}.deposits"]))
    body = valid_form(practice, tenant, html)  # every optional code left on "Not used"
    assert practice.client().post("/settings", data=body).status_code == 303
    saved = practice.host.settings("xero")["account_codes"][tenant]
    assert not {"deposits", "vouchers", "card_fees", "payout_bank"} & set(saved)
    body[f"account_codes.{tenant}.card_fees"] = ["406"]
    body[f"account_codes.{tenant}.payout_bank"] = ["090"]
    body[f"account_codes.{tenant}.vouchers"] = ["095"]
    body[f"account_codes.{tenant}.payments.voucher"] = ["095"]
    answer = practice.client().post("/settings", data=body)
    assert answer.status_code == 303, answer.text
    saved = practice.host.settings("xero")["account_codes"][tenant]
    assert (saved["card_fees"], saved["payout_bank"], saved["vouchers"]) == ("406", "090", "095")
    assert practice.engine.settings is not None
    assert practice.engine.settings.account_codes[tenant].card_fees == "406"


def test_a_voucher_method_not_drawing_on_the_voucher_account_is_refused_beside_it(
    practice: PagesPractice,
) -> None:
    tenant = connected(practice)
    body = valid_form(practice, tenant, page(practice))
    body[f"account_codes.{tenant}.vouchers"] = ["095"]  # payments.voucher stays 090
    answer = practice.client().post("/settings", data=body)
    assert answer.status_code == 400
    assert f'data-field="account_codes.{tenant}.payments.voucher"' in answer.text


def test_the_money_flows_prefixes_are_on_the_page_and_saved(practice: PagesPractice) -> None:
    tenant = connected(practice)
    body = valid_form(practice, tenant, page(practice))
    assert body["prefixes.deposit"] == ["DEP"]
    body["prefixes.payout"] = ["STRIPE-PO"]
    assert practice.client().post("/settings", data=body).status_code == 303
    saved = practice.host.settings("xero")["prefixes"]
    assert (saved["deposit"], saved["refund"], saved["payout"]) == ("DEP", "RF", "STRIPE-PO")
